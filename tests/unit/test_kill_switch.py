"""The kill switch: a daily stop lifts with the UTC day; the other stops wait for a person."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coinswarm.risk.errors import RiskInputError, RiskStateError
from coinswarm.risk.kill_switch import (
    KillSwitch,
    KillSwitchEventKind,
    KillSwitchState,
    StopKind,
)
from coinswarm.risk.profiles import NS_PER_DAY, NS_PER_SECOND, profile_for
from generators import START_NS

D = Decimal
HOUR = 3600 * NS_PER_SECOND
DAY1 = START_NS  # 2020-01-01T00:00:00Z
DAY2 = DAY1 + NS_PER_DAY
K = KillSwitchEventKind


def kinds(events) -> list[KillSwitchEventKind]:
    return [event.kind for event in events]


def switch(phase: int = 0) -> KillSwitch:
    return KillSwitch(profile_for(phase))


def test_a_quiet_account_is_never_stopped():
    kill = switch()
    assert kill.on_mark(DAY1, D(10_000)) == ()
    assert kill.on_mark(DAY1 + HOUR, D(9_600)) == ()  # -4%, under the 5% daily limit
    assert kill.allows_new_exposure(DAY1 + HOUR)
    assert kill.allows_any_order(DAY1 + HOUR)


def test_the_daily_stop_blocks_new_exposure_until_the_next_utc_day():
    kill = switch()
    kill.on_mark(DAY1 + HOUR, D(10_000))
    events = kill.on_mark(DAY1 + 10 * HOUR, D(9_500))
    assert kinds(events) == [K.DAILY_LOSS_STOP]
    assert events[0].cancel_open_orders
    assert events[0].reason.startswith(
        "daily loss: equity 9500 is 5% below the day's opening 10000, max 5%"
    )
    assert not kill.allows_new_exposure(DAY1 + 10 * HOUR)
    assert kill.allows_any_order(DAY1 + 10 * HOUR)  # exits stay allowed
    assert kill.on_mark(DAY1 + 11 * HOUR, D(10_200)) == ()  # a rebound does not lift it
    assert not kill.allows_new_exposure(DAY2 - 1)
    assert kill.allows_new_exposure(DAY2)  # at 00:00 UTC, before any mark
    lifted = kill.on_mark(DAY2 + 5 * NS_PER_SECOND, D(10_200))
    assert kinds(lifted) == [K.DAILY_LOSS_LIFTED]
    assert not lifted[0].cancel_open_orders
    assert kill.allows_new_exposure(DAY2 + HOUR)


def test_the_daily_loss_is_measured_from_the_days_first_mark():
    kill = switch()
    kill.on_mark(DAY1, D(10_000))
    kill.on_mark(DAY1 + 23 * HOUR, D(9_600))
    assert kill.on_mark(DAY2, D(9_600)) == ()
    assert kinds(kill.on_mark(DAY2 + HOUR, D(9_120))) == [K.DAILY_LOSS_STOP]  # 5% of 9600


def test_a_wall_clock_jumping_back_does_not_reopen_a_day_or_lift_a_stop_twice():
    kill = switch()
    kill.on_mark(DAY1 + 10 * HOUR, D(10_000))
    kill.on_mark(DAY2 + 60 * NS_PER_SECOND, D(10_000))
    kill.on_mark(DAY2 + HOUR, D(9_400))  # daily stop on day 2
    # The clock jumps back three minutes across midnight and forward again.
    assert kill.on_mark(DAY2 - 120 * NS_PER_SECOND, D(9_400)) == ()
    assert not kill.allows_new_exposure(DAY2 - 120 * NS_PER_SECOND)
    assert not kill.allows_new_exposure(DAY2 + 2 * HOUR)
    assert kinds(kill.events) == [K.DAILY_LOSS_STOP]


def test_the_total_loss_stop_holds_across_days_until_a_person_resets_it():
    kill = switch()
    kill.on_mark(DAY1, D(10_000))
    kill.on_mark(DAY1 + HOUR, D(11_000))  # the peak
    assert kill.on_mark(DAY2, D(10_000)) == ()
    events = kill.on_mark(DAY2 + HOUR, D(9_900))  # 10% below 11000
    assert kinds(events) == [K.TOTAL_LOSS_STOP]
    assert "9900 is 10% below the peak 11000, max 10%" in events[0].reason
    for days in range(1, 30):
        kill.on_mark(DAY2 + days * NS_PER_DAY, D(9_950))
        assert not kill.allows_new_exposure(DAY2 + days * NS_PER_DAY)
    assert kill.stops.keys() == {StopKind.TOTAL_LOSS}
    reset = kill.reset(DAY2 + 30 * NS_PER_DAY, by="alice", reason="strategy reviewed")
    assert reset.kind is K.RESET
    assert reset.reason == "strategy reviewed (cleared TOTAL_LOSS)"
    assert kill.allows_new_exposure(DAY2 + 30 * NS_PER_DAY)
    # The peak is re-based to the last mark, so the same equity does not stop it again.
    assert kill.on_mark(DAY2 + 30 * NS_PER_DAY + HOUR, D(9_950)) == ()
    assert kill.state().peak_equity == D(9_950)


def test_a_reset_needs_a_person_and_leaves_the_daily_stop_alone():
    kill = switch()
    kill.on_mark(DAY1, D(10_000))
    kill.on_mark(DAY1 + HOUR, D(9_000))  # daily and total at once
    assert kill.stops.keys() == {StopKind.TOTAL_LOSS}
    with pytest.raises(RiskStateError, match="name the person"):
        kill.reset(DAY1 + HOUR, by="", reason="oops")
    kill.reset(DAY1 + 2 * HOUR, by="alice", reason="checked")
    assert not kill.allows_new_exposure(DAY1 + 2 * HOUR)
    assert kill.allows_new_exposure(DAY2)


def test_three_losing_days_in_a_row_stop_phase_three():
    kill = switch(3)
    equity = D(10_000)
    for day in range(3):
        start = DAY1 + day * NS_PER_DAY
        assert kill.on_mark(start, equity) == ()
        equity -= D(50)  # 0.5% a day: under the daily limit
        kill.on_mark(start + 20 * HOUR, equity)
    assert kill.state().losing_streak == 2  # the third day is judged when it closes
    day4 = DAY1 + 3 * NS_PER_DAY
    assert not kill.allows_new_exposure(day4)  # no slipping through before the first mark
    events = kill.on_mark(day4, equity)
    assert kinds(events) == [K.LOSING_DAYS_STOP]
    assert events[0].reason.startswith("3 losing days in a row, max 3")
    assert not kill.allows_new_exposure(day4 + 5 * NS_PER_DAY)
    kill.reset(day4 + HOUR, by="carol", reason="reviewed")
    assert kill.state().losing_streak == 0
    assert kill.allows_new_exposure(day4 + HOUR)


def test_a_winning_or_flat_day_breaks_the_streak():
    kill = switch(3)
    marks = [(10_000, 9_950), (9_950, 9_900), (9_900, 9_900), (9_900, 9_850), (9_850, 9_800)]
    for day, (opening, closing) in enumerate(marks):
        kill.on_mark(DAY1 + day * NS_PER_DAY, D(opening))
        kill.on_mark(DAY1 + day * NS_PER_DAY + 20 * HOUR, D(closing))
    kill.on_mark(DAY1 + 5 * NS_PER_DAY, D(9_800))
    assert kill.state().losing_streak == 2
    assert kill.allows_new_exposure(DAY1 + 5 * NS_PER_DAY)


def test_phase_four_waits_for_five_losing_days_and_training_has_no_streak_rule():
    for phase, days in ((4, 5), (0, None)):
        kill = switch(phase)
        equity = D(10_000)
        for day in range(8):
            kill.on_mark(DAY1 + day * NS_PER_DAY, equity)
            equity -= D(10)
            kill.on_mark(DAY1 + day * NS_PER_DAY + HOUR, equity)
            if days is None or day < days:
                assert kill.allows_new_exposure(DAY1 + day * NS_PER_DAY + HOUR), (phase, day)
        assert (StopKind.LOSING_DAYS in kill.stops) == (days is not None)


def test_a_system_error_halts_every_order_on_real_money():
    kill = switch(3)
    kill.on_mark(DAY1, D(5_000))
    events = kill.on_system_error(DAY1 + HOUR, "ledger and exchange disagree on BTC")
    assert kinds(events) == [K.SYSTEM_ERROR_STOP]
    assert not kill.allows_new_exposure(DAY1 + HOUR)
    assert not kill.allows_any_order(DAY1 + HOUR)
    assert kill.on_system_error(DAY1 + 2 * HOUR, "again") == ()  # already halted
    kill.reset(DAY1 + 3 * HOUR, by="dave", reason="reconciled")
    assert kill.allows_any_order(DAY1 + 3 * HOUR)


def test_a_system_error_is_left_to_the_breaker_on_training_phases():
    kill = switch(1)
    assert kill.on_system_error(DAY1, "websocket stale") == ()
    assert kill.allows_new_exposure(DAY1)


def test_a_manual_stop_blocks_exposure_but_lets_positions_be_flattened():
    kill = switch(3)
    event = kill.manual_stop(DAY1, "going on holiday", by="erin")
    assert event.kind is K.MANUAL_STOP
    assert event.by == "erin"
    assert event.cancel_open_orders
    assert not kill.allows_new_exposure(DAY1 + 100 * NS_PER_DAY)
    assert kill.allows_any_order(DAY1)
    with pytest.raises(RiskStateError):
        kill.manual_stop(DAY1, "x", by="")


def test_the_state_survives_a_restart_through_json():
    kill = switch(3)
    kill.on_mark(DAY1, D(5_000))
    kill.on_mark(DAY1 + HOUR, D(4_940))  # daily stop: 1.2%
    kill.manual_stop(DAY1 + 2 * HOUR, "checking", by="erin")
    saved = json.dumps(kill.state().to_dict())
    restored = KillSwitch(profile_for(3), KillSwitchState.from_dict(json.loads(saved)))
    assert restored.state() == kill.state()
    assert not restored.allows_new_exposure(DAY1 + 3 * HOUR)
    restored.reset(DAY1 + 3 * HOUR, by="erin", reason="done")
    assert not restored.allows_new_exposure(DAY1 + 3 * HOUR)  # the daily stop still holds
    assert restored.allows_new_exposure(DAY2)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"extra": 1}, "expected keys"),
        ({"day": "3"}, "day must be an integer"),
        ({"peak_equity": "NaN"}, "peak_equity must be a finite decimal"),
        ({"peak_equity": "lots"}, "peak_equity must be a finite decimal"),
        ({"stops": {"PANIC": "x"}}, "unknown stop 'PANIC'"),
        ({"stops": []}, "stops must be a mapping"),
        ({"daily_stop_reason": 5}, "daily_stop_reason must be a string"),
    ],
)
def test_a_corrupt_state_is_refused(change, message):
    with pytest.raises(RiskStateError, match=message):
        KillSwitchState.from_dict(KillSwitchState().to_dict() | change)


def test_an_unusable_equity_is_refused():
    with pytest.raises(RiskInputError):
        switch().on_mark(DAY1, D("NaN"))


# Properties over random paths of equity.

marks = st.lists(
    st.tuples(
        st.integers(1, 16).map(lambda halves: halves * HOUR // 2),  # time to the next mark
        st.decimals(D("-0.04"), D("0.04"), places=4),  # change of equity since the last mark
    ),
    min_size=1,
    max_size=60,
)


def walk(kill: KillSwitch, steps):
    """Mark a random path; yield (ts, events) after each mark."""
    ts, equity = DAY1, D(10_000)
    for gap, change in steps:
        ts += gap
        equity = (equity * (1 + change)).quantize(D("0.01"))
        yield ts, kill.on_mark(ts, equity)


@given(steps=marks, phase=st.integers(0, 5))
def test_no_new_exposure_after_a_daily_stop_until_the_next_utc_day(steps, phase):
    kill = switch(phase)
    stopped_day = None
    for ts, events in walk(kill, steps):
        day = ts // NS_PER_DAY
        if K.DAILY_LOSS_STOP in kinds(events):
            stopped_day = day
        if stopped_day == day:
            assert not kill.allows_new_exposure(ts)
            assert not kill.allows_new_exposure((day + 1) * NS_PER_DAY - 1)


@given(steps=marks, phase=st.integers(0, 5))
def test_no_new_exposure_after_a_total_loss_stop_until_reset(steps, phase):
    kill = switch(phase)
    stopped = False
    last = DAY1
    for ts, events in walk(kill, steps):
        stopped = stopped or K.TOTAL_LOSS_STOP in kinds(events)
        if stopped:
            assert not kill.allows_new_exposure(ts)
            assert not kill.allows_new_exposure(ts + 365 * NS_PER_DAY)
        last = ts
    if stopped:
        kill.reset(last, by="alice", reason="reviewed")
        assert StopKind.TOTAL_LOSS not in kill.stops
