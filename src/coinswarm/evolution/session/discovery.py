"""Discovery beside a paper, sandbox or live session: one cycle a minute, on closed bars only.

In research a run's cycles follow each other as fast as compute allows (`coinswarm evolve`).
Beside a trading session a `CycleScheduler` calls `SessionDiscovery.step` once a minute of the
wall clock, and each step runs one cycle of the current run. A run starts once the session has
closed enough bars for its walk-forward windows (until then a step says how many more it waits
for) and plans its windows on the bars closed at its start, which it keeps; when its cycles
are done the next step closes it (its verdicts stored), and the step after that starts a new
run on the bars closed by then.

Closed bars only is checked, not assumed: before a run starts and before each of its steps,
every bar it holds must have `ts + interval <= now` by the session's clock at that moment, or
the step raises LookaheadError and commits nothing.

Evaluations run inline, on the scheduler's thread, by default: no worker processes beside a
trading session, so the session's process keeps the machine's other cores and discovery
costs at most one core for the length of one cycle a minute (the numba kernels let go of the
GIL while they evaluate). Discovery holds no exchange and no order book: it cannot place an
order. Its runs, patterns and trials go to the session's own database.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

from coinswarm.data.closed_bars import ClosedBars
from coinswarm.data.timefmt import format_timestamp
from coinswarm.domain.bar import BarSeries
from coinswarm.domain.errors import CoinswarmError, DataError
from coinswarm.evolution.config import EvolutionConfig
from coinswarm.evolution.dataset import Dataset
from coinswarm.evolution.loop import Discovery
from coinswarm.evolution.run import DiscoveryRun, RunInputs, bars_needed
from coinswarm.evolution.session.scheduler import DEFAULT_INTERVAL_S, CycleScheduler
from coinswarm.evolution.session.timers import Timer, WallTimer
from coinswarm.evolution.workers import Executor, InlineExecutor
from coinswarm.infra.storage import EvolutionStatus, Store

__all__ = [
    "Beside",
    "LookaheadError",
    "SessionDiscovery",
    "StepReport",
    "discovery_beside",
]

logger = logging.getLogger(__name__)

StepKind = Literal["waiting", "unchanged", "cycle", "closed"]
REMIND_EVERY = 60


class LookaheadError(CoinswarmError):
    """A bar whose close had not passed reached discovery."""


@dataclass(frozen=True, slots=True)
class StepReport:
    """What one step did: waited for bars, found nothing new, ran a cycle, or closed a run.

    `now_ns` is the session's time the step checked the bars against.
    """

    kind: StepKind
    message: str
    now_ns: int | None = None
    run_id: str | None = None
    cycle: int | None = None


class SessionDiscovery:
    """One discovery cycle per step, on the bars a session has closed.

    `bars()` returns each instrument's closed bars so far and `now_ns()` the session's time
    (None before it starts); `store` is the session's database. `label` names the bars'
    source in each run's inputs (a session's bars are no file a later `evolve --resume` can
    load). `stamp_ns` dates the stored runs; `say` hears what a person watching should read.
    """

    def __init__(
        self,
        bars: Callable[[], Sequence[BarSeries]],
        now_ns: Callable[[], int | None],
        store: Store,
        config: EvolutionConfig,
        *,
        executor: Executor | None = None,
        label: str = "session",
        stamp_ns: Callable[[], int] = time.time_ns,
        say: Callable[[str], None] = logger.info,
    ) -> None:
        self._bars = bars
        self._now_ns = now_ns
        self._store = store
        self._config = config
        self._executor = executor or InlineExecutor()
        self._label = label
        self._stamp_ns = stamp_ns
        self._say = say
        self._run: DiscoveryRun | None = None
        self._loop: Discovery | None = None  # None after a failure: reloaded from the store
        self.last: StepReport | None = None
        self._topic = ""  # what the last quiet steps waited for, told once (see `_quiet`)
        self._quiet_steps = 0

    @property
    def run_id(self) -> str | None:
        """The run in hand, if one has started and not closed."""
        return None if self._run is None else self._run.run_id

    def step(self) -> StepReport:
        """Start a run, run its next cycle, or close it: one of them, whichever is due."""
        run = self._run
        if run is None:
            report = self._begin()
        else:
            loop = self._loop or run.discovery()
            self._loop = loop
            if loop.state.next_cycle < self._config.cycles:
                report = self._cycle(run, loop)
            else:
                report = self._close(run, loop)
        if report.kind in ("cycle", "closed"):
            self._topic = ""  # whatever is waited for next is news
        self.last = report
        return report

    def close(self) -> None:
        """Store the run in hand `interrupted` (the session ended); its cycles stay stored."""
        run = self._run
        if run is None:
            return
        self._run = self._loop = None
        self._store.finish_evolution_run(run.run_id, EvolutionStatus.INTERRUPTED, self._stamp_ns())
        self._say(f"discovery run {run.run_id} stopped with the session; its cycles are stored")

    def _begin(self) -> StepReport:
        """Start a run on the bars closed by now, if there are enough, and run its first cycle."""
        series = [s for s in self._bars() if len(s)]
        now = self._now_ns()
        if not series or now is None:
            message = "waiting for the session's first closed bar"
            return self._quiet("first bar", "waiting", message, now)
        _check_closed(series, now)
        bar_ns = min(s.interval_ns for s in series)
        start = min(int(s.ts[0]) for s in series)
        end = max(int(s.ts[-1]) + s.interval_ns for s in series)
        have, need = (end - start) // bar_ns, bars_needed(self._config, bar_ns)
        if have < need:
            message = (
                f"waiting for {need - have} more closed bars (a run's windows need {need}; "
                f"{have} so far)"
            )
            return self._quiet("more bars", "waiting", message, now)
        dataset = Dataset(series, self._config.timeframes)
        inputs = RunInputs((self._label,), dataset.fingerprint, self._config)
        stored = self._store.evolution_run(inputs.run_id)
        if stored is not None and stored.status is EvolutionStatus.FINISHED:
            message = (
                f"run {inputs.run_id} already ran on these bars: waiting for the next to close"
            )
            return self._quiet(inputs.run_id, "unchanged", message, now)
        try:
            if stored is None:
                run = DiscoveryRun.start(
                    self._store, inputs, dataset, self._executor, now_ns=self._stamp_ns()
                )
            else:  # stopped with a session before: these bars are its own
                run = DiscoveryRun.resume(
                    self._store, inputs.run_id, self._executor, load=lambda *_: dataset
                )
        except DataError as error:  # gaps leave a window short of its bars: wait for more
            return self._quiet("gaps", "waiting", f"waiting for more closed bars: {error}", now)
        self._run, self._loop = run, run.discovery()
        began = "started" if stored is None else "resumed"
        self._say(
            f"discovery run {run.run_id} {began} on {have} closed bars of "
            f"{', '.join(dataset.instruments)} (up to {_when(end)}), "
            f"{self._config.cycles} cycles, one per step"
        )
        return self._cycle(run, self._loop)

    def _cycle(self, run: DiscoveryRun, loop: Discovery) -> StepReport:
        now = self._checked_now(run)
        cycle = loop.state.next_cycle
        try:
            report = loop.cycle(cycle)
        except BaseException:
            self._loop = None  # its state may be half changed: resume from the last commit
            raise
        best = (
            "none yet" if report.best_out_of_sample is None else f"{report.best_out_of_sample:.2f}"
        )
        message = (
            f"discovery run {run.run_id}: cycle {cycle + 1}/{self._config.cycles} "
            f"(fold {report.fold + 1}), {len(report.trials)} trials, population "
            f"{report.population}, best out-of-sample Sharpe {best}"
        )
        self._say(message)
        return StepReport("cycle", message, now, run.run_id, cycle)

    def _close(self, run: DiscoveryRun, loop: Discovery) -> StepReport:
        now = self._checked_now(run)
        try:
            closing = run.close(loop.state, now_ns=self._stamp_ns)
        except BaseException:
            self._loop = None
            raise
        self._run = self._loop = None
        proven = len(closing.proven) or "nothing"
        message = (
            f"discovery run {run.run_id} closed: {closing.search.n_trials} trials, proven: "
            f"{proven} (coinswarm patterns list --run {run.run_id})"
        )
        self._say(message)
        return StepReport("closed", message, now, run.run_id)

    def _checked_now(self, run: DiscoveryRun) -> int:
        """Return the session's time, once every bar of the run's data has closed by it."""
        now = self._now_ns()
        end = run.dataset.end_ns
        if now is None or end > now:
            at = "no time yet" if now is None else _when(now)
            msg = (
                f"discovery run {run.run_id}: its bars run to {_when(end)}, after "
                f"the session's now ({at}); discovery reads closed bars only"
            )
            raise LookaheadError(msg)
        return now

    def _quiet(self, topic: str, kind: StepKind, message: str, now: int | None) -> StepReport:
        """Report a step that did no work; tell a person when what it waits for changes, and
        again every `REMIND_EVERY` such steps (an hour, a step a minute)."""
        if topic != self._topic or self._quiet_steps % REMIND_EVERY == 0:
            self._say(f"discovery: {message}")
            self._quiet_steps = 0
        else:
            logger.debug("discovery: %s", message)
        self._topic = topic
        self._quiet_steps += 1
        return StepReport(kind, message, now)


def _when(ts_ns: int) -> str:
    """Return a time as text, to the microsecond (a wall clock's nanoseconds cut off)."""
    return format_timestamp(ts_ns - ts_ns % 1_000)


def _check_closed(series: Sequence[BarSeries], now: int) -> None:
    """Raise LookaheadError unless every bar of `series` has closed by `now`."""
    for s in series:
        last = int(s.ts[-1])
        if last + s.interval_ns > now:
            msg = (
                f"{s.instrument}: a bar at {_when(last)} closes at "
                f"{_when(last + s.interval_ns)}, after the session's now "
                f"({_when(now)}); discovery reads closed bars only"
            )
            raise LookaheadError(msg)


@dataclass(frozen=True, slots=True)
class Beside:
    """The discovery running beside a session, and the scheduler that steps it."""

    discovery: SessionDiscovery
    scheduler: CycleScheduler


@contextmanager
def discovery_beside(
    closed: ClosedBars,
    store: Store,
    *,
    config: EvolutionConfig | None = None,
    timer: Timer | None = None,
    interval_s: float = DEFAULT_INTERVAL_S,
    label: str = "session",
    say: Callable[[str], None] = logger.info,
) -> Iterator[Beside]:
    """Run discovery on `closed`'s bars while the block (a session) runs; stop it after.

    One step every `interval_s` of `timer` (the wall clock by default), inline. When the
    block ends, however it ends, the scheduler stops: the cycle in hand, if any, finishes and
    is committed whole, and the run in hand is stored `interrupted`. A failure of that last
    bookkeeping is told and logged, not raised: the session's own outcome stands.
    """
    with InlineExecutor() as executor:
        discovery = SessionDiscovery(
            closed.snapshot,
            closed.now_ns,
            store,
            config or EvolutionConfig(),
            executor=executor,
            label=label,
            say=say,
        )
        scheduler = CycleScheduler(
            discovery.step,
            timer or WallTimer(),
            interval_s=interval_s,
            report=say,
            name="discovery",
        )
        scheduler.start()
        try:
            yield Beside(discovery, scheduler)
        finally:
            scheduler.stop()
            if not scheduler.join(timeout=1.0):
                say("discovery: letting the cycle in hand finish and commit")
                scheduler.join()
            _close_quietly(discovery, say)


def _close_quietly(discovery: SessionDiscovery, say: Callable[[str], None]) -> None:
    try:
        discovery.close()
    except Exception as error:  # the session's outcome matters more than this bookkeeping
        logger.exception("discovery: could not store its run as interrupted")
        say(f"discovery: could not store its run as interrupted ({error})")
