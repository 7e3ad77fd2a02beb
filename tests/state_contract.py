"""The contract every `HotState` backend keeps, run against each one.

A test module subclasses `HotStateContract` and provides a `state_factory` fixture (module
scope, so hypothesis may use it): a callable returning a context manager that yields a fresh,
empty state in its own namespace and deletes it on exit.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coinswarm.domain.errors import NonFiniteValueError
from coinswarm.infra.state import (
    MAX_BUCKET_SPAN_NS,
    HotState,
    KillSwitchFlag,
    LatestPrice,
    fail_safe_kill_switch,
)

StateFactory = Callable[[], AbstractContextManager[HotState]]

SECOND = 10**9
T0 = 1_700_000_000 * SECOND + 123_456_789  # a realistic epoch time with a ragged fraction
BUCKET = {"rate_per_s": 10.0, "burst": 5}

# A real server pays a connection per example; the time limit is hypothesis's, not ours.
PROPERTY = settings(deadline=None, max_examples=60)

rates = st.sampled_from([0.5, 1.0, 3.0, 7.5, 10.0, 1000.0, 1e9 / 7])
gaps = st.integers(min_value=0, max_value=3 * SECOND)
steps = st.lists(st.tuples(gaps, st.integers(min_value=1, max_value=4)), max_size=40)


class HotStateContract:
    """Every test here must pass for every backend."""

    @pytest.fixture
    def state(self, state_factory: StateFactory):
        with state_factory() as state:
            yield state

    # -- kill switch ------------------------------------------------------------------------

    def test_a_new_state_lets_trading_go_on(self, state):
        assert state.kill_switch() is None
        assert fail_safe_kill_switch(state, now_ns=T0) is None

    def test_a_set_switch_is_seen_with_its_reason(self, state):
        flag = state.set_kill_switch("daily loss 5.2% > 5%", "risk", T0)
        assert flag == KillSwitchFlag(reason="daily loss 5.2% > 5%", by="risk", ts_ns=T0)
        assert state.kill_switch() == flag
        assert fail_safe_kill_switch(state, now_ns=T0 + 1) == flag

    def test_the_first_reason_stays(self, state):
        first = state.set_kill_switch("total loss 10%", "risk", T0)
        assert state.set_kill_switch("manual stop", "ops", T0 + SECOND) == first
        assert state.kill_switch() == first

    def test_clear_lifts_the_flag_and_returns_it(self, state):
        flag = state.set_kill_switch("manual stop", "ops", T0)
        assert state.clear_kill_switch("alice", T0 + SECOND) == flag
        assert state.kill_switch() is None
        assert state.clear_kill_switch("alice", T0 + 2 * SECOND) is None

    def test_a_clear_decided_before_a_newer_trip_does_not_lift_it(self, state):
        flag = state.set_kill_switch("rapid loss", "breaker", T0 + SECOND)
        assert state.clear_kill_switch("alice", T0) is None
        assert state.kill_switch() == flag
        assert state.clear_kill_switch("alice", T0 + SECOND) == flag

    def test_unicode_reasons_survive(self, state):
        flag = state.set_kill_switch("perte journalière > 5 % — arrêt", "risk ✓", T0)
        assert state.kill_switch() == flag

    @pytest.mark.parametrize(
        ("reason", "by", "ts_ns", "error"),
        [
            ("", "ops", T0, ValueError),
            ("   ", "ops", T0, ValueError),
            ("stop", "", T0, ValueError),
            ("line\nbreak", "ops", T0, ValueError),
            ("stop", "ops", -1, ValueError),
            ("stop", "ops", 1.5, TypeError),
            ("stop", "ops", True, TypeError),
        ],
    )
    def test_a_malformed_flag_is_refused(self, state, reason, by, ts_ns, error):
        with pytest.raises(error):
            state.set_kill_switch(reason, by, ts_ns)
        assert state.kill_switch() is None

    def test_one_flag_wins_when_many_threads_set_at_once(self, state):
        results: list[KillSwitchFlag] = []
        barrier = threading.Barrier(8)

        def trip(number: int) -> None:
            barrier.wait()
            results.append(state.set_kill_switch(f"reason {number}", f"thread {number}", T0))

        threads = [threading.Thread(target=trip, args=(number,)) for number in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(set(results)) == 1
        assert state.kill_switch() == results[0]

    # -- token buckets ----------------------------------------------------------------------

    def test_a_new_bucket_is_full(self, state):
        granted = [state.take("rest", now_ns=T0, **BUCKET) for _ in range(7)]
        assert granted == [True] * 5 + [False] * 2

    def test_a_bucket_refills_at_its_rate(self, state):
        for _ in range(5):
            assert state.take("rest", now_ns=T0, **BUCKET)
        assert state.wait_time_ns("rest", now_ns=T0, **BUCKET) == SECOND // 10
        assert not state.take("rest", now_ns=T0 + SECOND // 10 - 1, **BUCKET)
        assert state.take("rest", now_ns=T0 + SECOND // 10, **BUCKET)
        assert not state.take("rest", now_ns=T0 + SECOND // 10, **BUCKET)

    def test_a_refilled_bucket_holds_no_more_than_burst(self, state):
        assert state.take("rest", 5, now_ns=T0, **BUCKET)
        later = T0 + 3600 * SECOND
        assert state.take("rest", 5, now_ns=later, **BUCKET)
        assert not state.take("rest", now_ns=later, **BUCKET)

    def test_a_refused_take_takes_nothing(self, state):
        assert state.take("rest", 3, now_ns=T0, **BUCKET)
        assert not state.take("rest", 3, now_ns=T0, **BUCKET)
        assert state.take("rest", 2, now_ns=T0, **BUCKET)

    def test_wait_time_reads_without_taking(self, state):
        assert state.wait_time_ns("rest", 5, now_ns=T0, **BUCKET) == 0
        assert state.wait_time_ns("rest", 5, now_ns=T0, **BUCKET) == 0
        assert state.take("rest", 5, now_ns=T0, **BUCKET)
        assert state.wait_time_ns("rest", 2, now_ns=T0, **BUCKET) == 2 * SECOND // 10

    def test_buckets_are_independent(self, state):
        assert state.take("orders", 5, now_ns=T0, **BUCKET)
        assert state.take("market-data", 5, now_ns=T0, **BUCKET)
        assert not state.take("orders", now_ns=T0, **BUCKET)

    def test_a_clock_that_lags_is_throttled_more_never_less(self, state):
        assert state.take("rest", 5, now_ns=T0 + SECOND, **BUCKET)
        assert not state.take("rest", now_ns=T0, **BUCKET)
        assert state.wait_time_ns("rest", now_ns=T0, **BUCKET) == SECOND + SECOND // 10

    def test_a_rate_that_does_not_divide_a_second_rounds_toward_fewer_tokens(self, state):
        limit = {"rate_per_s": 3.0, "burst": 1}
        assert state.take("slow", now_ns=T0, **limit)
        assert state.wait_time_ns("slow", now_ns=T0, **limit) == 333_333_334

    def test_many_threads_share_one_bucket_exactly(self, state):
        granted: list[bool] = []
        barrier = threading.Barrier(8)

        def hammer() -> None:
            barrier.wait()
            granted.extend(
                state.take("rest", now_ns=T0, rate_per_s=1.0, burst=100) for _ in range(40)
            )

        threads = [threading.Thread(target=hammer) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sum(granted) == 100

    @pytest.mark.parametrize(
        ("tokens", "rate_per_s", "burst"),
        [
            (0, 1.0, 5),
            (6, 1.0, 5),
            (1, 0.0, 5),
            (1, -1.0, 5),
            (1, float("nan"), 5),
            (1, float("inf"), 5),
            (1, 1.0, 0),
            (True, 1.0, 5),
            (1, 1e-9, 5),  # a full bucket would take 158 years to refill
        ],
    )
    def test_a_bucket_that_could_not_work_is_refused(self, state, tokens, rate_per_s, burst):
        with pytest.raises(ValueError, match=r"tokens|burst|rate_per_s"):
            state.take("rest", tokens, now_ns=T0, rate_per_s=rate_per_s, burst=burst)

    def test_the_longest_bucket_allowed_still_works(self, state):
        limit = {"rate_per_s": 1.0, "burst": MAX_BUCKET_SPAN_NS // SECOND}
        assert state.take("long", limit["burst"], now_ns=T0, **limit)
        assert state.wait_time_ns("long", now_ns=T0, **limit) == SECOND

    # -- latest prices ----------------------------------------------------------------------

    def test_a_price_comes_back_exactly(self, state):
        price = Decimal("0.000000012345678901234567890123")
        assert state.price("PEPE-USDT") is None
        assert state.set_price("PEPE-USDT", price, T0)
        stored = state.price("PEPE-USDT")
        assert stored == LatestPrice(price, T0)
        assert str(stored.price) == str(price)

    def test_a_price_in_exponent_form_keeps_its_value(self, state):
        assert state.set_price("BTC-USD", Decimal("6.5E+4"), T0)
        assert state.price("BTC-USD") == (Decimal(65_000), T0)

    def test_an_older_price_never_replaces_a_newer_one(self, state):
        assert state.set_price("BTC-USD", Decimal("65000.10"), T0 + 1)
        assert not state.set_price("BTC-USD", Decimal("64000"), T0)
        assert state.set_price("BTC-USD", Decimal("65000.20"), T0 + 1)
        assert state.price("BTC-USD") == (Decimal("65000.20"), T0 + 1)

    def test_prices_are_kept_per_instrument(self, state):
        state.set_price("BTC-USD", Decimal(65_000), T0)
        state.set_price("ETH-USD", Decimal(3_000), T0)
        assert state.price("BTC-USD") == (Decimal(65_000), T0)
        assert state.price("ETH-USD") == (Decimal(3_000), T0)

    @pytest.mark.parametrize(
        ("price", "error"),
        [
            (65000.1, TypeError),
            ("65000.1", TypeError),
            (Decimal("NaN"), NonFiniteValueError),
            (Decimal("Infinity"), NonFiniteValueError),
            (Decimal(0), ValueError),
            (Decimal(-1), ValueError),
        ],
    )
    def test_a_price_that_is_not_money_is_refused(self, state, price, error):
        with pytest.raises(error):
            state.set_price("BTC-USD", price, T0)
        assert state.price("BTC-USD") is None

    # -- properties -------------------------------------------------------------------------

    @PROPERTY
    @given(rate=rates, burst=st.integers(min_value=4, max_value=10), steps=steps)
    def test_a_bucket_never_grants_more_than_burst_plus_rate_times_time(
        self, state_factory, rate, burst, steps
    ):
        limit = {"rate_per_s": rate, "burst": burst}
        times, granted = [], []
        now = T0
        with state_factory() as state:
            for gap, tokens in steps:
                now += gap
                wait = state.wait_time_ns("b", tokens, now_ns=now, **limit)
                passed = state.take("b", tokens, now_ns=now, **limit)
                assert passed == (wait == 0)
                times.append(now)
                granted.append(tokens if passed else 0)
        for first in range(len(times)):
            total = 0
            for last in range(first, len(times)):
                total += granted[last]
                elapsed = Fraction(times[last] - times[first], SECOND)
                assert total <= burst + Fraction(rate) * elapsed

    @PROPERTY
    @given(rate=rates, burst=st.integers(min_value=1, max_value=10), steps=steps)
    def test_waiting_the_wait_time_is_exactly_enough(self, state_factory, rate, burst, steps):
        limit = {"rate_per_s": rate, "burst": burst}
        now = T0
        with state_factory() as state:
            for gap, tokens in steps:
                now += gap
                wanted = min(tokens, burst)
                wait = state.wait_time_ns("b", wanted, now_ns=now, **limit)
                if wait > 0:
                    assert not state.take("b", wanted, now_ns=now + wait - 1, **limit)
                assert state.take("b", wanted, now_ns=now + wait, **limit)
                now += wait

    @PROPERTY
    @given(
        writes=st.lists(
            st.tuples(
                st.integers(min_value=0, max_value=5),
                st.decimals(min_value=Decimal("1E-12"), max_value=Decimal("1E+9"), places=12),
            ),
            min_size=1,
            max_size=20,
        )
    )
    def test_the_latest_price_is_the_last_written_at_the_latest_time(self, state_factory, writes):
        newest: tuple[int, Decimal] | None = None
        with state_factory() as state:
            for offset, price in writes:
                recorded = state.set_price("BTC-USD", price, T0 + offset)
                assert recorded == (newest is None or offset >= newest[0])
                if recorded:
                    newest = (offset, price)
            assert newest is not None
            assert state.price("BTC-USD") == (newest[1], T0 + newest[0])

    @PROPERTY
    @given(
        actions=st.lists(
            st.tuples(st.booleans(), st.integers(min_value=0, max_value=5)), max_size=20
        )
    )
    def test_the_kill_switch_follows_its_rules(self, state_factory, actions):
        expected: KillSwitchFlag | None = None
        with state_factory() as state:
            for number, (trip, offset) in enumerate(actions):
                if trip:
                    flag = KillSwitchFlag(reason=f"stop {number}", by="risk", ts_ns=T0 + offset)
                    expected = expected or flag
                    assert state.set_kill_switch(flag.reason, flag.by, flag.ts_ns) == expected
                else:
                    lifted = expected if expected and expected.ts_ns <= T0 + offset else None
                    assert state.clear_kill_switch("ops", T0 + offset) == lifted
                    expected = None if lifted else expected
                assert state.kill_switch() == expected
