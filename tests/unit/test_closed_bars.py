"""The record of a session's closed bars: a snapshot holds only bars closed by the session's
clock; a live feed's bar is recorded once the engine handled it; a replay records a bar only
once its time passed the bar's close; and nothing it does raises into the session."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from coinswarm.data.closed_bars import ClosedBars, ReplayClosing
from coinswarm.data.synthetic import synthetic_market
from coinswarm.domain.bar import NS_PER_HOUR, Bar, BarSeries

START = 1_700_000_000 * 10**9 // NS_PER_HOUR * NS_PER_HOUR


def bar(ts: int, instrument: str = "BTC-USD") -> Bar:
    return Bar(instrument, ts, 1.0, 2.0, 0.5, 1.5, 10.0)


class Clock:
    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def test_nothing_is_closed_before_the_session_attaches_its_clock() -> None:
    closed = ClosedBars()
    assert closed.snapshot() == ()
    assert closed.now_ns() is None


@given(
    hours=st.integers(min_value=0, max_value=40),
    into_the_hour=st.integers(min_value=0, max_value=NS_PER_HOUR - 1),
)
def test_a_snapshot_holds_exactly_the_bars_closed_by_the_session_s_clock(
    hours: int, into_the_hour: int
) -> None:
    clock = Clock(START)
    closed = ClosedBars()
    closed.attach(clock, {"BTC-USD": NS_PER_HOUR, "ETH-USD": 4 * NS_PER_HOUR})
    for k in range(30):  # fed ahead of the clock, as a skewed exchange clock could
        closed.add(bar(START + k * NS_PER_HOUR))
        closed.add(bar(START + k * 4 * NS_PER_HOUR, "ETH-USD"))
    clock.now = START + hours * NS_PER_HOUR + into_the_hour
    taken = {s.instrument: s for s in closed.snapshot()}
    for name, interval in (("BTC-USD", NS_PER_HOUR), ("ETH-USD", 4 * NS_PER_HOUR)):
        expected = [
            START + k * interval for k in range(30) if START + (k + 1) * interval <= clock.now
        ]
        got = [] if name not in taken else taken[name].ts.tolist()
        assert got == expected
        if name in taken:
            assert taken[name].interval_ns == interval


def test_a_bar_out_of_order_or_of_another_instrument_is_refused() -> None:
    closed = ClosedBars()
    closed.attach(Clock(START), {"BTC-USD": NS_PER_HOUR})
    closed.add(bar(START))
    with pytest.raises(ValueError, match="expected a bar after"):
        closed.add(bar(START))
    with pytest.raises(KeyError, match="does not trade"):
        closed.add(bar(START, "DOGE-USD"))
    with pytest.raises(ValueError, match="already follows a session"):
        closed.attach(Clock(START), {"BTC-USD": NS_PER_HOUR})


def test_a_fed_bar_is_recorded_only_once_the_engine_asks_for_the_next() -> None:
    closed = ClosedBars()
    closed.attach(Clock(START + 10 * NS_PER_HOUR), {"BTC-USD": NS_PER_HOUR})
    feed = closed.after_each(iter([bar(START), bar(START + NS_PER_HOUR)]))
    assert next(feed).ts == START
    assert closed.snapshot() == (), "the engine is still handling it"
    assert next(feed).ts == START + NS_PER_HOUR
    assert closed.snapshot()[0].ts.tolist() == [START]
    assert list(feed) == []
    assert closed.snapshot()[0].ts.tolist() == [START, START + NS_PER_HOUR]


def test_a_live_session_s_warm_up_comes_first_then_its_feed() -> None:
    history = BarSeries.from_bars(
        "BTC-USD", NS_PER_HOUR, [bar(START + k * NS_PER_HOUR) for k in range(3)]
    )
    closed = ClosedBars()
    closed.attach(Clock(START + 10 * NS_PER_HOUR), {"BTC-USD": NS_PER_HOUR})
    closed.extend(history)
    fed = list(closed.after_each(iter([bar(START + k * NS_PER_HOUR) for k in (3, 4)])))
    assert len(fed) == 2
    assert closed.snapshot()[0].ts.tolist() == [START + k * NS_PER_HOUR for k in range(5)]


def test_a_bar_that_cannot_be_recorded_breaks_the_record_not_the_session(
    caplog: pytest.LogCaptureFixture,
) -> None:
    closed = ClosedBars()
    closed.attach(Clock(START + 10 * NS_PER_HOUR), {"BTC-USD": NS_PER_HOUR})
    bars = [bar(START), bar(START), bar(START + NS_PER_HOUR)]  # the second is no newer
    with caplog.at_level(logging.ERROR):
        assert [b.ts for b in closed.after_each(iter(bars))] == [b.ts for b in bars]
    assert "recording stopped" in caplog.text
    with pytest.raises(ValueError, match="stopped being recorded: ValueError: BTC-USD"):
        closed.snapshot()


def test_a_replay_records_each_bar_once_its_time_passes_the_bar_s_close() -> None:
    market = [
        synthetic_market(instrument="BTC-USD", bars=10, start=START, seed=1),
        synthetic_market(instrument="ETH-USD", bars=5, start=START + NS_PER_HOUR, seed=2),
    ]
    closed = ClosedBars()
    replay = ReplayClosing(market, closed)
    pace = replay.pacing(None)
    for step in range(12):
        ts = START + step * NS_PER_HOUR
        pace(ts)  # the engine shows the bars of `ts` after this: none of them is closed yet
        assert closed.now_ns() == ts == replay.now_ns()
        for series in closed.snapshot():
            assert int(series.ts[-1]) + series.interval_ns <= ts
            assert int(series.ts[-1]) < ts, "a bar discovery reads was shown before"
        taken = {s.instrument: len(s) for s in closed.snapshot()}
        assert taken.get("BTC-USD", 0) == min(step, 10)
        assert taken.get("ETH-USD", 0) == min(max(step - 1, 0), 5)
    btc = closed.snapshot()[0]
    assert np.array_equal(btc.close, market[0].close)


def test_a_replay_s_pace_waits_first_then_records() -> None:
    seen: list[tuple[int, int]] = []
    series = BarSeries.from_bars(
        "BTC-USD", NS_PER_HOUR, [bar(START + k * NS_PER_HOUR) for k in range(3)]
    )
    closed = ClosedBars()
    replay = ReplayClosing([series], closed)
    pace = replay.pacing(lambda ts: seen.append((ts, len(closed.snapshot()))))
    pace(START + 2 * NS_PER_HOUR)
    assert seen == [(START + 2 * NS_PER_HOUR, 0)]
    assert len(closed.snapshot()[0]) == 2
