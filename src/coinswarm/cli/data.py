"""`coinswarm data ...`: look at a bar file, or download one from an exchange through ccxt."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import ccxt  # type: ignore[import-untyped]  # ccxt ships no type information
import typer

from coinswarm.cli._shared import UsageError, bound, data_app, fail, stdout
from coinswarm.data import data_file_name, inspect_series, load_bars
from coinswarm.data.download import DownloadPlan, download_candles, instrument_of
from coinswarm.domain.errors import CoinswarmError
from coinswarm.exchanges.ccxt_adapter import ExchangeSpec, make_exchange


@data_app.command("inspect")
def data_inspect(
    file: Annotated[Path, typer.Argument(help="OHLCV CSV/Parquet file")],
    top: Annotated[int, typer.Option(help="how many of the largest moves to list")] = 10,
) -> None:
    """Print a file's coverage, its gaps and its largest one-bar moves."""
    try:
        inspection = inspect_series(load_bars(file), top=top)
    except (CoinswarmError, OSError) as error:
        raise fail(error) from None
    for line in inspection.render_lines():
        stdout.print(line, markup=False, highlight=False)


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


@data_app.command("download")
def data_download(
    exchange_id: Annotated[str, typer.Argument(metavar="EXCHANGE", help="ccxt id: coinbase")],
    pair: Annotated[str, typer.Argument(help="BTC/USD, BTC-USD or BTC_USD")],
    timeframe: Annotated[str, typer.Argument(help="bar interval: 1m, 5m, 15m, 1h, 4h, 1d")],
    *,
    since: Annotated[str, typer.Option(help="first bar, a UTC date like 2021-01-01")],
    until: Annotated[str | None, typer.Option(help="stop before this UTC date")] = None,
    out: Annotated[
        Path | None, typer.Option(help=".csv, .csv.gz or .parquet (default BTC_USD-1h.csv.gz)")
    ] = None,
    url: Annotated[
        str | None, typer.Option(help="a self-hosted or local exchange: http(s)://host:port")
    ] = None,
    ca_file: Annotated[Path | None, typer.Option(help="CA certificate to trust for --url")] = None,
) -> None:
    """Download candles into a file `coinswarm backtest --data` reads; a rerun resumes it."""
    try:
        exchange = make_exchange(ExchangeSpec(exchange_id=exchange_id, url=url, ca_file=ca_file))
        plan = _plan(exchange, pair=pair, timeframe=timeframe, since=since, until=until, out=out)
        result = download_candles(exchange, plan)
    except (CoinswarmError, ValueError, OSError, ccxt.BaseError) as error:
        raise fail(error) from None
    stdout.print(
        f"{result.path}: {result.kept + result.added} bars ({result.added} new, "
        f"{result.pages} pages)",
        markup=False,
        highlight=False,
    )
