"""CUSUM and SPRT on a proven pattern's trades (domain.decay): an unchanged pattern is kept,
a broken one demoted in bounded time, and a monitor fed one trade at a time agrees with the
vectorised run to the last bit."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coinswarm.domain.decay import Cusum, DecayDecision, Sprt, Verdict

OOS_MEAN, OOS_STD = 0.009, 0.02  # +0.9% a trade out of sample, 2% spread


def sequences(mean: float, count: int, trades: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(mean, OOS_STD, (count, trades))


TESTS = [Cusum(OOS_MEAN, OOS_STD), Sprt(OOS_MEAN, OOS_STD)]


@pytest.mark.parametrize(
    ("test", "most"), [(TESTS[0], 0.12), (TESTS[1], 0.04)], ids=["cusum", "sprt"]
)
def test_an_unchanged_pattern_is_kept(test, most):
    decisions = [test.run(outcomes) for outcomes in sequences(OOS_MEAN, 300, 100, seed=1)]
    demoted = sum(d.verdict is Verdict.DEMOTE for d in decisions)
    # CUSUM k=0.5, h=5 fires by chance after about 1,000 trades on average (so within 100
    # trades about 9% of the time); each SPRT run (about 23 trades here) demotes with chance
    # at most alpha = 1%.
    assert demoted / len(decisions) <= most


def test_the_sprt_accepts_an_unchanged_pattern_and_watches_on():
    test = Sprt(OOS_MEAN, OOS_STD)
    decisions = [test.run(outcomes) for outcomes in sequences(OOS_MEAN, 300, 200, seed=2)]
    kept = [d for d in decisions if d.verdict is Verdict.KEEP]
    assert len(kept) / len(decisions) >= 0.9
    # A run accepts H0 after about 23 trades here, then the test starts again.
    assert float(np.median([d.accepted for d in kept])) >= 5


@pytest.mark.parametrize(
    ("test", "bound", "typical"), [(TESTS[0], 150, 30), (TESTS[1], 100, 30)], ids=["cusum", "sprt"]
)
def test_a_pattern_losing_money_is_demoted_in_bounded_time(test, bound, typical):
    # -0.4% a trade against +0.9% out of sample: 0.65 standard deviations lower.
    decisions = [test.run(outcomes) for outcomes in sequences(-0.004, 300, bound, seed=3)]
    assert all(d.verdict is Verdict.DEMOTE for d in decisions)
    crossings = np.array([d.crossed_at for d in decisions], dtype=float)
    assert float(np.median(crossings)) < typical


def test_cusum_statistic_by_hand():
    # z = (x - 0.009) / 0.02; each step adds -z - 0.5, floored at 0.
    outcomes = [0.029, -0.011, -0.031, -0.051]  # z = 1, -1, -2, -3
    decision = Cusum(OOS_MEAN, OOS_STD, drift=0.5, threshold=4.0).run(outcomes)
    # S: max(0, -1.5) = 0, 0.5, 2.0, 4.5 > 4 at the fourth trade.
    assert decision.statistic == pytest.approx(4.5)
    assert decision.crossed_at == 3
    assert decision.verdict is Verdict.DEMOTE
    assert decision.reason == (
        "CUSUM 4.5 > h=4.0 after 4 trades: mean outcome -1.6% vs +0.9% out-of-sample"
    )


def test_sprt_statistic_by_hand():
    test = Sprt(OOS_MEAN, OOS_STD, h1_mean=0.0, alpha=0.05, beta=0.10)
    assert test.demote_at == pytest.approx(np.log(0.9 / 0.05))  # 2.89
    assert test.keep_at == pytest.approx(np.log(0.1 / 0.95))  # -2.25
    # log LR of one outcome: (0 - 0.009) / 0.02^2 * (x - 0.0045) = 1.22625 for x = -5%.
    two = test.run([-0.05, -0.05])
    assert two.statistic == pytest.approx(2 * 1.22625)
    assert (two.verdict, two.crossed_at) == (Verdict.KEEP, None)
    assert two.reason == (
        "SPRT log-LR 2.45 within (-2.25, 2.89) after 2 trades: mean outcome -5.0% vs +0.9%"
        " out-of-sample (H1 +0.0%)"
    )
    three = test.run([-0.05, -0.05, -0.05])
    assert three.statistic == pytest.approx(3 * 1.22625)
    assert (three.verdict, three.crossed_at) == (Verdict.DEMOTE, 2)
    assert three.reason.startswith("SPRT log-LR 3.68 >= 2.89 after 3 trades")
    # Outcomes at +2.9% add -22.5 * 0.0245 = -0.55125 each: H0 accepted at the fifth, and
    # the sixth starts a new run.
    five = test.run([0.029] * 5)
    assert (five.verdict, five.crossed_at, five.accepted) == (Verdict.KEEP, None, 1)
    assert five.statistic == pytest.approx(5 * -0.55125)
    assert five.reason == (
        "SPRT log-LR -2.76 <= -2.25 (H0 accepted, restarting) after 5 trades: mean outcome"
        " +2.9% vs +0.9% out-of-sample (H1 +0.0%); runs that accepted H0: 1"
    )
    six = test.run([0.029] * 6)
    assert (six.statistic, six.accepted) == (pytest.approx(-0.55125), 1)
    # A run that accepted H0 does not shield the pattern from the next one.
    broken = test.run([0.029] * 5 + [-0.05] * 3)
    assert (broken.verdict, broken.crossed_at, broken.accepted) == (Verdict.DEMOTE, 7, 1)


def test_a_decision_is_final_once_crossed():
    test = Cusum(OOS_MEAN, OOS_STD)
    outcomes = np.concatenate([np.full(20, -0.05), np.full(200, 0.05)])
    decision = test.run(outcomes)
    assert decision.verdict is Verdict.DEMOTE
    assert decision.trades == 220
    assert decision.mean_outcome == pytest.approx(-0.05)  # up to the crossing
    assert decision.reason.endswith(
        f"after {decision.crossed_at + 1} trades: mean outcome -5.0% vs +0.9% out-of-sample"
    )


def test_no_trades_yet_means_keep():
    for test in TESTS:
        decision = test.run([])
        assert (decision.verdict, decision.trades, decision.crossed_at) == (Verdict.KEEP, 0, None)
        assert test.monitor().decision() == decision


def every_prefix(test: Cusum | Sprt, outcomes: np.ndarray) -> list[DecayDecision]:
    return [test.run(outcomes[:end]) for end in range(1, outcomes.size + 1)]


@settings(max_examples=80)
@given(
    seed=st.integers(0, 2**32 - 1),
    trades=st.integers(0, 120),
    live_mean=st.floats(-0.03, 0.03),
    oos_mean=st.floats(0.001, 0.02),
    oos_std=st.floats(0.002, 0.05),
    drift=st.floats(0.0, 1.5),
    threshold=st.floats(0.5, 8.0),
    alpha=st.floats(0.001, 0.2),
    beta=st.floats(0.001, 0.3),
    h1_share=st.floats(-2.0, 0.9),
)
def test_a_monitor_fed_one_trade_at_a_time_equals_the_run(
    seed, trades, live_mean, oos_mean, oos_std, drift, threshold, alpha, beta, h1_share
):
    outcomes = np.random.default_rng(seed).normal(live_mean, oos_std, trades)
    for test in (
        Cusum(oos_mean, oos_std, drift=drift, threshold=threshold),
        Sprt(oos_mean, oos_std, h1_mean=h1_share * oos_mean, alpha=alpha, beta=beta),
    ):
        monitor = test.monitor()
        streamed = [monitor.update(float(x)) for x in outcomes]
        assert streamed == every_prefix(test, outcomes)
        assert monitor.decision() == test.run(outcomes)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Cusum(0.01, 0.0), "oos_std"),
        (lambda: Cusum(0.01, 0.02, threshold=0.0), "threshold"),
        (lambda: Sprt(0.01, 0.02, h1_mean=0.01), "h1_mean"),
        (lambda: Sprt(-0.01, 0.02), "h1_mean"),
        (lambda: Sprt(0.01, 0.02, alpha=0.7), "alpha"),
    ],
)
def test_bad_specifications_are_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_non_finite_outcomes_are_refused():
    with pytest.raises(ValueError, match="finite"):
        Cusum(OOS_MEAN, OOS_STD).run([0.01, float("nan")])
    with pytest.raises(ValueError, match="finite"):
        Sprt(OOS_MEAN, OOS_STD).monitor().update(float("inf"))
