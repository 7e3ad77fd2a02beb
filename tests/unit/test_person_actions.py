"""What each action of a person does to the kill switch and the breaker (risk.person).

Stop and reset are what `coinswarm risk stop|reset` always did. Pause holds new orders and
flattens nothing; resume lifts a pause or a person's stop and nothing else: whatever a person
may do remotely, a loss limit's stop (total loss, losing days, a system error) and a breaker
the market latched stay until `reset`.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coinswarm.risk.circuit_breaker import BreakerEventKind, CircuitBreaker
from coinswarm.risk.errors import RiskStateError
from coinswarm.risk.kill_switch import KillSwitch, KillSwitchEventKind, StopKind
from coinswarm.risk.person import (
    apply_action,
    in_force,
    latched_by_person,
    machines,
    resume_blockers,
)
from coinswarm.risk.profiles import NS_PER_DAY, NS_PER_HOUR, profile_for
from coinswarm.risk.state_file import PersonAction, StoredRiskState

PAPER = profile_for(1)
DAY = 20_000 * NS_PER_DAY


def fresh() -> tuple[KillSwitch, CircuitBreaker]:
    return machines(StoredRiskState())


def act(kind: str, ts: int = DAY, reason: str = "why") -> PersonAction:
    return PersonAction.from_dict({"kind": kind, "by": "ada", "reason": reason, "ts": ts})


def total_loss(kill: KillSwitch) -> None:
    """Mark the account down 12% from its peak: the total-loss stop (and the daily one)."""
    kill.on_mark(DAY, Decimal(100))
    kill.on_mark(DAY + 1, Decimal(88))
    assert StopKind.TOTAL_LOSS in kill.stops


def market_latch(breaker: CircuitBreaker) -> None:
    """Trip the breaker on rapid losses until it latches, as the market would (the third
    trip of one UTC day latches; each cool-down is over before the next fall)."""
    ts = DAY
    for _ in range(breaker.settings.latch_after_trips):
        breaker.on_equity(ts, Decimal(100))
        breaker.on_equity(ts + 1, Decimal(80))
        ts += 5 * NS_PER_HOUR
    assert breaker.latched
    assert not breaker.allows_new_orders(ts)


def test_a_pause_blocks_new_exposure_cancels_orders_and_asks_for_no_flattening() -> None:
    kill, breaker = fresh()
    (event,) = apply_action(act("pause", reason="checking fills"), kill, breaker)
    assert event.kind is KillSwitchEventKind.PAUSE
    assert event.cancel_open_orders
    assert event.by == "ada"
    assert kill.stops == {StopKind.PAUSED: "checking fills"}
    assert not kill.allows_new_exposure(DAY)
    assert kill.allows_any_order(DAY)  # exits of the risk layer's own still go
    assert not breaker.tripped  # the breaker is not latched: nothing to reset by hand


def test_a_resume_lifts_a_pause() -> None:
    kill, breaker = fresh()
    apply_action(act("pause"), kill, breaker)
    (event,) = apply_action(act("resume", reason="all clear"), kill, breaker)
    assert event.kind is KillSwitchEventKind.RESUME
    assert not event.cancel_open_orders
    assert event.reason == "all clear (lifted PAUSED)"
    assert kill.stops == {}
    assert kill.allows_new_exposure(DAY)


def test_a_resume_lifts_a_person_s_stop_and_the_breaker_latch_it_set() -> None:
    kill, breaker = fresh()
    apply_action(act("stop", reason="odd fills"), kill, breaker)
    assert latched_by_person(kill, breaker)
    assert resume_blockers(kill, breaker) == []
    events = apply_action(act("resume", reason="fixed"), kill, breaker)
    assert [e.kind for e in events] == [KillSwitchEventKind.RESUME, BreakerEventKind.RESET]
    assert kill.stops == {}
    assert not breaker.tripped
    assert breaker.allows_new_orders(DAY)


def test_a_resume_keeps_a_total_loss_stop_and_says_so() -> None:
    kill, breaker = fresh()
    total_loss(kill)
    apply_action(act("pause"), kill, breaker)
    (blocker,) = resume_blockers(kill, breaker)
    assert blocker.startswith("a total-loss stop holds (total loss: equity 88 is 12% below")
    (event,) = apply_action(act("resume"), kill, breaker)
    assert "lifted PAUSED; still held: TOTAL_LOSS" in event.reason
    assert set(kill.stops) == {StopKind.TOTAL_LOSS}
    assert not kill.allows_new_exposure(DAY + 2)


def test_a_resume_keeps_a_breaker_the_market_latched() -> None:
    kill, breaker = fresh()
    market_latch(breaker)
    assert not latched_by_person(kill, breaker)
    assert resume_blockers(kill, breaker) == [
        f"the circuit breaker is latched ({breaker.state().reason})"
    ]
    assert apply_action(act("resume"), kill, breaker) == []
    assert breaker.latched


def test_a_person_s_stop_over_a_market_latch_counts_as_the_person_s() -> None:
    # The emergency stop writes its own reason over the market's: the file no longer knows
    # the market latched first, and the person who stopped may resume.
    kill, breaker = fresh()
    market_latch(breaker)
    apply_action(act("stop", reason="taking over"), kill, breaker)
    assert latched_by_person(kill, breaker)


def test_reset_still_clears_every_stop_a_person_waits_for() -> None:
    kill, breaker = fresh()
    total_loss(kill)
    apply_action(act("pause"), kill, breaker)
    events = apply_action(act("reset", reason="reviewed"), kill, breaker)
    assert [e.kind for e in events] == [KillSwitchEventKind.RESET, BreakerEventKind.RESET]
    assert kill.stops == {}


def test_in_force_applies_the_pending_actions() -> None:
    stored = StoredRiskState(actions=(act("pause"), act("resume"), act("stop", reason="late")))
    kill, breaker = in_force(stored)
    assert kill.stops == {StopKind.MANUAL: "late"}
    assert breaker.latched
    # The saved machines are untouched: a view never changes the file.
    assert stored.kill_switch.stops == {}


@pytest.mark.parametrize("kind", ["raise", "clear", "reset_limits", "", None, 3])
def test_an_unknown_action_is_refused_when_read(kind: object) -> None:
    with pytest.raises(RiskStateError, match="expected kind stop\\|reset\\|pause\\|resume"):
        PersonAction.from_dict({"kind": kind, "by": "ada", "reason": "x", "ts": 1})


LOSS_LIMIT_STOPS = [StopKind.TOTAL_LOSS, StopKind.LOSING_DAYS, StopKind.SYSTEM_ERROR]


@given(
    held=st.sets(st.sampled_from(LOSS_LIMIT_STOPS), min_size=1),
    actions=st.lists(st.sampled_from(["pause", "resume", "stop"]), max_size=12),
)
def test_no_sequence_of_pauses_resumes_and_stops_clears_a_loss_limit_stop(
    held: set[StopKind], actions: list[str]
) -> None:
    # What the API may send, in any order, never lifts what only `reset` may.
    kill, breaker = fresh()
    stops = {kind: f"{kind} by the market" for kind in held}
    kill = KillSwitch(PAPER, kill.state().__class__(stops=stops))
    for n, kind in enumerate(actions):
        apply_action(act(kind, ts=DAY + n, reason=f"step {n}"), kill, breaker)
        assert held <= set(kill.stops)
        assert resume_blockers(kill, breaker)
        assert not kill.allows_new_exposure(DAY + n)
