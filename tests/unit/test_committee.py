"""The committee: weights from track records, quorum, threshold, and the veto that always wins."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coinswarm.agents.base import Direction, Vote
from coinswarm.agents.committee import Committee, CommitteeConfig

BUY, HOLD, SELL = Direction.BUY, Direction.HOLD, Direction.SELL


def vote(agent, direction, confidence=1.0, size=1.0, veto=False):
    return Vote(agent, "BTC-USDT", direction, confidence, size, f"{agent} says so", veto)


def test_a_confident_majority_buys_and_sizes_by_the_agreeing_agents():
    committee = Committee(CommitteeConfig(quorum=2, threshold=0.25))
    verdict = committee.decide(
        "BTC-USDT",
        1,
        100.0,
        [vote("a", BUY, 0.8, 0.5), vote("b", BUY, 0.6, 1.0), vote("c", HOLD, 0)],
    )
    assert verdict.direction is BUY
    assert verdict.score == pytest.approx((0.8 + 0.6) / 3)
    assert verdict.size == pytest.approx(0.75)
    assert verdict.weights == (0.5, 0.5, 0.5)


def test_below_quorum_or_threshold_the_committee_holds():
    committee = Committee(CommitteeConfig(quorum=3, threshold=0.25))
    assert committee.decide("BTC-USDT", 1, 1.0, [vote("a", BUY), vote("b", BUY)]).direction is HOLD
    weak = Committee(CommitteeConfig(quorum=1, threshold=0.5))
    verdict = weak.decide("BTC-USDT", 1, 1.0, [vote("a", BUY, 0.9), vote("b", SELL, 0.5)])
    assert verdict.direction is HOLD
    assert "threshold" in verdict.reason


def test_a_veto_beats_a_unanimous_buy_but_not_an_exit():
    committee = Committee(CommitteeConfig(quorum=2))
    votes = [vote("a", BUY), vote("b", BUY), vote("risk", HOLD, veto=True)]
    verdict = committee.decide("BTC-USDT", 1, 1.0, votes)
    assert verdict.direction is HOLD
    assert verdict.vetoed_by == ("risk",)
    assert "vetoed by risk" in verdict.reason
    exit_votes = [vote("a", SELL), vote("b", SELL), vote("risk", HOLD, veto=True)]
    assert committee.decide("BTC-USDT", 2, 1.0, exit_votes).direction is SELL


def test_track_records_score_a_vote_only_once_the_next_close_is_known():
    committee = Committee(CommitteeConfig(quorum=1, decay=1.0))
    committee.decide("BTC-USDT", 1, 100.0, [vote("right", BUY), vote("wrong", SELL)])
    assert committee.weight("right") == committee.weight("wrong") == 0.5  # nothing known yet
    committee.decide("BTC-USDT", 2, 110.0, [])
    assert committee.weight("right") == pytest.approx(2 / 3)
    assert committee.weight("wrong") == pytest.approx(1 / 3)


def test_weights_follow_each_instrument_separately():
    committee = Committee(CommitteeConfig(quorum=1, decay=1.0))
    committee.decide("BTC-USDT", 1, 100.0, [vote("a", BUY)])
    committee.decide("ETH-USDT", 1, 10.0, [])
    committee.decide("ETH-USDT", 2, 5.0, [])  # ETH fell, but "a" voted on BTC
    assert committee.weight("a") == 0.5


votes_strategy = st.lists(
    st.builds(
        vote,
        st.sampled_from(["trend", "mean_reversion", "x", "y"]),
        st.sampled_from([BUY, HOLD, SELL]),
        st.floats(0, 1),
        st.floats(0, 1),
        st.booleans(),
    ),
    max_size=8,
)


@given(st.lists(st.tuples(votes_strategy, st.floats(1, 1000)), min_size=1, max_size=30))
def test_a_risk_veto_is_never_outvoted(history):
    committee = Committee(CommitteeConfig(quorum=1, threshold=0.01))
    for ts, (votes, close) in enumerate(history):
        verdict = committee.decide("BTC-USDT", ts, close, votes)
        assert -1.0 <= verdict.score <= 1.0
        assert 0.0 <= verdict.size <= 1.0
        if any(v.veto for v in votes):
            assert verdict.direction is not BUY
