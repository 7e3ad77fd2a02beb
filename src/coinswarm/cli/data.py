"""`coinswarm data ...`: look at a bar file, resample it, or download one through ccxt."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from coinswarm.cli._shared import UsageError, data_app, fail, stdout
from coinswarm.domain.errors import CoinswarmError

PairOption = Annotated[
    str | None,
    typer.Option(help="the instrument, e.g. BTC-USDT, for a file whose name does not say it"),
]


def _pair(text: str | None) -> str | None:
    """Return `--pair` as an instrument name (BTC/USDT, btc_usdt -> BTC-USDT)."""
    from coinswarm.data.download import instrument_of  # noqa: PLC0415 - keep start-up light

    if text is None:
        return None
    try:
        return instrument_of(text)
    except ValueError as error:
        raise UsageError(f"--{error}") from None


@data_app.command("inspect")
def data_inspect(
    file: Annotated[Path, typer.Argument(help="OHLCV CSV/Parquet file")],
    top: Annotated[int, typer.Option(help="how many of the largest moves to list", min=0)] = 10,
    pair: PairOption = None,
) -> None:
    """Print a file's coverage, its gaps and its largest one-bar moves."""
    from coinswarm.data import inspect_series, load_bars  # noqa: PLC0415 - polars

    try:
        inspection = inspect_series(load_bars(file, instrument=_pair(pair)), top=top)
    except (CoinswarmError, OSError) as error:
        raise fail(error) from None
    for line in inspection.render_lines():
        stdout.print(line, markup=False, highlight=False, soft_wrap=True)


@data_app.command("resample")
def data_resample(
    file: Annotated[Path, typer.Argument(help="OHLCV CSV/Parquet file")],
    *,
    to: Annotated[str, typer.Option(help="the longer bar interval: 15m, 1h, 4h or 1d")],
    out: Annotated[
        Path | None,
        typer.Option(help="where to write (default: beside FILE, named like BTC_USDT-4h.csv.gz)"),
    ] = None,
    pair: PairOption = None,
    force: Annotated[bool, typer.Option(help="replace --out if it exists")] = False,
) -> None:
    """Write FILE in longer bars: first open, highest high, lowest low, last close, volume summed.

    Bars open on UTC boundaries (4h at 00:00, 04:00, ...; 1d at midnight). A bucket with no
    source bar gives no bar; an unfinished last bucket (the data ends inside it) is dropped.
    """
    from coinswarm.data.resample_file import plan_resample, write_resampled  # noqa: PLC0415

    try:
        plan = plan_resample(file, to=to, out=out, pair=_pair(pair), force=force)
        written = write_resampled(plan)
    except (CoinswarmError, OSError) as error:
        raise fail(error) from None
    for line in written.render_lines():
        stdout.print(line, markup=False, highlight=False, soft_wrap=True)


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
    except _download.CcxtError as error:
        raise fail(UsageError(_download.failure(error, url))) from None
    except (CoinswarmError, ValueError, OSError) as error:
        raise fail(error) from None
    stdout.print(
        f"{result.path}: {result.kept + result.added} bars ({result.added} new, "
        f"{result.pages} pages)",
        markup=False,
        highlight=False,
    )
