"""The work behind `coinswarm data download`, kept apart because ccxt takes long to import."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import ccxt  # type: ignore[import-untyped]  # ccxt ships no type information

from coinswarm.cli._shared import UsageError, bound
from coinswarm.data import data_file_name
from coinswarm.data.download import DownloadPlan, DownloadResult, download_candles, instrument_of
from coinswarm.exchanges.ccxt_adapter import ExchangeSpec, make_exchange
from coinswarm.exchanges.network_errors import describe, host_in

__all__ = ["CcxtError", "download", "failure"]

CcxtError: type[Exception] = ccxt.BaseError
"""ccxt's own errors, which the command reports as one line like ours."""


def download(
    *,
    exchange_id: str,
    pair: str,
    timeframe: str,
    since: str,
    until: str | None,
    out: Path | None,
    url: str | None,
    ca_file: Path | None,
) -> DownloadResult:
    """Download the candles the command asks for; see `data.download.download_candles`."""
    exchange = make_exchange(ExchangeSpec(exchange_id=exchange_id, url=url, ca_file=ca_file))
    plan = _plan(exchange, pair=pair, timeframe=timeframe, since=since, until=until, out=out)
    return download_candles(exchange, plan)


def failure(error: BaseException, url: str | None) -> str:
    """Return a ccxt error on one line, with its cause: ccxt's own message names only the
    request ("coinbase GET https://..."), and the DNS or TLS failure under it is what to fix."""
    host = host_in(str(error), (urlsplit(url).hostname if url else None) or "the exchange")
    return describe(error, host) or str(error) or type(error).__name__


def _ccxt_symbol(exchange: Any, pair: str) -> str:
    """Return the exchange's symbol for a pair given as BTC/USD, BTC-USD or BTC_USD."""
    wanted = instrument_of(pair).replace("-", "/")
    markets = exchange.load_markets()
    if wanted not in markets:
        known = ", ".join(sorted(markets)[:10])
        msg = f"PAIR: {exchange.id} lists no market {wanted!r} (some it lists: {known})"
        raise UsageError(msg)
    return wanted


def _check_timeframe(exchange: Any, timeframe: str) -> None:
    offered = dict(exchange.timeframes or {})
    if offered and timeframe not in offered:
        msg = f"TIMEFRAME: {exchange.id} offers {', '.join(offered)}; found {timeframe!r}"
        raise UsageError(msg)


def _plan(
    exchange: Any, *, pair: str, timeframe: str, since: str, until: str | None, out: Path | None
) -> DownloadPlan:
    since_ns = bound(since, "--since")
    assert since_ns is not None  # --since is required
    _check_timeframe(exchange, timeframe)
    symbol = _ccxt_symbol(exchange, pair)
    target = out or Path(data_file_name(instrument_of(pair), timeframe))
    return DownloadPlan(
        symbol=symbol,
        timeframe=timeframe,
        since_ns=since_ns,
        until_ns=bound(until, "--until"),
        out=target,
        retry_on=(ccxt.NetworkError,),
    )
