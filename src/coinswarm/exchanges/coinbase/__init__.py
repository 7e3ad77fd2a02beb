"""The Coinbase Advanced Trade REST adapter: the exchange port for the real Coinbase.

Build one with `connect(load_credentials(), CoinbaseConfig(...))`; call
`check_permissions(live=True)` before trading live.
"""

from __future__ import annotations

from coinswarm.exchanges.coinbase.adapter import CoinbaseAdapter, KeyScopes
from coinswarm.exchanges.coinbase.errors import (
    CoinbaseKeyError,
    ExchangeAuthError,
    ExchangeDataError,
    ExchangeRequestError,
    ExchangeUnavailableError,
    OrderNotFoundError,
    OrderOutcomeUnknownError,
    UnsafeKeyError,
)
from coinswarm.exchanges.coinbase.factory import COINBASE_URL, CoinbaseConfig, connect
from coinswarm.exchanges.coinbase.keys import CdpCredentials, load_credentials, parse_private_key
from coinswarm.exchanges.coinbase.ratelimit import TokenBucket
from coinswarm.exchanges.coinbase.rest import RetryPolicy
from coinswarm.exchanges.coinbase.tokens import TokenSigner

__all__ = [
    "COINBASE_URL",
    "CdpCredentials",
    "CoinbaseAdapter",
    "CoinbaseConfig",
    "CoinbaseKeyError",
    "ExchangeAuthError",
    "ExchangeDataError",
    "ExchangeRequestError",
    "ExchangeUnavailableError",
    "KeyScopes",
    "OrderNotFoundError",
    "OrderOutcomeUnknownError",
    "RetryPolicy",
    "TokenBucket",
    "TokenSigner",
    "UnsafeKeyError",
    "connect",
    "load_credentials",
    "parse_private_key",
]
