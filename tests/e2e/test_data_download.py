"""`coinswarm data download` as a user runs it, against the local exchange on 127.0.0.1.

The local exchange serves Coinbase's public candle route (at most 350 candles a request), so
ccxt's coinbase class pages through it; the file is then backtested by `coinswarm backtest`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from cli_harness import coinswarm
from coinswarm.backtest.engine import BacktestConfig, run_backtest
from coinswarm.data import format_timestamp, load_bars, synthetic_market
from coinswarm.domain.bar import BarSeries
from coinswarm.domain.instrument import Instrument
from coinswarm.exchanges.local_coinbase import (
    KeyRing,
    RunningServer,
    Venue,
    create_app,
    serve_in_thread,
)
from coinswarm.strategies.sma_cross import SmaCross, SmaCrossConfig

BARS = 800  # more than two pages of ccxt's 300


@pytest.fixture(scope="module")
def market() -> BarSeries:
    return synthetic_market(instrument="BTC-USD", bars=BARS, seed=5, start_price=30_000.0)


@pytest.fixture(scope="module")
def server(market: BarSeries) -> Iterator[RunningServer]:
    instrument = Instrument(symbol="BTC-USD", base="BTC", quote="USD")
    venue = Venue({"BTC-USD": instrument}, [market], balances={"USD": Decimal(1)}, reveal=BARS)
    with serve_in_thread(create_app(venue, KeyRing())) as running:
        yield running


def download(server: RunningServer, market: BarSeries, out: Path, *extra: str) -> str:
    since = format_timestamp(int(market.ts[0]))
    until = format_timestamp(int(market.ts[-1]) + market.interval_ns)
    done = coinswarm(
        "data", "download", "coinbase", "BTC/USD", "1h",
        "--since", since, "--until", until, "--url", server.base_url, "--out", str(out), *extra,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_download_pages_through_the_local_exchange_then_backtests(
    tmp_path: Path, server: RunningServer, market: BarSeries
) -> None:
    out = tmp_path / "BTC_USD-1h.csv.gz"
    printed = download(server, market, out)
    assert f"{BARS} bars ({BARS} new, " in printed
    series = load_bars(out)
    assert series.instrument == "BTC-USD"
    assert series.ts.tolist() == market.ts.tolist()
    for column in ("open", "high", "low", "close", "volume"):
        assert getattr(series, column).tolist() == getattr(market, column).tolist(), column
    again = download(server, market, out)  # a rerun finds nothing new and changes nothing
    assert f"{BARS} bars (0 new, " in again
    assert load_bars(out).ts.tolist() == market.ts.tolist()
    backtest = coinswarm(
        "backtest", "--data", str(out), "--json", "--quiet", "--runs-dir", str(tmp_path / "runs")
    )
    assert backtest.returncode == 0, backtest.stderr
    summary = json.loads(backtest.stdout)
    # The downloaded file trades exactly as the bars the exchange served, run in this process
    # with the command's defaults (sma-cross 20/50, 60 bps, 10,000 in cash, no limits).
    served = run_backtest([market], SmaCross(SmaCrossConfig(fast=20, slow=50)), BacktestConfig())
    assert len(served.trades) > 0
    assert (summary["bars"], summary["orders"], summary["trades"]) == (
        BARS,
        len(served.orders),
        len(served.trades),
    )
    assert summary["final_equity"] == pytest.approx(float(served.final_equity), rel=1e-9)
    assert summary["fees_paid"] == pytest.approx(float(served.fees_paid), rel=1e-9)


def test_parquet_by_extension(tmp_path: Path, server: RunningServer, market: BarSeries) -> None:
    out = tmp_path / "BTC_USD-1h.parquet"
    download(server, market, out)
    assert load_bars(out).close.tolist() == market.close.tolist()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("ETH/USD", "1h"), "lists no market 'ETH/USD'"),
        (("BTC/USD", "4h"), "TIMEFRAME: coinbase offers"),
        (("BTC/USD", "1h", "--since", "yesterday"), "--since: expected a UTC date"),
    ],
)
def test_mistakes_are_one_error_line_and_exit_2(
    tmp_path: Path, server: RunningServer, args: tuple[str, ...], words: str
) -> None:
    out = tmp_path / "x.csv"
    since = () if "--since" in args else ("--since", "2022-01-01")
    done = coinswarm(
        "data", "download", "coinbase", *args, *since, "--url", server.base_url, "--out", str(out)
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ")
    assert words in lines[0]
    assert not out.exists()
