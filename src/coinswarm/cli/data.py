"""`coinswarm data ...`: look at a bar file, or download one from an exchange through ccxt."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from coinswarm.cli._shared import data_app, fail, stdout
from coinswarm.domain.errors import CoinswarmError


@data_app.command("inspect")
def data_inspect(
    file: Annotated[Path, typer.Argument(help="OHLCV CSV/Parquet file")],
    top: Annotated[int, typer.Option(help="how many of the largest moves to list")] = 10,
) -> None:
    """Print a file's coverage, its gaps and its largest one-bar moves."""
    from coinswarm.data import inspect_series, load_bars  # noqa: PLC0415 - polars

    try:
        inspection = inspect_series(load_bars(file), top=top)
    except (CoinswarmError, OSError) as error:
        raise fail(error) from None
    for line in inspection.render_lines():
        stdout.print(line, markup=False, highlight=False)


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
    from coinswarm.cli import _download  # noqa: PLC0415 - ccxt takes long to import

    try:
        result = _download.download(
            exchange_id=exchange_id,
            pair=pair,
            timeframe=timeframe,
            since=since,
            until=until,
            out=out,
            url=url,
            ca_file=ca_file,
        )
    except (CoinswarmError, ValueError, OSError, _download.CcxtError) as error:
        raise fail(error) from None
    stdout.print(
        f"{result.path}: {result.kept + result.added} bars ({result.added} new, "
        f"{result.pages} pages)",
        markup=False,
        highlight=False,
    )
