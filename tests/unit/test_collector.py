"""The run's loops keep what lived before them out of the garbage collector's passes, and give
it back when they end: the collector's pauses stay short, and nothing is left frozen."""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence

import pytest

from coinswarm.backtest.collector import long_lived_frozen
from coinswarm.backtest.context import EngineContext
from coinswarm.backtest.engine import BacktestConfig, run_backtest, run_live, simulated_venue
from coinswarm.data import synthetic_market
from coinswarm.domain.bar import Bar
from coinswarm.domain.clock import HistoricalClock
from coinswarm.strategies.base import Intent


class _FreezeWatcher:
    """A strategy that trades nothing and notes how many objects the collector skips."""

    name = "watcher"

    def __init__(self) -> None:
        self.frozen: list[int] = []

    def on_bar(self, bar: Bar, context: EngineContext) -> Sequence[Intent]:
        self.frozen.append(gc.get_freeze_count())
        return ()


@pytest.fixture(autouse=True)
def _nothing_frozen() -> Iterator[None]:
    assert gc.get_freeze_count() == 0, "the test starts with nothing frozen"
    yield
    gc.unfreeze()  # whatever a failing test left behind


def test_a_backtest_loop_skips_what_lived_before_it_and_unfreezes_at_the_end() -> None:
    series = synthetic_market(instrument="BTC-USDT", bars=50, seed=1)
    watcher = _FreezeWatcher()
    run_backtest([series], watcher, BacktestConfig())
    assert len(watcher.frozen) == len(series)
    assert min(watcher.frozen) > 1000, "imports, data and the wired run are frozen"
    assert gc.get_freeze_count() == 0


def test_a_live_loop_does_the_same() -> None:
    series = synthetic_market(instrument="BTC-USDT", bars=50, seed=2)
    watcher = _FreezeWatcher()
    run_live(
        (series.bar(i) for i in range(len(series))),
        watcher,
        BacktestConfig(),
        instruments=[series.instrument],
        clock=HistoricalClock(int(series.ts[0])),
        venue=simulated_venue,
    )
    assert min(watcher.frozen) > 1000
    assert gc.get_freeze_count() == 0


def test_nested_loops_unfreeze_once_the_outermost_ends() -> None:
    with long_lived_frozen():
        outer = gc.get_freeze_count()
        with long_lived_frozen():
            assert gc.get_freeze_count() == outer
        assert gc.get_freeze_count() == outer, "the inner end leaves the outer loop frozen"
    assert gc.get_freeze_count() == 0


def test_a_freeze_made_by_someone_else_is_neither_repeated_nor_lifted() -> None:
    gc.freeze()
    theirs = gc.get_freeze_count()
    with long_lived_frozen():
        assert gc.get_freeze_count() == theirs
    assert gc.get_freeze_count() == theirs
