"""`download_candles` over a fake exchange: paging, gaps, rate limits, retries, resume, validation.

The fake is a real implementation of ccxt's `fetch_ohlcv` over a list of candles (first
`limit` candles at or after `since`), not a mock; it can be told to fail after some pages.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coinswarm.data import load_bars
from coinswarm.data.download import DownloadPlan, download_candles, instrument_of
from coinswarm.domain.clock import HistoricalClock
from coinswarm.domain.errors import DataError

HOUR_MS = 3_600_000
HOUR_NS = HOUR_MS * 1_000_000
START_MS = 1_640_995_200_000  # 2022-01-01T00:00:00Z


class DownloadKilledError(Exception):
    """The download process died (a kill, a lost network) in the middle."""


class FlakyNetworkError(Exception):
    """A retryable error, like ccxt's NetworkError."""


class FakeExchange:
    """ccxt's fetch_ohlcv over a fixed list of candles."""

    def __init__(
        self,
        candles: list[list[float]],
        *,
        fail_after_pages: int | None = None,
        flaky: int = 0,
    ) -> None:
        self.candles = candles
        self.calls: list[tuple[int | None, int | None]] = []
        self.fail_after_pages = fail_after_pages
        self.flaky = flaky

    def fetch_ohlcv(
        self,
        symbol: str,
        timeframe: str = "1m",
        since: int | None = None,
        limit: int | None = None,
    ) -> list[list[float]]:
        assert (symbol, timeframe) == ("BTC/USD", "1h")
        if self.flaky:
            self.flaky -= 1
            raise FlakyNetworkError("connection reset")
        if self.fail_after_pages is not None and len(self.calls) >= self.fail_after_pages:
            raise DownloadKilledError
        self.calls.append((since, limit))
        after = [c for c in self.candles if since is None or c[0] >= since]
        return [list(c) for c in after[: limit or 500]]


def candles(count: int, *, skip: frozenset[int] = frozenset()) -> list[list[float]]:
    rows = []
    for i in range(count):
        if i in skip:
            continue
        price = 100.0 + i * 0.25
        rows.append(
            [START_MS + i * HOUR_MS, price, price + 1.5, price - 1.0, price + 0.5, 10.0 + i]
        )
    return rows


def plan(out: Path, **options: object) -> DownloadPlan:
    values: dict[str, object] = {
        "symbol": "BTC/USD",
        "timeframe": "1h",
        "since_ns": START_MS * 1_000_000,
        "out": out,
        "page_limit": 7,
        "checkpoint_pages": 1,
    }
    values.update(options)
    return DownloadPlan(**values)  # type: ignore[arg-type]


def far_future() -> HistoricalClock:
    return HistoricalClock((START_MS + 10_000 * HOUR_MS) * 1_000_000)


def test_pages_through_every_candle_and_writes_what_the_loader_reads(tmp_path: Path) -> None:
    exchange = FakeExchange(candles(50))
    out = tmp_path / "BTC_USD-1h.csv"
    result = download_candles(exchange, plan(out), clock=far_future(), sleep=lambda _: None)
    series = load_bars(out)
    assert series.instrument == "BTC-USD"
    assert len(series) == 50 == result.added
    assert [int(t) // 1_000_000 for t in series.ts] == [c[0] for c in candles(50)]
    assert series.close.tolist() == [c[4] for c in candles(50)]
    # Each page starts one interval after the last bar of the one before.
    sinces = [since for since, _ in exchange.calls]
    assert sinces[:3] == [START_MS, START_MS + 7 * HOUR_MS, START_MS + 14 * HOUR_MS]
    assert all(limit == 7 for _, limit in exchange.calls)


def test_until_is_exclusive_and_the_bar_still_forming_is_left_out(tmp_path: Path) -> None:
    exchange = FakeExchange(candles(50))
    out = tmp_path / "a.csv"
    until = (START_MS + 20 * HOUR_MS) * 1_000_000
    download_candles(exchange, plan(out, until_ns=until), clock=far_future(), sleep=lambda _: None)
    assert len(load_bars(out, instrument="BTC-USD")) == 20
    # Now is 30.5 hours in: the bar that opened at hour 30 has not closed yet.
    now = HistoricalClock((START_MS + 30 * HOUR_MS + HOUR_MS // 2) * 1_000_000)
    other = tmp_path / "b.csv"
    download_candles(FakeExchange(candles(50)), plan(other), clock=now, sleep=lambda _: None)
    series = load_bars(other, instrument="BTC-USD")
    assert int(series.ts[-1]) == (START_MS + 29 * HOUR_MS) * 1_000_000


def test_gaps_stay_gaps_and_an_empty_page_moves_the_window_on(tmp_path: Path) -> None:
    missing = frozenset(range(10, 30))  # a 20-hour hole, wider than a page
    exchange = FakeExchange(candles(60, skip=missing))
    out = tmp_path / "BTC_USD-1h.csv.gz"
    until = (START_MS + 60 * HOUR_MS) * 1_000_000
    download_candles(exchange, plan(out, until_ns=until), clock=far_future(), sleep=lambda _: None)
    series = load_bars(out)
    assert len(series) == 40
    assert [int(t) // 1_000_000 for t in series.ts] == [c[0] for c in exchange.candles]


def test_pauses_between_pages_and_retries_network_errors(tmp_path: Path) -> None:
    slept: list[float] = []
    exchange = FakeExchange(candles(21), flaky=2)
    out = tmp_path / "BTC_USD-1h.csv"
    options = {"pause_s": 0.25, "retry_on": (FlakyNetworkError,), "backoff_s": 1.0}
    until = (START_MS + 21 * HOUR_MS) * 1_000_000
    download_candles(
        exchange, plan(out, until_ns=until, **options), clock=far_future(), sleep=slept.append
    )
    assert slept == [1.0, 2.0, 0.25, 0.25]  # two backoffs, then one pause between each page
    assert len(load_bars(out)) == 21


def test_a_network_error_beyond_the_attempts_is_raised(tmp_path: Path) -> None:
    exchange = FakeExchange(candles(5), flaky=10)
    with pytest.raises(FlakyNetworkError):
        download_candles(
            exchange,
            plan(tmp_path / "x.csv", retry_on=(FlakyNetworkError,), attempts=3),
            clock=far_future(),
            sleep=lambda _: None,
        )


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz", ".parquet"])
def test_an_interrupted_download_resumes_to_the_same_bytes(tmp_path: Path, suffix: str) -> None:
    whole = tmp_path / f"whole{suffix}"
    until = (START_MS + 100 * HOUR_MS) * 1_000_000
    download_candles(
        FakeExchange(candles(100)),
        plan(whole, until_ns=until),
        clock=far_future(),
        sleep=lambda _: None,
    )
    parts = tmp_path / f"parts{suffix}"
    with pytest.raises(DownloadKilledError):
        download_candles(
            FakeExchange(candles(100), fail_after_pages=5),
            plan(parts, until_ns=until, checkpoint_pages=2),
            clock=far_future(),
            sleep=lambda _: None,
        )
    # Written at the last checkpoint (page 4): a valid file of 28 bars.
    assert len(load_bars(parts, instrument="BTC-USD", interval_ns=HOUR_NS)) == 28
    resumed = FakeExchange(candles(100))
    result = download_candles(
        resumed, plan(parts, until_ns=until), clock=far_future(), sleep=lambda _: None
    )
    assert (result.kept, result.added) == (28, 72)
    assert resumed.calls[0][0] == START_MS + 28 * HOUR_MS  # continued after the file's last bar
    assert parts.read_bytes() == whole.read_bytes()


@given(
    total=st.integers(min_value=1, max_value=80),
    page=st.integers(min_value=1, max_value=20),
    stop=st.integers(min_value=1, max_value=12),
    every=st.integers(min_value=1, max_value=4),
)
def test_any_interruption_then_resume_equals_one_run(
    tmp_path_factory: pytest.TempPathFactory, total: int, page: int, stop: int, every: int
) -> None:
    folder = tmp_path_factory.mktemp("resume")
    until = (START_MS + total * HOUR_MS) * 1_000_000
    whole, parts = folder / "whole.csv", folder / "parts.csv"
    download_candles(
        FakeExchange(candles(total)),
        plan(whole, until_ns=until, page_limit=page),
        clock=far_future(),
        sleep=lambda _: None,
    )
    try:
        download_candles(
            FakeExchange(candles(total), fail_after_pages=stop),
            plan(parts, until_ns=until, page_limit=page, checkpoint_pages=every),
            clock=far_future(),
            sleep=lambda _: None,
        )
    except DownloadKilledError:
        download_candles(
            FakeExchange(candles(total)),
            plan(parts, until_ns=until, page_limit=page),
            clock=far_future(),
            sleep=lambda _: None,
        )
    assert parts.read_bytes() == whole.read_bytes()


def test_a_bad_candle_is_refused_with_the_file_and_line(tmp_path: Path) -> None:
    rows = candles(10)
    rows[4][2] = rows[4][3] - 5  # high below low
    out = tmp_path / "BTC_USD-1h.csv"
    with pytest.raises(DataError, match=r"BTC_USD-1h\.csv:6: field .high.") as caught:
        download_candles(FakeExchange(rows), plan(out), clock=far_future(), sleep=lambda _: None)
    assert "high" in str(caught.value)
    assert not out.exists()  # nothing written


def test_no_candles_at_all_is_an_error_not_an_empty_file(tmp_path: Path) -> None:
    out = tmp_path / "BTC_USD-1h.csv"
    until = (START_MS + 20 * HOUR_MS) * 1_000_000
    with pytest.raises(DataError, match="no closed 1h candles"):
        download_candles(
            FakeExchange([]), plan(out, until_ns=until), clock=far_future(), sleep=lambda _: None
        )
    assert not out.exists()


def test_until_before_since_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="must be after"):
        plan(tmp_path / "x.csv", until_ns=START_MS * 1_000_000)


@pytest.mark.parametrize(
    ("pair", "instrument"),
    [("BTC/USD", "BTC-USD"), ("eth-usdt", "ETH-USDT"), ("SOL_EUR", "SOL-EUR")],
)
def test_pairs_become_instrument_names(pair: str, instrument: str) -> None:
    assert instrument_of(pair) == instrument


def test_a_pair_without_a_quote_is_refused() -> None:
    with pytest.raises(ValueError, match="BASE/QUOTE"):
        instrument_of("BTC")
