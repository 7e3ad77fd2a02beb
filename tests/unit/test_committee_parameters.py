"""`--param AGENT.KEY=VALUE` reaches each agent of the committee, and the risk agent's
volatility limit follows the bar interval, so the committee trades 4-hour and daily bars too."""

from __future__ import annotations

import math

import pytest

from agent_harness import votes_of
from coinswarm.agents.committee import Verdict
from coinswarm.agents.risk_agent import RiskAgent, RiskConfig
from coinswarm.backtest.engine import BacktestConfig, run_backtest
from coinswarm.data import resample, synthetic_market
from coinswarm.data.timefmt import parse_interval
from coinswarm.data.view import GrowingMarket, fenced_feed
from coinswarm.domain.bar import NS_PER_HOUR, BarSeries
from coinswarm.execution.journal import MemoryJournal
from coinswarm.risk.settings import RiskSettings
from coinswarm.strategies import InvalidStrategyError, build_strategy
from coinswarm.strategies.committee import CommitteeStrategy

HOURLY = synthetic_market(bars=2 * 365 * 24, seed=7)


def _bars(label: str) -> BarSeries:
    if label == "1h":
        return HOURLY
    return resample(HOURLY, parse_interval(label), complete_only=True)


def test_each_dotted_parameter_reaches_its_agent() -> None:
    strategy, resolved = build_strategy(
        "committee",
        {
            "trend.fast": "12",
            "trend.slow": "30",
            "mean_reversion.band_period": "30",
            "risk.max_volatility": "0.03",
            "risk.volatility_interval": "4h",
            "quorum": "1",
        },
    )
    assert isinstance(strategy, CommitteeStrategy)
    trend, reversion, risk = strategy.agents
    assert (trend.config.fast, trend.config.slow) == (12, 30)  # type: ignore[attr-defined]
    assert reversion.config.band_period == 30  # type: ignore[attr-defined]
    assert risk.config.max_volatility == 0.03  # type: ignore[attr-defined]
    assert risk.config.volatility_interval == "4h"  # type: ignore[attr-defined]
    assert strategy.committee.config.quorum == 1
    # The run's identity holds the agent parameters given, normalised by their agent.
    assert resolved["trend.fast"] == "12"
    assert resolved["risk.max_volatility"] == "0.03"
    assert "mean_reversion.rsi_period" not in resolved  # defaults stay out: old run ids hold


def test_without_agent_parameters_the_resolved_parameters_are_as_before() -> None:
    _, resolved = build_strategy("committee", {})
    assert sorted(resolved) == [
        "agents",
        "decay",
        "min_vote_confidence",
        "quorum",
        "rebalance_band",
        "strategy_cap",
        "threshold",
        "volatility_window",
    ]


@pytest.mark.parametrize(
    ("parameters", "problem"),
    [
        (
            {"trend.fastt": "12"},
            "unknown parameter trend.fastt; trend takes trend.fast, trend.slow",
        ),
        ({"momentum.window": "3"}, "unknown agent 'momentum' in momentum.window; expected"),
        ({"trend.fast": "ten"}, "trend.fast: Input should be a valid integer"),
        ({"trend.fast": "60"}, "expected fast < slow"),
        ({"risk.volatility_interval": "7h"}, "expected a bar interval (1m, 5m"),
        (
            {"agents": "trend,risk", "mean_reversion.band_period": "30"},
            "agent mean_reversion is not in agents=trend,risk",
        ),
        ({"fast": "3"}, "or AGENT.KEY for trend, mean_reversion, risk"),
        ({"agent_parameters": "{}"}, "give each as AGENT.KEY=VALUE"),
    ],
)
def test_an_unknown_or_bad_parameter_names_the_valid_ones(
    parameters: dict[str, str], problem: str
) -> None:
    with pytest.raises(InvalidStrategyError) as refused:
        build_strategy("committee", parameters)
    assert problem in str(refused.value)


def test_the_volatility_limit_scales_with_the_square_root_of_the_interval() -> None:
    config = RiskConfig(max_volatility=0.02)
    assert config.volatility_limit(NS_PER_HOUR) == pytest.approx(0.02)
    assert config.volatility_limit(4 * NS_PER_HOUR) == pytest.approx(0.04)
    assert config.volatility_limit(24 * NS_PER_HOUR) == pytest.approx(0.02 * math.sqrt(24))
    assert config.volatility_limit(None) == 0.02
    per_bar = RiskConfig(max_volatility=0.02, volatility_interval="bar")
    assert per_bar.volatility_limit(24 * NS_PER_HOUR) == 0.02
    daily = RiskConfig(max_volatility=0.05, volatility_interval="1d")
    assert daily.volatility_limit(NS_PER_HOUR) == pytest.approx(0.05 / math.sqrt(24))


def _volatility_vetoes(config: RiskConfig, series: BarSeries) -> float:
    votes = votes_of(RiskAgent(config), series)
    return sum(1 for v in votes if v is not None and "volatility" in v.reason) / len(votes)


@pytest.mark.parametrize("label", ["4h", "1d"])
def test_the_risk_agent_reads_the_interval_from_the_market(label: str) -> None:
    series = _bars(label)
    # Stated per hour and scaled, the limit vetoes what it vetoes on hourly bars: rarely.
    assert _volatility_vetoes(RiskConfig(), _bars("1h")) < 0.05
    assert _volatility_vetoes(RiskConfig(), series) < 0.05
    # The same 2% taken as per bar of any interval vetoes much of a coarser market.
    assert _volatility_vetoes(RiskConfig(volatility_interval="bar"), series) > 0.1


class _Verdicts(MemoryJournal):
    """A journal that keeps every verdict (the strategy keeps only the latest ones)."""

    def __init__(self) -> None:
        super().__init__()
        self.verdicts: list[Verdict] = []

    def verdict(self, verdict: Verdict) -> None:
        self.verdicts.append(verdict)


def _vetoed_share(label: str, parameters: dict[str, str]) -> tuple[float, int]:
    """Backtest the committee on `label` bars; return the share of verdicts under a veto."""
    strategy, _ = build_strategy("committee", parameters)
    journal = _Verdicts()
    result = run_backtest(
        [_bars(label)],
        strategy,
        BacktestConfig(risk=RiskSettings(phase=0).to_profile()),
        journal=journal,
    )
    verdicts = journal.verdicts
    vetoed = sum(1 for v in verdicts if any(vote.veto for vote in v.votes))
    return vetoed / len(verdicts), len(result.orders)


def test_the_committee_trades_4h_bars_without_a_veto_on_every_bar() -> None:
    share, orders = _vetoed_share("4h", {})
    unscaled, _ = _vetoed_share("4h", {"risk.volatility_interval": "bar"})
    assert share < 0.06  # 3.9% measured; about what hourly bars get (8.3%)
    assert unscaled > 0.1  # 14.8%: the hourly limit taken per 4-hour bar
    assert orders > 50


def test_on_daily_bars_an_unscaled_limit_would_veto_nearly_every_bar() -> None:
    scaled, scaled_orders = _vetoed_share("1d", {})
    unscaled, unscaled_orders = _vetoed_share("1d", {"risk.volatility_interval": "bar"})
    assert unscaled > 0.8
    assert scaled < 0.5
    assert scaled_orders > unscaled_orders


def test_the_market_view_knows_each_feed_s_interval() -> None:
    four_hours = _bars("4h")
    view, _ = fenced_feed(("SYN-USDT",), (four_hours,))
    assert view.interval_ns("SYN-USDT") == 4 * NS_PER_HOUR
    assert fenced_feed(("X-USD",))[0].interval_ns("X-USD") is None
    live = GrowingMarket(["SYN-USDT", "X-USD"], {"SYN-USDT": four_hours}, NS_PER_HOUR)
    assert live.view.interval_ns("SYN-USDT") == 4 * NS_PER_HOUR  # its history says so
    assert live.view.interval_ns("X-USD") == NS_PER_HOUR  # the session's interval
