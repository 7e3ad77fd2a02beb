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
from coinswarm.exchanges.coinbase.market_feed import CandleFeed, TickerFeed
from coinswarm.exchanges.coinbase.order_state import OrderAlert, OrderState, OrderView
from coinswarm.exchanges.coinbase.order_sync import OrderSource, OrderSync
from coinswarm.exchanges.coinbase.ratelimit import TokenBucket
from coinswarm.exchanges.coinbase.rest import RetryPolicy
from coinswarm.exchanges.coinbase.tokens import TokenSigner
from coinswarm.exchanges.coinbase.websocket import Backoff, CoinbaseStream, StreamConfig
from coinswarm.exchanges.coinbase.ws_events import StreamEvent, StreamState

__all__ = [
    "COINBASE_URL",
    "Backoff",
    "CandleFeed",
    "CdpCredentials",
    "CoinbaseAdapter",
    "CoinbaseConfig",
    "CoinbaseKeyError",
    "CoinbaseStream",
    "ExchangeAuthError",
    "ExchangeDataError",
    "ExchangeRequestError",
    "ExchangeUnavailableError",
    "KeyScopes",
    "OrderAlert",
    "OrderNotFoundError",
    "OrderOutcomeUnknownError",
    "OrderSource",
    "OrderState",
    "OrderSync",
    "OrderView",
    "RetryPolicy",
    "StreamConfig",
    "StreamEvent",
    "StreamState",
    "TickerFeed",
    "TokenBucket",
    "TokenSigner",
    "UnsafeKeyError",
    "connect",
    "load_credentials",
    "parse_private_key",
]
