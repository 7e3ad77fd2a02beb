"""Wire one mode's adapters into the one engine.

Today there is one mode, the backtest: files or the synthetic market as the feed, the
historical clock, the simulated exchange. Paper, sandbox and live will swap those three and
keep everything else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from coinswarm.backtest.engine import BacktestConfig, Progress, run_backtest
from coinswarm.backtest.metrics import Metrics, buy_and_hold_benchmark, compute_metrics
from coinswarm.backtest.report import write_report
from coinswarm.backtest.result import BacktestResult, EquityCurve
from coinswarm.data import load_bars, synthetic_market
from coinswarm.domain.bar import BarSeries
from coinswarm.domain.errors import DataError
from coinswarm.domain.fill import Liquidity
from coinswarm.exchanges.fill_model import FeeSchedule, FillModel
from coinswarm.strategies import build_strategy

__all__ = ["BacktestOutcome", "BacktestRequest", "load_market", "run"]

SYNTHETIC_SEED = 7
SYNTHETIC_BARS = 2 * 365 * 24


@dataclass(frozen=True, slots=True, kw_only=True)
class BacktestRequest:
    """A backtest as a user asks for it: where the data is and how to trade it."""

    data: tuple[Path, ...] = ()
    pair: str | None = None
    start_ns: int | None = None
    end_ns: int | None = None
    strategy: str = "sma-cross"
    parameters: Mapping[str, str] = field(default_factory=dict)
    fee_bps: Decimal = Decimal(60)
    slippage_bps: Decimal = Decimal(0)
    max_volume_share: Decimal | None = None
    cash: Decimal = Decimal(10_000)
    seed: int = SYNTHETIC_SEED
    synthetic_bars: int = SYNTHETIC_BARS


@dataclass(frozen=True, slots=True)
class BacktestOutcome:
    """A finished run, its metrics, and buy-and-hold over the same bars for comparison."""

    result: BacktestResult
    metrics: Metrics
    benchmark: Metrics
    benchmark_curve: EquityCurve

    def write_report(self, path: Path) -> Path:
        """Write the self-contained HTML report of this run to `path`."""
        return write_report(
            self.result, self.metrics, self.benchmark, path, benchmark_curve=self.benchmark_curve
        )


def load_market(request: BacktestRequest) -> list[BarSeries]:
    """Load every data file (or make the synthetic market) and cut it to the asked period."""
    if request.pair is not None and len(request.data) > 1:
        raise DataError("--pair names the instrument of a single data file, found several files")
    if request.data:
        market = [load_bars(path, instrument=request.pair) for path in request.data]
    else:
        market = [
            synthetic_market(
                instrument=request.pair or "SYN-USDT",
                bars=request.synthetic_bars,
                seed=request.seed,
            )
        ]
    market = [series.between(request.start_ns, request.end_ns) for series in market]
    for series in market:
        if len(series) < 2:
            raise DataError(
                f"{series.instrument}: expected at least 2 bars in the chosen period, "
                f"found {len(series)}"
            )
    return market


def run(request: BacktestRequest, *, progress: Progress | None = None) -> BacktestOutcome:
    """Run the backtest `request` describes and measure it beside buy-and-hold."""
    strategy, parameters = build_strategy(request.strategy, request.parameters)
    market = load_market(request)
    fill_model = FillModel(
        fees=FeeSchedule.flat(request.fee_bps),
        slippage_bps=request.slippage_bps,
        max_volume_share=request.max_volume_share,
    )
    config = BacktestConfig(initial_cash=request.cash, fill_model=fill_model, parameters=parameters)
    result = run_backtest(market, strategy, config, progress=progress)
    metrics = compute_metrics(
        result.curve,
        result.trades,
        fees_paid=result.fees_paid,
        initial_cash=result.initial_cash,
        bar_interval_ns=result.bar_interval_ns,
    )
    hold_curve, benchmark = buy_and_hold_benchmark(
        result, fee_rate=fill_model.fees.rate(Liquidity.TAKER)
    )
    return BacktestOutcome(result, metrics, benchmark, hold_curve)
