"""The risk agent's vetoes: volatility, exposure, gross exposure, liquidity and data gaps."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from pydantic import ValidationError

from agent_harness import exposure_script, series_from_closes, votes_of
from coinswarm.agents.base import Direction
from coinswarm.agents.risk_agent import RiskAgent, RiskConfig
from coinswarm.data.indicators import vectorized as vec
from coinswarm.domain.bar import NS_PER_HOUR
from generators import bar_series


def calm(n, start=100.0):
    """Return closes that swing 0.1% up and down: volatility near 0.1% a bar."""
    return [start if i % 2 == 0 else start * 1.001 for i in range(n)]


def vetoed(votes):
    return [i for i, vote in enumerate(votes) if vote is not None]


def test_abstains_on_a_calm_liquid_continuous_market_with_room_to_trade():
    assert vetoed(votes_of(RiskAgent(), series_from_closes(calm(100)))) == []


def test_a_veto_is_a_certain_hold_that_names_the_rule():
    votes = votes_of(
        RiskAgent(), series_from_closes(calm(5)), script=exposure_script({"TEST-USD": [0.5]})
    )
    vote = votes[0]
    assert vote is not None
    assert (vote.agent, vote.instrument, vote.direction) == ("risk", "TEST-USD", Direction.HOLD)
    assert (vote.confidence, vote.size_hint, vote.veto) == (1.0, 0.0, True)
    assert vote.reason == "veto: exposure +50.0% of equity at or above max 25.0%"


def test_vetoes_a_volatility_burst_exactly_while_volatility_is_above_the_limit():
    closes = calm(40) + [100.0 * 1.05 ** (i % 2) for i in range(30)] + calm(60)
    series = series_from_closes(closes)
    votes = votes_of(RiskAgent(), series)
    volatility = vec.rolling_volatility(np.asarray(series.close), 24)
    expected = [i for i in range(len(closes)) if volatility[i] >= 0.02]
    assert expected[0] == 44  # four swings of 4.9% in 24 returns: volatility 2.04%
    assert expected[-1] < len(closes) - 10  # and it calms down again before the end
    assert vetoed(votes) == expected
    assert votes[44].reason.startswith("veto: volatility 2.")
    assert votes[44].reason.endswith("% per bar at or above max 2.00%")


def test_vetoes_a_sudden_volume_drought_until_it_becomes_the_average():
    volumes = [100.0] * 30 + [10.0] * 30
    votes = votes_of(RiskAgent(), series_from_closes(calm(60), volumes=volumes))
    # The 24-bar average before drought bar j is (100 * (24 - j) + 10 * j) / 24, and 10 is
    # below a fifth of it while j < 13.3: drought bars 0 to 13 are vetoed.
    assert vetoed(votes) == list(range(30, 44))
    assert votes[30].reason == "veto: volume 10 below 20% of its 24-bar average 100"


def test_ignores_liquidity_while_the_volume_average_warms_up():
    volumes = [100.0] * 10 + [1.0] * 5
    assert vetoed(votes_of(RiskAgent(), series_from_closes(calm(15), volumes=volumes))) == []


def test_vetoes_for_some_bars_after_a_gap_in_the_data():
    steps = [NS_PER_HOUR] * 29 + [5 * NS_PER_HOUR] + [NS_PER_HOUR] * 20
    votes = votes_of(RiskAgent(), series_from_closes(calm(51), steps=steps))
    assert vetoed(votes) == [30, 31, 32]
    assert votes[30].reason == "veto: data gap of 5h crossed on this bar (interval 1h, gap at 1.5x)"
    assert votes[31].reason == "veto: data gap of 5h crossed 1 bar ago (interval 1h, gap at 1.5x)"
    assert votes[32].reason.startswith("veto: data gap of 5h crossed 2 bars ago")


def test_a_step_of_exactly_the_gap_multiple_is_not_a_gap():
    steps = [NS_PER_HOUR] * 10 + [NS_PER_HOUR * 3 // 2] + [NS_PER_HOUR] * 5
    assert vetoed(votes_of(RiskAgent(), series_from_closes(calm(17), steps=steps))) == []


def test_the_first_step_is_judged_only_against_a_configured_interval():
    steps = [4 * NS_PER_HOUR] + [NS_PER_HOUR] * 10
    series = series_from_closes(calm(12), steps=steps)
    assert vetoed(votes_of(RiskAgent(), series)) == []
    configured = RiskAgent(RiskConfig(interval_ns=NS_PER_HOUR, gap_veto_bars=2))
    assert vetoed(votes_of(configured, series)) == [1, 2]


def test_gap_veto_bars_zero_turns_the_gap_rule_off():
    steps = [NS_PER_HOUR] * 5 + [9 * NS_PER_HOUR] + [NS_PER_HOUR] * 5
    series = series_from_closes(calm(12), steps=steps)
    assert vetoed(votes_of(RiskAgent(RiskConfig(gap_veto_bars=0)), series)) == []


def test_vetoes_exposure_either_side_of_flat_and_gross_exposure():
    exposures = [0.0] * 5 + [0.25] * 3 + [-0.3] * 3 + [0.1] * 3
    gross = [0.5] * 11 + [0.99, 1.0, 1.7]
    script = exposure_script({"TEST-USD": exposures}, gross=gross)
    votes = votes_of(RiskAgent(), series_from_closes(calm(14)), script=script)
    assert vetoed(votes) == [5, 6, 7, 8, 9, 10, 12, 13]
    assert votes[8].reason == "veto: exposure -30.0% of equity at or above max 25.0%"
    assert votes[13].reason == "veto: gross exposure 170.0% of equity at or above max 100.0%"


def test_names_every_rule_that_fires():
    steps = [NS_PER_HOUR] * 29 + [2 * NS_PER_HOUR]
    volumes = [100.0] * 30 + [1.0]
    script = exposure_script({"TEST-USD": [0.4]}, gross=[2.0])
    series = series_from_closes(calm(31), volumes=volumes, steps=steps)
    reason = votes_of(RiskAgent(), series, script=script)[-1].reason
    assert reason.startswith("veto: data gap of 2h crossed on this bar")
    assert "; volume 1 below 20% of its 24-bar average 100; exposure +40.0%" in reason
    assert reason.endswith("; gross exposure 200.0% of equity at or above max 100.0%")


def test_keeps_instruments_apart():
    btc = series_from_closes(calm(10), instrument="BTC-USD")
    eth = series_from_closes(calm(10), instrument="ETH-USD")
    script = exposure_script({"BTC-USD": [0.3], "ETH-USD": [0.0]})
    votes = votes_of(RiskAgent(), btc, eth, script=script)
    assert {vote.instrument for vote in votes if vote is not None} == {"BTC-USD"}
    assert sum(vote is not None for vote in votes) == 10


@pytest.mark.parametrize(
    "fields",
    [
        {"volatility_period": 1},
        {"max_volatility": -0.1},
        {"max_volatility": float("nan")},
        {"gap_multiple": 1.0},
        {"min_volume_ratio": 1.5},
        {"interval_ns": 0},
        {"max_drawdown": 0.1},
    ],
)
def test_config_refuses_bad_values(fields):
    with pytest.raises(ValidationError):
        RiskConfig(**fields)


@settings(max_examples=50, deadline=None)
@given(bar_series(min_bars=2, max_bars=120))
def test_a_volatility_limit_of_zero_vetoes_every_bar_once_warm(series):
    config = RiskConfig(volatility_period=5, max_volatility=0.0)
    votes = votes_of(RiskAgent(config), series)
    assert all(vote is not None and vote.veto for vote in votes[config.volatility_period :])


@settings(max_examples=50, deadline=None)
@given(bar_series(min_bars=2, max_bars=120))
def test_it_only_ever_abstains_or_vetoes(series):
    votes = votes_of(RiskAgent(RiskConfig(volatility_period=5, max_volatility=0.01)), series)
    for vote in votes:
        if vote is not None:
            assert (vote.direction, vote.confidence, vote.veto) == (Direction.HOLD, 1.0, True)
            assert vote.reason.startswith("veto: ")
