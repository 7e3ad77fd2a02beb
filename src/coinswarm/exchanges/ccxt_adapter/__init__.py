"""The exchange port over ccxt: any exchange ccxt supports, or a self-hosted one by URL."""

from __future__ import annotations

from coinswarm.exchanges.ccxt_adapter.adapter import (
    CLIENT_ID_PARAMS,
    CcxtAdapter,
    CcxtAdapterConfig,
)
from coinswarm.exchanges.ccxt_adapter.errors import (
    CcxtDataError,
    CcxtExchangeError,
    CcxtOrderOutcomeUnknownError,
    CcxtUnavailableError,
)
from coinswarm.exchanges.ccxt_adapter.factory import ExchangeSpec, make_exchange

__all__ = [
    "CLIENT_ID_PARAMS",
    "CcxtAdapter",
    "CcxtAdapterConfig",
    "CcxtDataError",
    "CcxtExchangeError",
    "CcxtOrderOutcomeUnknownError",
    "CcxtUnavailableError",
    "ExchangeSpec",
    "make_exchange",
]
