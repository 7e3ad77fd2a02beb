"""The committee walk-forward: does the pattern agent make the committee better, or not?

For each traded period P, in order:

1. A discovery run (`evolution.run.DiscoveryRun`, its own folds, purge and holdout) on the
   bars that open before P only (`committee_report.history_before`). No period is traded by
   patterns selected with it.
2. Its proven patterns are exported, one patterns file per timeframe (the pattern agent trades
   only the timeframe a pattern was found on). Nothing proven means no file.
3. On each timeframe, P is backtested by (a) today's committee (its default agents: trend,
   mean_reversion, risk), (b) the same committee with `patterns=<that file>`, which adds the
   pattern agent, and (c) buy-and-hold, equal weight, over (a)'s market and timeline. Same
   cash, fee, slippage model and risk phase (the committee's default) for all; each backtest
   starts flat and cold at P's first bar. With no file, (b) is (a): the pattern agent had
   nothing to vote with and abstained, and the period says so.

A discovery whose inputs already ran in the store is read back, not run again (one that was
killed resumes), so the report can be printed again at the cost of the backtests alone.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path

from coinswarm import bootstrap
from coinswarm.backtest.defaults import STORE_NONE
from coinswarm.data.pattern_file import ExportedPattern, write_patterns
from coinswarm.data.timefmt import format_timestamp
from coinswarm.domain.bar import BarSeries
from coinswarm.evolution.committee.report import (
    HOLD,
    Leg,
    Period,
    committee_leg,
    history_before,
    hold_leg,
    reason_kind,
)
from coinswarm.evolution.config import EvolutionConfig
from coinswarm.evolution.dataset import Dataset
from coinswarm.evolution.leaderboard import Row, leaderboard
from coinswarm.evolution.run import DiscoveryRun, RunInputs
from coinswarm.evolution.workers import Executor
from coinswarm.infra.storage import EvolutionStatus, Store
from coinswarm.strategies import default_phase

__all__ = [
    "COMMITTEE",
    "HOLD",
    "STRATEGIES",
    "WITH_PATTERNS",
    "PeriodDiscovery",
    "TradedPeriod",
    "WalkForwardSettings",
    "discover_before",
    "export_proven",
    "trade_period",
]

COMMITTEE = "committee"
WITH_PATTERNS = "committee+patterns"
STRATEGIES = (COMMITTEE, WITH_PATTERNS, HOLD)


@dataclass(frozen=True, slots=True, kw_only=True)
class WalkForwardSettings:
    """What the walk-forward runs with: the discovery's search and the backtests' costs.

    `timeframes` are both what discovery searches and the bars the committees trade on.
    `reset_after_days` is when the simulated operator resets a stop that waits for a person
    (the phase-0 circuit breaker latches after its third trip of a UTC day, which eleven
    volatile pairs reach within days: without a reset, every strategy would stop trading).
    """

    timeframes: tuple[str, ...] = ("4h", "1d")
    cycles: int = 30
    seed: int = 0
    fee_bps: Decimal = Decimal(60)
    cash: Decimal = Decimal(10_000)
    reset_after_days: int = 7

    @property
    def fee_rate(self) -> Decimal:
        return self.fee_bps / 10_000

    @property
    def phase(self) -> str:
        """The risk phase of every backtest: the committee's own default."""
        phase = default_phase(COMMITTEE)
        return "none" if phase is None else str(phase)

    def evolution_config(self) -> EvolutionConfig:
        return EvolutionConfig(
            seed=self.seed,
            cycles=self.cycles,
            timeframes=self.timeframes,
            fee_rate=float(self.fee_rate),
        )


@dataclass(frozen=True, slots=True)
class PeriodDiscovery:
    """What the discovery before one period saw and concluded."""

    period: Period
    run_id: str
    instruments: tuple[str, ...]
    history_start_ns: int
    history_end_ns: int
    trials: int
    judged: tuple[Row, ...]  # best first: the proven, then by out-of-sample Sharpe

    @property
    def proven(self) -> tuple[Row, ...]:
        return tuple(row for row in self.judged if row.status == "proven")

    def top_reasons(self, count: int = 4) -> list[tuple[str, int]]:
        """Return the checks the judged patterns failed most often, with how many failed each."""
        kinds = Counter(
            reason_kind(part)
            for row in self.judged
            if row.status != "proven"
            for part in row.reason.split("; ")
            if part
        )
        return kinds.most_common(count)

    def describe(self, near_misses: int = 3) -> list[str]:
        """Return lines a person reads: the data, the search, and what it proved, or why not."""
        first = self.judged[0] if self.judged else None
        pbo = _maybe(None if first is None else first.pbo, ".2f")
        spa = _maybe(None if first is None else first.reality_check_p, ".3f")
        lines = [
            f"discovery before {self.period.label} ({self.run_id}): {len(self.instruments)} "
            f"pairs, bars {format_timestamp(self.history_start_ns)[:10]} to "
            f"{format_timestamp(self.history_end_ns)[:10]}; {self.trials:,} trials, "
            f"{len(self.judged)} judged out of sample; the search's PBO {pbo}, SPA p vs hold {spa}"
        ]
        lines += [_proven_line(row) for row in self.proven]
        if self.proven:
            return lines
        lines.append(f"  nothing proven before {self.period.label}; most failed checks:")
        judged = len(self.judged)
        lines += [f"    {kind}: {n} of {judged}" for kind, n in self.top_reasons()]
        lines.append("  nearest misses (best out-of-sample Sharpe):")
        lines += [
            f"    {row.pattern_id} [{row.timeframe}] {row.rule}: {row.reason}"
            for row in self.judged[:near_misses]
        ]
        return lines


def _proven_line(row: Row) -> str:
    return (
        f"  proven {row.pattern_id} [{row.timeframe}] {row.rule}: out-of-sample Sharpe "
        f"{_maybe(row.out_of_sample_sharpe, '.2f')} over {row.out_of_sample_trades} trades "
        f"(net {_maybe(row.out_of_sample_return, '.1%')}), DSR "
        f"{_maybe(row.deflated_sharpe, '.2f')}, PBO {_maybe(row.pbo, '.2f')}, SPA p "
        f"{_maybe(row.reality_check_p, '.3f')}, random-entry p "
        f"{_maybe(row.random_entry_p, '.3f')}, holdout {_maybe(row.holdout_return, '.2%')}"
    )


def _maybe(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def discover_before(
    market: Sequence[BarSeries],
    period: Period,
    settings: WalkForwardSettings,
    store: Store,
    executor: Executor,
    *,
    now_ns: Callable[[], int],
) -> PeriodDiscovery:
    """Run (or read back) the discovery on the bars of `market` that open before `period`."""
    history = history_before(market, period)
    if not history:
        raise ValueError(f"no bars before {period.label}: nothing to discover on")
    config = settings.evolution_config()
    dataset = Dataset(history, config.timeframes)
    cut = format_timestamp(period.start_ns)
    labels = tuple(f"{series.instrument} before {cut}" for series in history)
    inputs = RunInputs(labels, dataset.fingerprint, config)
    stored = store.evolution_run(inputs.run_id)
    if stored is None:
        run = DiscoveryRun.start(store, inputs, dataset, executor, now_ns=now_ns())
        run.run(now_ns=now_ns)
    elif stored.status is not EvolutionStatus.FINISHED:
        run = DiscoveryRun.resume(store, inputs.run_id, executor, load=lambda *_: dataset)
        run.run(now_ns=now_ns)
    return PeriodDiscovery(
        period=period,
        run_id=inputs.run_id,
        instruments=dataset.instruments,
        history_start_ns=dataset.start_ns,
        history_end_ns=dataset.end_ns,
        trials=store.trial_count(inputs.run_id),
        judged=tuple(leaderboard(store, inputs.run_id)),
    )


def export_proven(discovery: PeriodDiscovery, store: Store, folder: Path) -> dict[str, Path]:
    """Write the run's proven patterns, one file per timeframe; return the files by timeframe
    (none when nothing was proven)."""
    by_timeframe: dict[str, list[ExportedPattern]] = {}
    for stored in store.patterns(discovery.run_id, status="proven"):
        exported = ExportedPattern(stored.pattern, stored.status, stored.reason)
        by_timeframe.setdefault(stored.pattern.timeframe, []).append(exported)
    files = {}
    for timeframe, items in sorted(by_timeframe.items()):
        path = folder / f"proven-before-{discovery.period.label}-{timeframe}.jsonl"
        write_patterns(path, items, source=discovery.run_id)
        files[timeframe] = path
    return files


@dataclass(frozen=True, slots=True)
class TradedPeriod:
    """One period on one timeframe: each strategy's leg and backtest, and what (b) traded."""

    period: Period
    timeframe: str
    legs: Mapping[str, Leg]  # by strategy, in STRATEGIES order
    outcomes: Mapping[str, bootstrap.BacktestOutcome]  # the committees' backtests
    patterns: Path | None
    note: str


def trade_period(
    market: Sequence[BarSeries],
    period: Period,
    timeframe: str,
    patterns: Path | None,
    settings: WalkForwardSettings,
    *,
    data: tuple[Path, ...] = (),
) -> TradedPeriod:
    """Backtest `period` on `market` (already on `timeframe`'s bars) by the three strategies.

    `data` names the files `market` was read from (part of each backtest's id only).
    """

    def backtest(parameters: dict[str, str]) -> bootstrap.BacktestOutcome:
        request = bootstrap.BacktestRequest(
            data=data,
            timeframe=timeframe,
            start_ns=period.start_ns,
            end_ns=period.end_ns,
            strategy=COMMITTEE,
            parameters=parameters,
            fee_bps=settings.fee_bps,
            cash=settings.cash,
            phase=settings.phase,
            reset_after_days=settings.reset_after_days,
            store=STORE_NONE,
        )
        return bootstrap.run(request, market=market)

    today = backtest({})
    outcomes = {COMMITTEE: today}
    legs = {
        COMMITTEE: committee_leg(COMMITTEE, period.label, today.result, refused=_refused(today))
    }
    if patterns is None:
        note = f"nothing proven before {period.label} on {timeframe}, the pattern agent abstained"
        legs[WITH_PATTERNS] = replace(legs[COMMITTEE], strategy=WITH_PATTERNS)
    else:
        with_patterns = backtest({"patterns": str(patterns)})
        outcomes[WITH_PATTERNS] = with_patterns
        legs[WITH_PATTERNS] = committee_leg(
            WITH_PATTERNS, period.label, with_patterns.result, refused=_refused(with_patterns)
        )
        note = f"the pattern agent traded {patterns.name}"
    legs[HOLD] = hold_leg(period.label, today.result, today.benchmark_curve, settings.fee_rate)
    return TradedPeriod(period, timeframe, legs, outcomes, patterns, note)


def _refused(outcome: bootstrap.BacktestOutcome) -> int:
    return len(outcome.refused())
