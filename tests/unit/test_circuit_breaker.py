"""The circuit breaker trips on fast moves, resumes with backoff, latches, and survives restarts."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coinswarm.domain.bar import Bar
from coinswarm.risk.circuit_breaker import (
    BreakerEventKind,
    BreakerState,
    CircuitBreaker,
)
from coinswarm.risk.errors import RiskInputError, RiskStateError
from coinswarm.risk.profiles import NS_PER_DAY, NS_PER_SECOND, BreakerSettings, profile_for
from generators import START_NS

D = Decimal
S = NS_PER_SECOND
HOUR = 3600 * S
T0 = START_NS + 10 * HOUR  # 10:00 UTC, well inside a day


def training() -> CircuitBreaker:
    return CircuitBreaker(profile_for(0).breaker)


def kinds(events) -> list[BreakerEventKind]:
    return [event.kind for event in events]


def crash(breaker: CircuitBreaker, ts: int, instrument: str = "BTC-USDT"):
    """Drop the price 20% in ten seconds at `ts`."""
    breaker.on_price(instrument, ts, D(100))
    return breaker.on_price(instrument, ts + 10 * S, D(80))


def test_a_ten_percent_fall_within_sixty_seconds_trips_it():
    breaker = training()
    assert breaker.on_price("BTC-USDT", T0, D(100)) == ()
    events = breaker.on_price("BTC-USDT", T0 + 60 * S, D(90))
    assert kinds(events) == [BreakerEventKind.TRIP]
    assert events[0].cancel_open_orders
    assert events[0].reason == "BTC-USDT moved -10.0% within 60 s (100 -> 90); resumes after 1 h"
    assert breaker.tripped
    assert not breaker.allows_new_orders(T0 + 60 * S)


def test_a_ten_percent_rise_trips_it_too():
    breaker = training()
    breaker.on_price("ETH-USDT", T0, D(100))
    breaker.on_price("ETH-USDT", T0 + 20 * S, D(104))
    events = breaker.on_price("ETH-USDT", T0 + 40 * S, D(110))
    assert kinds(events) == [BreakerEventKind.TRIP]
    assert "ETH-USDT moved +10.0%" in events[0].reason


def test_a_move_of_nine_point_nine_percent_does_not_trip_it():
    breaker = training()
    breaker.on_price("BTC-USDT", T0, D(100))
    assert breaker.on_price("BTC-USDT", T0 + 30 * S, D("90.1")) == ()
    assert breaker.allows_new_orders(T0 + 30 * S)


def test_ten_percent_spread_over_sixty_one_seconds_does_not_trip_it():
    breaker = training()
    breaker.on_price("BTC-USDT", T0, D(100))
    assert breaker.on_price("BTC-USDT", T0 + 61 * S, D(90)) == ()
    steady = training()
    for second in range(62):  # a steady slide, one tick a second
        price = D(100) - D(10) * second / 61
        assert steady.on_price("BTC-USDT", T0 + second * S, price) == ()
    assert not steady.tripped


def test_instruments_are_watched_separately():
    breaker = training()
    breaker.on_price("BTC-USDT", T0, D(100))
    assert breaker.on_price("ETH-USDT", T0 + S, D(89)) == ()


def test_the_window_keeps_the_extremes_of_a_long_noisy_stream():
    breaker = training()
    for second in range(5000):
        price = D(100) + D(second % 7) / 10  # noise well under 10%
        assert breaker.on_price("BTC-USDT", T0 + second * S, price) == ()
    assert kinds(breaker.on_price("BTC-USDT", T0 + 5000 * S, D(90))) == [BreakerEventKind.TRIP]


def test_a_one_bar_crash_on_hourly_bars_trips_it():
    breaker = training()
    bar = Bar("BTC-USDT", T0, 8000.0, 8100.0, 7008.0, 7900.0, 12.0)
    events = breaker.on_bar(bar, ts_ns=T0 + HOUR)  # handled at the bar's close
    assert kinds(events) == [BreakerEventKind.TRIP]
    assert events[0].reason.startswith(
        "BTC-USDT moved -12.4% within one bar (open 8000.0, low 7008.0)"
    )
    assert events[0].ts == T0 + HOUR
    assert breaker.state().resume_at == T0 + 2 * HOUR  # the cool-down runs from the close


def test_a_one_bar_spike_trips_it_and_a_calm_bar_does_not():
    calm = training()
    quiet = Bar("BTC-USDT", T0, 8000.0, 8700.0, 7400.0, 8000.0, 1.0)
    assert calm.on_bar(quiet, ts_ns=T0 + HOUR) == ()
    spike = training()
    wild = Bar("BTC-USDT", T0, 8000.0, 8800.0, 7900.0, 8000.0, 1.0)
    events = spike.on_bar(wild, ts_ns=T0 + HOUR)
    assert "+10.0% within one bar (open 8000.0, high 8800.0)" in events[0].reason


def test_opens_of_minute_bars_are_compared_within_the_window():
    breaker = training()
    first = Bar("BTC-USDT", T0, 100.0, 101.0, 99.0, 95.0, 1.0)
    assert breaker.on_bar(first, ts_ns=T0 + 60 * S) == ()
    second = Bar("BTC-USDT", T0 + 60 * S, 90.0, 91.0, 89.0, 90.0, 1.0)
    assert kinds(breaker.on_bar(second, ts_ns=T0 + 120 * S)) == [BreakerEventKind.TRIP]


def test_a_rapid_loss_of_equity_trips_it():
    breaker = training()  # 2.5% within 5 minutes
    breaker.on_equity(T0, D(10_000))
    assert breaker.on_equity(T0 + 60 * S, D(9800)) == ()
    events = breaker.on_equity(T0 + 300 * S, D(9750))
    assert kinds(events) == [BreakerEventKind.TRIP]
    assert events[0].reason.startswith("equity fell -2.5% within 5 min (10000 -> 9750)")


def test_a_slow_loss_of_equity_does_not_trip_it():
    breaker = training()
    breaker.on_equity(T0, D(10_000))
    assert breaker.on_equity(T0 + 301 * S, D(9700)) == ()


def test_it_resumes_after_the_cool_down_and_says_so():
    breaker = training()
    crash(breaker, T0)
    tripped_at = T0 + 10 * S
    assert not breaker.allows_new_orders(tripped_at + HOUR - 1)
    assert breaker.allows_new_orders(tripped_at + HOUR)
    events = breaker.on_price("BTC-USDT", tripped_at + 2 * HOUR, D(80))
    assert kinds(events) == [BreakerEventKind.RESUME]
    assert events[0].ts == tripped_at + HOUR  # stamped when due, not when noticed
    assert not events[0].cancel_open_orders
    assert not breaker.tripped


def test_new_triggers_while_tripped_do_not_count_as_trips():
    breaker = training()
    crash(breaker, T0)
    assert breaker.on_price("BTC-USDT", T0 + 20 * S, D(60)) == ()
    assert breaker.state().trips_today == 1


def test_cool_downs_double_and_the_third_trip_of_a_day_latches():
    breaker = training()
    crash(breaker, T0)
    assert breaker.state().resume_at == T0 + 10 * S + HOUR
    second = T0 + 2 * HOUR
    crash(breaker, second)
    assert breaker.state().resume_at == second + 10 * S + 2 * HOUR
    third = T0 + 6 * HOUR
    assert kinds(crash(breaker, third)) == [BreakerEventKind.TRIP, BreakerEventKind.LATCH]
    assert kinds(breaker.events[-4:]) == [
        BreakerEventKind.TRIP,
        BreakerEventKind.RESUME,
        BreakerEventKind.TRIP,
        BreakerEventKind.LATCH,
    ]
    assert breaker.latched
    assert breaker.state().resume_at is None
    assert not breaker.allows_new_orders(third + 30 * NS_PER_DAY)
    assert breaker.on_price("BTC-USDT", third + 30 * NS_PER_DAY, D(80)) == ()
    reset = breaker.reset(third + 30 * NS_PER_DAY, by="alice", reason="market checked")
    assert reset.kind is BreakerEventKind.RESET
    assert reset.by == "alice"
    assert breaker.allows_new_orders(third + 30 * NS_PER_DAY)


def test_the_cool_down_is_capped():
    settings = BreakerSettings(latch_after_trips=99)
    breaker = CircuitBreaker(settings)
    ts = T0
    for _ in range(6):
        crash(breaker, ts)
        ts = breaker.state().resume_at + S
    assert breaker.state().resume_at - breaker.state().tripped_at == settings.max_cooldown_ns


def test_trips_on_different_days_do_not_latch_and_a_calm_day_resets_the_backoff():
    breaker = training()
    crash(breaker, T0)
    crash(breaker, T0 + NS_PER_DAY - 12 * HOUR)  # same day, 12 h later: 2 h cool-down
    assert breaker.state().trips_today == 2
    next_day = T0 + NS_PER_DAY - 4 * HOUR  # next UTC day, 8 h after the last trip
    crash(breaker, next_day)
    assert not breaker.latched
    assert breaker.state().trips_today == 1
    assert breaker.state().resume_at == next_day + 10 * S + 4 * HOUR  # backoff kept growing
    calm = next_day + 2 * NS_PER_DAY
    crash(breaker, calm)
    assert breaker.state().resume_at == calm + 10 * S + HOUR  # back to one hour


def test_on_real_money_the_first_trip_latches():
    breaker = CircuitBreaker(profile_for(3).breaker)
    events = crash(breaker, T0, "BTC-USD")
    assert kinds(events) == [BreakerEventKind.TRIP, BreakerEventKind.LATCH]
    assert not breaker.allows_new_orders(T0 + 100 * HOUR)


def test_an_emergency_stop_latches_until_a_person_resets_it():
    breaker = training()
    event = breaker.emergency_stop(T0, "exchange acting strangely", by="bob")
    assert event.kind is BreakerEventKind.EMERGENCY_STOP
    assert event.cancel_open_orders
    assert not breaker.allows_new_orders(T0 + 10 * NS_PER_DAY)
    with pytest.raises(RiskStateError, match="name the person"):
        breaker.reset(T0, by=" ", reason="x")
    breaker.reset(T0 + HOUR, by="bob", reason="exchange fine again")
    assert breaker.allows_new_orders(T0 + HOUR)
    assert kinds(breaker.events) == [BreakerEventKind.EMERGENCY_STOP, BreakerEventKind.RESET]


def test_the_window_follows_the_monotonic_clock_when_the_wall_clock_jumps():
    # Scenario 15: the wall clock jumps back 3 minutes; 61 s really passed.
    breaker = training()
    breaker.on_price("BTC-USDT", T0, D(100), monotonic_ns=1_000 * S)
    late = breaker.on_price("BTC-USDT", T0 - 180 * S, D(90), monotonic_ns=1_061 * S)
    assert late == ()
    # The wall clock jumps forward 3 minutes; only 30 s really passed.
    jumpy = training()
    jumpy.on_price("BTC-USDT", T0, D(100), monotonic_ns=1_000 * S)
    fast = jumpy.on_price("BTC-USDT", T0 + 180 * S, D(90), monotonic_ns=1_030 * S)
    assert kinds(fast) == [BreakerEventKind.TRIP]
    assert fast[0].ts == T0 + 180 * S  # events carry UTC time


def test_a_monotonic_clock_that_restarts_empties_the_window():
    breaker = training()
    breaker.on_price("BTC-USDT", T0, D(100), monotonic_ns=5_000 * S)
    assert breaker.on_price("BTC-USDT", T0 + S, D(90), monotonic_ns=2 * S) == ()


def test_the_state_survives_a_restart_through_json():
    breaker = training()
    crash(breaker, T0)
    crash(breaker, T0 + 2 * HOUR)
    crash(breaker, T0 + 6 * HOUR)  # latched
    saved = json.dumps(breaker.state().to_dict())
    restored = CircuitBreaker(profile_for(0).breaker, BreakerState.from_dict(json.loads(saved)))
    assert restored.state() == breaker.state()
    assert restored.latched
    assert not restored.allows_new_orders(T0 + 40 * NS_PER_DAY)
    assert restored.state().reason.startswith("BTC-USDT moved -20.0%")


def test_a_cooling_breaker_resumes_on_time_after_a_restart():
    breaker = training()
    crash(breaker, T0)
    restored = CircuitBreaker(
        profile_for(0).breaker, BreakerState.from_dict(breaker.state().to_dict())
    )
    assert not restored.allows_new_orders(T0 + HOUR)
    events = restored.on_equity(T0 + 2 * HOUR, D(10_000))
    assert kinds(events) == [BreakerEventKind.RESUME]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"extra": 1}, "unknown: \\['extra'\\]"),
        ({"latched": "yes"}, "latched must be bool"),
        ({"trips_today": True}, "trips_today must be int"),
        ({"resume_at": 1.5}, "resume_at must be int or None"),
    ],
)
def test_a_corrupt_state_is_refused(change, message):
    data = BreakerState().to_dict() | change
    with pytest.raises(RiskStateError, match=message):
        BreakerState.from_dict(data)


def test_a_missing_key_is_refused():
    data = BreakerState().to_dict()
    del data["latched"]
    with pytest.raises(RiskStateError, match="missing: \\['latched'\\]"):
        BreakerState.from_dict(data)


@pytest.mark.parametrize("price", [D(0), D(-5), D("NaN")])
def test_an_unusable_price_is_refused(price):
    with pytest.raises(RiskInputError):
        training().on_price("BTC-USDT", T0, price)


def test_an_unusable_bar_is_refused():
    with pytest.raises(RiskInputError, match="bar price"):
        training().on_bar(Bar("BTC-USDT", T0, 0.0, 1.0, 0.0, 1.0, 1.0), ts_ns=T0 + HOUR)


@given(
    st.lists(
        st.tuples(st.integers(0, 40), st.decimals(D("80"), D("120"), places=1)),
        min_size=1,
        max_size=80,
    )
)
def test_the_window_trips_exactly_when_a_brute_force_search_finds_a_move(ticks):
    breaker = training()
    seen: list[tuple[int, Decimal]] = []
    t = T0
    for gap, price in ticks:
        t += gap * S
        seen.append((t, price))
        expected = any(
            t - then <= 60 * S and (price / old >= D("1.1") or price / old <= D("0.9"))
            for then, old in seen
        )
        tripped = BreakerEventKind.TRIP in kinds(breaker.on_price("BTC-USDT", t, price))
        assert tripped == expected
        if tripped:
            return
