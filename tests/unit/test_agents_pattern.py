"""The pattern agent: proven patterns vote with their evidence, only on their own timeframe,
and one whose trades fall short of its out-of-sample record is demoted, saying why.

Bars are built so that a pattern's decisions are known in advance: `hour` conditions fire on
chosen bars, and each day's second bar sets the return of the trade it holds.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings

from agent_harness import first_divergence, run_agent, series_from_closes, votes_of
from coinswarm.agents.base import Direction
from coinswarm.agents.pattern import (
    PatternAgent,
    PatternAgentConfig,
    PatternTimeframeError,
    walk_forward_score,
)
from coinswarm.agents.registry import build_agent
from coinswarm.data import synthetic_market
from coinswarm.data.features import feature_values
from coinswarm.data.pattern_file import ExportedPattern
from coinswarm.domain.bar import NS_PER_HOUR
from coinswarm.domain.pattern import Condition, Exit, InvalidPatternError, Pattern, Side
from generators import bar_series
from proven_patterns import DSR, at_hour, daily_trades, flat, proven

NO_FEES = PatternAgentConfig(fee_rate=0.0)
MIDNIGHT_LONG = Pattern(at_hour(0), Side.LONG, Exit(2))
NOON_SHORT = Pattern(at_hour(12), Side.SHORT, Exit(2))
RSI_LONG = Pattern((Condition("rsi:14", "<", 30),), Side.LONG, Exit(5))


def test_a_long_pattern_buys_on_entry_holds_softer_and_sells_on_exit():
    votes = votes_of(PatternAgent([proven(MIDNIGHT_LONG)], NO_FEES), flat(30))
    assert [(v.direction, v.confidence) if v else None for v in votes[:4]] == [
        (Direction.BUY, DSR),  # hour 0's close: enter at the next open
        (Direction.BUY, DSR / 2),  # filled at hour 1's open, held
        (Direction.SELL, DSR),  # two bars held: leave at the next open
        None,  # flat and nothing to say: abstain
    ]
    assert votes[4:24] == [None] * 20
    assert votes[24] is not None
    assert votes[24].direction is Direction.BUY
    entry = votes[0]
    assert entry is not None
    assert entry.agent == "pattern"
    assert entry.size_hint == DSR
    pattern_id = MIDNIGHT_LONG.id
    assert entry.reason == (
        f"pattern {pattern_id} ({MIDNIGHT_LONG.describe()}) enters long at the next open "
        "[out-of-sample Sharpe 1.90 over 80 trades (+1.00% a trade), deflated Sharpe 0.97, "
        "PBO 0.10]"
    )
    assert "holds its long entered at 2020-01-01T01:00:00Z" in votes[1].reason  # type: ignore[union-attr]
    assert "exits its long at the next open" in votes[2].reason  # type: ignore[union-attr]


def test_a_short_pattern_asks_to_stay_out_of_long_exposure_and_never_buys():
    votes = votes_of(PatternAgent([proven(NOON_SHORT)], NO_FEES), flat(20))
    assert votes[:12] == [None] * 12
    enter, hold, leave = votes[12], votes[13], votes[14]
    assert enter is not None
    assert hold is not None
    assert leave is not None
    assert (enter.direction, enter.confidence) == (Direction.SELL, DSR)
    assert "spot cannot short, so this SELL asks to reduce or exit long exposure" in enter.reason
    assert (hold.direction, hold.confidence) == (Direction.SELL, DSR / 2)
    assert "stay out of long exposure" in hold.reason
    # Covering a short is a buy, but spot holds no short: the exit asks for nothing.
    assert (leave.direction, leave.confidence) == (Direction.HOLD, 0.0)
    assert "asks for no buy" in leave.reason
    assert votes[15] is None


def test_the_vote_fires_on_the_bar_the_condition_first_holds():
    closes = [100.0 * (1.01**i) for i in range(30)] + [130.0 * (0.985**i) for i in range(30)]
    series = series_from_closes(closes)
    rsi = feature_values("rsi:14", series)
    first = int(np.argmax(rsi < 30))
    assert rsi[first] < 30 <= np.nanmin(rsi[:first])
    votes = votes_of(PatternAgent([proven(RSI_LONG)]), series)
    assert votes[:first] == [None] * first
    assert votes[first] is not None
    assert votes[first].direction is Direction.BUY
    assert f"pattern {RSI_LONG.id} (long on 1h when rsi:14 < 30;" in votes[first].reason


def test_opposite_views_on_one_bar_make_one_vote_naming_both():
    both_at_noon = Pattern(at_hour(12), Side.LONG, Exit(2))
    agent = PatternAgent([proven(both_at_noon), proven(NOON_SHORT)], NO_FEES)
    vote = votes_of(agent, flat(14))[12]
    assert vote is not None
    assert (vote.direction, vote.confidence) == (Direction.HOLD, 0.0)
    assert vote.reason.startswith("patterns disagree (buy 0.97 against sell 0.97): ")
    assert both_at_noon.id in vote.reason
    assert NOON_SHORT.id in vote.reason
    # A held long against a fresh short entry: the entry is the stronger voice.
    early_long = Pattern(at_hour(11), Side.LONG, Exit(3))
    agent = PatternAgent([proven(early_long), proven(NOON_SHORT)], NO_FEES)
    vote = votes_of(agent, flat(14))[12]
    assert vote is not None
    assert vote.direction is Direction.SELL
    assert math.isclose(vote.confidence, DSR - DSR / 2)


def test_without_a_proven_pattern_the_agent_abstains_on_every_bar():
    market = synthetic_market(instrument="TEST-USD", bars=500, seed=3)
    others = [proven(RSI_LONG, status="candidate"), proven(MIDNIGHT_LONG, status="rejected")]
    assert set(votes_of(PatternAgent(others), market)) == {None}
    assert set(votes_of(build_agent("pattern"), market)) == {None}  # the registry's: none
    assert PatternAgent(others).patterns == ()


def test_a_pattern_trades_only_the_timeframe_it_was_found_on():
    hourly = proven(MIDNIGHT_LONG)
    with pytest.raises(PatternTimeframeError) as refused:
        PatternAgent([hourly], timeframe="4h")
    message = str(refused.value)
    assert f"pattern {MIDNIGHT_LONG.id} ({MIDNIGHT_LONG.describe()})" in message
    assert "found on 1h bars" in message
    assert "the run's bars are 4h" in message
    PatternAgent([hourly], timeframe="1h")  # its own timeframe is fine
    four_hourly = series_from_closes([100.0] * 10, interval_ns=4 * NS_PER_HOUR)
    with pytest.raises(PatternTimeframeError, match="TEST-USD's bars are 4h"):
        votes_of(PatternAgent([hourly]), four_hourly)


def test_a_proven_pattern_without_its_walk_forward_evidence_is_refused():
    bare = ExportedPattern(MIDNIGHT_LONG, "proven")
    with pytest.raises(InvalidPatternError, match="expected a walk-forward out-of-sample score"):
        PatternAgent([bare])
    no_spread = proven(MIDNIGHT_LONG, std=0.0)
    with pytest.raises(InvalidPatternError, match="positive mean and deviation"):
        PatternAgent([no_spread])
    assert walk_forward_score(proven(MIDNIGHT_LONG).pattern).trade_std == 0.01


def test_a_pattern_whose_trades_decay_is_demoted_and_says_why():
    agent = PatternAgent([proven(Pattern(at_hour(0), Side.LONG, Exit(1)))], NO_FEES)
    votes = votes_of(agent, daily_trades([-0.018] * 4))
    # Trades close at the open of each day's third bar (index 2, 26, ...), each -1.8% against
    # +1% +- 1% out of sample. The SPRT's log-LR climbs 2.3 a trade and passes log(0.9/0.01)
    # = 4.5 at the second; the CUSUM, at 4.6, has not yet passed h = 5.
    assert votes[1] is not None
    assert votes[1].direction is Direction.SELL  # one bar held: leave at the next open
    assert votes[2] is None  # the first trade closed, and the monitors keep the pattern
    demoted = votes[26]
    assert demoted is not None
    assert (demoted.direction, demoted.confidence) == (Direction.HOLD, 0.0)
    assert demoted.reason == (
        f"pattern {agent.patterns[0].id} ({agent.patterns[0].describe()}) demoted at "
        "2020-01-02T02:00:00Z on TEST-USD: SPRT log-LR 4.60 >= 4.50 after 2 trades: mean "
        "outcome -1.8% vs +1.0% out-of-sample (H1 +0.0%); it votes no more in this run"
    )
    assert votes[27:] == [None] * (len(votes) - 27)  # midnights 2 and 3 pass in silence
    assert agent.notes() == (demoted.reason,)
    assert agent.demotions[0].trades == 2


def test_a_pattern_whose_trades_hold_up_is_kept():
    agent = PatternAgent([proven(Pattern(at_hour(0), Side.LONG, Exit(1)))], NO_FEES)
    votes = votes_of(agent, daily_trades([0.01, 0.0, 0.02, 0.01] * 8))
    entries = [i for i, v in enumerate(votes) if v is not None and v.direction is Direction.BUY]
    assert [i for i in entries if i % 24 == 0] == list(range(0, 32 * 24, 24))
    assert agent.demotions == []
    assert all("demoted" not in v.reason for v in votes if v is not None)


def test_a_demotion_on_one_instrument_exits_the_long_it_holds_on_another():
    # A's stop loss closes each trade at once at -2%; B, flat, holds until its time is up.
    rule = Pattern(at_hour(0), Side.LONG, Exit(5, take_profit=0.015, stop_loss=0.015))
    agent = PatternAgent([proven(rule)], NO_FEES)
    falling, still = daily_trades([-0.02] * 3, "A-USD"), flat(72, "B-USD")
    steps = run_agent(agent, falling, still)
    on = {(s.bar.instrument, (s.bar.ts - int(still.ts[0])) // NS_PER_HOUR): s.vote for s in steps}
    demoted = on["A-USD", 26]
    assert demoted is not None
    assert "demoted" in demoted.reason
    farewell = on["B-USD", 26]
    assert farewell is not None
    assert (farewell.direction, farewell.confidence) == (Direction.SELL, DSR)
    assert "was demoted (see the notes), so its long here has no reason left: exit" in (
        farewell.reason
    )
    assert all(on[name, hour] is None for name in ("A-USD", "B-USD") for hour in range(27, 72))


def test_votes_on_a_prefix_equal_the_first_votes_on_the_whole():
    market = [synthetic_market(instrument="TEST-USD", bars=2000, seed=11)]
    patterns = [
        proven(RSI_LONG),
        proven(Pattern((Condition("rsi:14", ">", 70),), Side.SHORT, Exit(8))),
    ]
    votes = votes_of(PatternAgent(patterns), *market)
    assert {v.direction for v in votes if v is not None} == {
        Direction.BUY, Direction.SELL, Direction.HOLD
    }  # fmt: skip
    for bars in (40, 999, 1999):
        end_ns = int(market[0].ts[bars])
        assert first_divergence(lambda _: PatternAgent(patterns), market, end_ns) is None


@settings(max_examples=30, deadline=None)
@given(bar_series(min_bars=2, max_bars=150))
def test_every_vote_is_well_formed_and_repeatable_on_any_market(series):
    patterns = [proven(RSI_LONG), proven(NOON_SHORT)]
    votes = votes_of(PatternAgent(patterns), series)
    assert votes == votes_of(PatternAgent(patterns), series)
    for vote in votes:
        if vote is not None:
            assert 0.0 <= vote.confidence == vote.size_hint <= 1.0
            assert vote.reason
            assert not vote.veto
