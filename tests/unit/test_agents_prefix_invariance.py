"""Every registered agent votes on bar t from bars up to t only, deterministically and fast.

The checks loop over the registry, so an agent added to it later is checked without a new
test. A planted leaky agent, defined here and never registered, proves that the
prefix-invariance check catches an agent that peeks at the future through a side channel.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from pydantic import ValidationError

from agent_harness import cut, exposure_script, first_divergence, run_agent, votes_of
from coinswarm.agents.base import AgentContext, Direction, Vote
from coinswarm.agents.registry import (
    AGENTS,
    UnknownAgentError,
    agent_names,
    build_agent,
)
from coinswarm.data import load_bars, synthetic_market, synthetic_universe
from coinswarm.domain.bar import Bar
from generators import bar_series

# Built from the registry the pattern agent holds no patterns and abstains on every bar, which
# would pass these checks vacuously; test_agents_pattern.py runs them on it with patterns.
NAMES = tuple(name for name in agent_names() if name != "pattern")
SEEDS = (3, 11, 2024)
BARS = 3000
CUTS = (30, 1234, 2999)  # inside the warm-up, in the middle, and one bar short of the end


def scripted_exposures(instruments):
    """Return exposures that move with the step number alone, so prefixes see the same ones."""
    steps = range(BARS * len(instruments))
    path = [0.3 if (step // 150) % 4 == 0 else 0.05 for step in steps]
    gross = [1.2 if (step // 400) % 5 == 0 else 0.4 for step in steps]
    return exposure_script(dict.fromkeys(instruments, path), gross=gross)


def honest(name):
    return lambda _market: build_agent(name)


def kinds(votes):
    return {None if vote is None else (vote.direction, vote.veto) for vote in votes}


@pytest.fixture(scope="module", params=SEEDS)
def market(request):
    return [synthetic_market(instrument="SYN-USDT", bars=BARS, seed=request.param)]


@pytest.mark.parametrize("name", NAMES)
def test_votes_on_a_prefix_equal_the_first_votes_on_the_full_market(name, market):
    script = scripted_exposures(["SYN-USDT"])
    for bars in CUTS:
        end_ns = int(market[0].ts[bars])
        assert first_divergence(honest(name), market, end_ns, script) is None, (name, bars)
    # Not vacuous: the agent says different things over the run.
    assert len(kinds(votes_of(build_agent(name), *market, script=script))) >= 2


@pytest.mark.parametrize("name", NAMES)
def test_prefix_invariance_holds_across_instruments(name):
    universe = synthetic_universe({"BTC-USDT": 30_000.0, "ETH-USDT": 2_000.0}, bars=1500, seed=7)
    script = scripted_exposures(["BTC-USDT", "ETH-USDT"])
    end_ns = int(universe[0].ts[900])
    assert first_divergence(honest(name), universe, end_ns, script) is None


@pytest.mark.parametrize("name", NAMES)
def test_one_agent_serves_several_instruments_as_separate_agents_would(name):
    btc, eth = synthetic_universe({"BTC-USDT": 30_000.0, "ETH-USDT": 2_000.0}, bars=1200, seed=5)
    together = run_agent(build_agent(name), btc, eth)
    for series in (btc, eth):
        alone = votes_of(build_agent(name), series)
        assert [s.vote for s in together if s.bar.instrument == series.instrument] == alone


@pytest.fixture(scope="module")
def btc_slice(btc_file):
    """Return 3,000 real hourly bars whose bar 1500 is the first after a gap in the data."""
    series = load_bars(btc_file)
    after_gaps = np.nonzero(np.diff(series.ts) != series.interval_ns)[0] + 1
    start = int(after_gaps[after_gaps >= 1500][0]) - 1500
    return series.between(int(series.ts[start]), int(series.ts[start + 3000]))


@pytest.mark.parametrize("name", NAMES)
def test_prefix_invariance_on_real_btc_bars(name, btc_slice):
    script = scripted_exposures([btc_slice.instrument])
    for bars in (1499, 1501, 2500):  # just before, just after the gap, and later
        end_ns = int(btc_slice.ts[bars])
        assert first_divergence(honest(name), [btc_slice], end_ns, script) is None, bars


def test_the_risk_agent_vetoes_the_bars_after_a_real_gap(btc_slice):
    votes = votes_of(build_agent("risk"), btc_slice)
    assert all("data gap of" in votes[i].reason for i in (1500, 1501, 1502))


class PeekingAgent:
    """A careless agent: handed the data at construction, it looks one bar ahead.

    It is what a developer writes who passes the backtest's series to an agent "to save
    recomputing": the votes look brilliant and are worthless.
    """

    name = "peeking"

    def __init__(self, market):
        self._closes = {s.instrument: s.close for s in market}
        self._rows = {s.instrument: {int(ts): i for i, ts in enumerate(s.ts)} for s in market}

    def observe(self, bar: Bar, context: AgentContext) -> Vote | None:
        closes = self._closes[bar.instrument]
        row = self._rows[bar.instrument][bar.ts]
        if row + 1 >= len(closes):
            return Vote(self.name, bar.instrument, Direction.HOLD, 0.0, 0.0, "no tomorrow")
        direction = Direction.BUY if closes[row + 1] > bar.close else Direction.SELL
        return Vote(self.name, bar.instrument, direction, 1.0, 1.0, "tomorrow's close")


def test_the_check_catches_an_agent_that_peeks_at_the_future(market):
    for bars in CUTS:
        end_ns = int(market[0].ts[bars])
        # The last bar of the prefix is the first one whose future the prefix run lacks.
        assert first_divergence(PeekingAgent, market, end_ns) == bars - 1


def test_the_check_catches_a_peeking_agent_on_several_instruments():
    universe = synthetic_universe({"BTC-USDT": 30_000.0, "ETH-USDT": 2_000.0}, bars=300, seed=1)
    end_ns = int(universe[0].ts[200])
    # Bars are merged in time order, BTC first: BTC's bar 199, the first to lose its
    # tomorrow, is step 398.
    assert first_divergence(PeekingAgent, universe, end_ns) == 398


@pytest.mark.parametrize("name", NAMES)
def test_votes_are_deterministic(name, market):
    script = scripted_exposures(["SYN-USDT"])
    short = cut(market[0], 1000)
    assert votes_of(build_agent(name), short, script=script) == votes_of(
        build_agent(name), short, script=script
    )


@settings(max_examples=40, deadline=None)
@given(bar_series(min_bars=2, max_bars=120))
def test_every_vote_is_well_formed_and_repeatable_on_any_market(series):
    for name in NAMES:
        votes = votes_of(build_agent(name), series)
        assert votes == votes_of(build_agent(name), series)
        for vote in votes:
            if vote is None:
                continue
            assert (vote.agent, vote.instrument) == (name, series.instrument)
            assert 0.0 <= vote.confidence <= 1.0
            assert 0.0 <= vote.size_hint <= 1.0
            assert vote.reason
            assert not vote.veto or vote.direction is Direction.HOLD


def test_the_registry_builds_each_agent_under_its_own_name_from_its_defaults():
    assert agent_names() == ("trend", "mean_reversion", "risk", "pattern")
    for name, (config_type, factory) in AGENTS.items():
        agent = factory(config_type())
        assert agent.name == name
        assert build_agent(name).name == name


def test_build_agent_validates_a_mapping_into_the_agents_config():
    agent = build_agent("trend", {"fast": 5, "slow": 10})
    assert (agent.config.fast, agent.config.slow) == (5, 10)  # type: ignore[attr-defined]
    with pytest.raises(ValidationError):
        build_agent("trend", {"fast": 5, "slow": 10, "colour": "red"})


def test_build_agent_refuses_an_unknown_name_and_a_foreign_config():
    with pytest.raises(UnknownAgentError, match="expected an agent name among"):
        build_agent("astrology")
    with pytest.raises(TypeError, match="expected a TrendConfig, found a RiskConfig"):
        build_agent("trend", AGENTS["risk"].config_type())
