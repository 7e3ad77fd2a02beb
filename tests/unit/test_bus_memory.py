"""The event envelope, subjects, idempotent handling and what only the in-process bus does.

The delivery contract both buses share lives in tests/integration/test_bus_nats.py, which runs
every contract test against `MemoryBus` and `NatsBus` alike.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from coinswarm.domain.errors import CoinswarmError
from coinswarm.infra.bus import (
    Bus,
    BusError,
    BusUnavailableError,
    Event,
    IdempotentHandler,
    InvalidEventError,
    InvalidSubjectError,
    MemoryBus,
    MemoryBusConfig,
    MemorySeenIds,
    Subscription,
    subject_matches,
)
from coinswarm.infra.bus.base import (
    redelivery_delay,
    validate_durable,
    validate_pattern,
    validate_subject,
)

WAIT_S = 5.0


def run(body: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(asyncio.wait_for(body(), 10.0))


def event(subject: str, n: int) -> Event:
    return Event.create(subject, f"{subject}#{n}".encode(), ts_ns=n)


async def until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(WAIT_S):
        while not condition():
            await asyncio.sleep(0.005)


# --- subjects ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "subject", "expected"),
    [
        ("a.b", "a.b", True),
        ("a.b", "a.c", False),
        ("a.*", "a.b", True),
        ("a.*", "a.b.c", False),
        ("a.*.c", "a.b.c", True),
        ("*.b", "a.b", True),
        ("a.>", "a.b", True),
        ("a.>", "a.b.c.d", True),
        ("a.>", "a", False),
        (">", "a", True),
        ("a.b.c", "a.b", False),
        ("a.*.>", "a.b", False),
        ("a.*.>", "a.b.c", True),
    ],
)
def test_subject_patterns_follow_nats_wildcards(pattern: str, subject: str, expected: bool) -> None:
    assert subject_matches(pattern, subject) is expected


@pytest.mark.parametrize("subject", ["", "a..b", ".a", "a.", "a b", "a.*", "a.>", "a\tb"])
def test_a_publish_subject_must_be_concrete_tokens(subject: str) -> None:
    with pytest.raises(InvalidSubjectError, match="expected"):
        validate_subject(subject)


@pytest.mark.parametrize("pattern", ["a.>.b", "", "a..*", "> .a"])
def test_a_pattern_puts_the_tail_wildcard_last(pattern: str) -> None:
    with pytest.raises(InvalidSubjectError):
        validate_pattern(pattern)


@pytest.mark.parametrize("durable", ["", "a.b", "a b", "a*", "x" * 65])
def test_a_durable_name_is_a_plain_token(durable: str) -> None:
    with pytest.raises(InvalidSubjectError, match="durable name"):
        validate_durable(durable)


# --- the envelope -----------------------------------------------------------------------------


def test_bus_errors_belong_to_the_one_exception_tree() -> None:
    for error in (BusError, BusUnavailableError, InvalidEventError, InvalidSubjectError):
        assert issubclass(error, CoinswarmError)
    assert issubclass(BusUnavailableError, BusError)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"event_id": ""}, "event_id"),
        ({"event_id": "has space"}, "event_id"),
        ({"event_id": "x" * 257}, "event_id"),
        ({"subject": "a.*"}, "wildcards"),
        ({"payload": "text"}, "bytes payload"),
        ({"payload": bytearray(b"x")}, "bytes payload"),
        ({"ts_ns": -1}, "ts_ns"),
        ({"ts_ns": True}, "ts_ns"),
        ({"ts_ns": 1.5}, "ts_ns"),
    ],
)
def test_an_event_refuses_unusable_fields(fields: dict[str, Any], message: str) -> None:
    good: dict[str, Any] = {"event_id": "e-1", "subject": "a.b", "payload": b"", "ts_ns": 0}
    with pytest.raises(BusError, match=message):
        Event(**(good | fields))


def test_an_event_is_frozen() -> None:
    one = event("a.b", 1)
    with pytest.raises(AttributeError):
        one.subject = "a.c"  # type: ignore[misc]


def test_a_caller_key_gives_the_same_id_whatever_the_content() -> None:
    first = Event.create("orders.btc", b"one", ts_ns=1, key="order-7")
    retry = Event.create("orders.btc", b"two", ts_ns=2, key="order-7")
    elsewhere = Event.create("fills.btc", b"one", ts_ns=1, key="order-7")
    assert first.event_id == retry.event_id
    assert first.event_id != elsewhere.event_id


def test_without_a_key_the_id_is_a_digest_of_the_content() -> None:
    assert event("a.b", 1).event_id == event("a.b", 1).event_id
    assert event("a.b", 1).event_id != event("a.b", 2).event_id
    same_bytes_later = Event.create("a.b", b"a.b#1", ts_ns=9)
    assert same_bytes_later.event_id != event("a.b", 1).event_id


def test_json_payloads_are_canonical_and_round_trip() -> None:
    one = Event.from_json("orders.btc", {"qty": "0.5", "side": "buy"}, ts_ns=3)
    other = Event.from_json("orders.btc", {"side": "buy", "qty": "0.5"}, ts_ns=3)
    assert one.payload == b'{"qty":"0.5","side":"buy"}'
    assert one == other
    assert one.json() == {"qty": "0.5", "side": "buy"}


def test_json_payloads_refuse_nan_and_strange_objects() -> None:
    with pytest.raises(InvalidEventError, match="NaN"):
        Event.from_json("a.b", {"price": float("nan")}, ts_ns=0)
    with pytest.raises(InvalidEventError, match="JSON-safe"):
        Event.from_json("a.b", {"when": object()}, ts_ns=0)  # type: ignore[dict-item]
    with pytest.raises(InvalidEventError, match="JSON payload"):
        Event.create("a.b", b"\xff not json", ts_ns=0).json()


# --- idempotent handling ----------------------------------------------------------------------


def test_seen_ids_forget_the_oldest_beyond_capacity() -> None:
    async def body() -> None:
        seen = MemorySeenIds(capacity=2)
        for event_id in ("a", "b", "c"):
            await seen.add(event_id)
        assert not await seen.contains("a")
        assert await seen.contains("b")
        assert await seen.contains("c")
        assert len(seen) == 2

    run(body)
    with pytest.raises(ValueError, match="capacity"):
        MemorySeenIds(capacity=0)


def test_an_idempotent_handler_records_only_success() -> None:
    async def body() -> None:
        calls: list[str] = []

        async def fails_once(received: Event) -> None:
            calls.append(received.event_id)
            if len(calls) == 1:
                raise RuntimeError("first try fails")

        handler = IdempotentHandler(fails_once)
        one = event("a.b", 1)
        with pytest.raises(RuntimeError):
            await handler(one)
        await handler(one)
        await handler(one)
        assert len(calls) == 2
        assert await handler.seen.contains(one.event_id)

    run(body)


def test_overlapping_deliveries_of_one_id_run_the_handler_once() -> None:
    async def body() -> None:
        calls = 0
        gate = asyncio.Event()

        async def slow(received: Event) -> None:
            nonlocal calls
            calls += 1
            await gate.wait()

        handler = IdempotentHandler(slow)
        one = event("a.b", 1)
        racing = [asyncio.create_task(handler(one)) for _ in range(3)]
        await asyncio.sleep(0.01)
        gate.set()
        await asyncio.gather(*racing)
        assert calls == 1
        assert handler._in_flight == {}

    run(body)


def test_redelivery_backs_off_and_is_capped() -> None:
    delays = [redelivery_delay(0.05, n, cap_s=1.0) for n in range(1, 8)]
    assert delays[:4] == [0.05, 0.1, 0.2, 0.4]
    assert delays[-1] == 1.0
    assert redelivery_delay(0.05, 10_000) == 5.0


# --- the in-process bus -----------------------------------------------------------------------


def test_the_memory_bus_is_a_bus_and_hands_out_subscriptions() -> None:
    async def body() -> None:
        bus = MemoryBus()
        assert isinstance(bus, Bus)

        async def ignore(received: Event) -> None:
            return None

        subscription = await bus.subscribe("a.>", "d", ignore)
        assert isinstance(subscription, Subscription)
        assert (subscription.durable, subscription.pattern) == ("d", "a.>")
        await bus.close()
        await bus.close()

    run(body)


def test_memory_bus_config_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="max_events"):
        MemoryBusConfig(max_events=0)
    with pytest.raises(ValueError, match="redelivery_delay_s"):
        MemoryBusConfig(redelivery_delay_s=-1)


def test_a_hung_handler_is_cancelled_on_unsubscribe_and_its_event_comes_back() -> None:
    async def body() -> None:
        bus = MemoryBus(MemoryBusConfig(stop_timeout_s=0.05))
        started = asyncio.Event()

        async def hangs(received: Event) -> None:
            started.set()
            await asyncio.sleep(60)

        subscription = await bus.subscribe("a.>", "d", hangs)
        await bus.publish(event("a.b", 1))
        await asyncio.wait_for(started.wait(), WAIT_S)
        await subscription.unsubscribe()

        got: list[Event] = []

        async def records(received: Event) -> None:
            got.append(received)

        await bus.subscribe("a.>", "d", records)
        await until(lambda: len(got) == 1)
        assert got == [event("a.b", 1)]
        await bus.close()

    run(body)


def test_a_pending_retry_survives_unsubscribe() -> None:
    async def body() -> None:
        bus = MemoryBus(MemoryBusConfig(redelivery_delay_s=0.05))
        failures = 0

        async def fails(received: Event) -> None:
            nonlocal failures
            failures += 1
            raise RuntimeError("not now")

        subscription = await bus.subscribe("a.>", "d", fails)
        await bus.publish(event("a.b", 1))
        await until(lambda: failures == 1)
        await subscription.unsubscribe()

        got: list[Event] = []

        async def records(received: Event) -> None:
            got.append(received)

        await bus.subscribe("a.>", "d", records)
        await until(lambda: len(got) == 1)
        await asyncio.sleep(0.1)
        assert got == [event("a.b", 1)]
        await bus.close()

    run(body)


def test_retention_drops_only_what_every_durable_acknowledged() -> None:
    async def body() -> None:
        bus = MemoryBus(MemoryBusConfig(max_events=4))
        picky = await bus.subscribe("other.>", "picky", _never_called)
        await picky.unsubscribe()
        await bus.publish_many([event("a.b", n) for n in range(10)])
        assert bus.end_seq == 10
        assert bus.event_at(0) is None
        assert sorted(bus.events) == [8, 9]

        got: list[Event] = []

        async def records(received: Event) -> None:
            got.append(received)

        await bus.subscribe("a.>", "late", records)
        await until(lambda: len(got) == 2)
        assert got == [event("a.b", 8), event("a.b", 9)]
        # A dropped id is forgotten: publishing it again stores it again.
        await bus.publish(event("a.b", 0))
        assert bus.end_seq == 11
        await bus.close()

    run(body)


def test_a_full_bus_refuses_to_publish_rather_than_drop_unacknowledged_events() -> None:
    async def body() -> None:
        bus = MemoryBus(MemoryBusConfig(max_events=4))
        slow = await bus.subscribe("a.>", "slow", _never_called)
        await slow.unsubscribe()
        await bus.publish_many([event("a.b", n) for n in range(4)])
        with pytest.raises(BusError, match="durable 'slow' has not acknowledged event 0"):
            await bus.publish(event("a.b", 4))
        assert sorted(bus.events) == [0, 1, 2, 3]

        again = await bus.subscribe("a.>", "slow", _refuses)
        with pytest.raises(BusError, match="active subscription"):
            bus.delete_durable("slow")
        await again.unsubscribe()
        bus.delete_durable("slow")
        await bus.publish(event("a.b", 4))
        assert sorted(bus.events) == [4]
        await bus.close()

    run(body)


async def _refuses(received: Event) -> None:
    raise RuntimeError(f"not ready for {received.event_id}")


async def _never_called(received: Event) -> None:
    raise AssertionError(f"unexpected delivery of {received.event_id}")


def test_a_failing_handler_is_logged_with_the_event_id(caplog: pytest.LogCaptureFixture) -> None:
    async def body() -> None:
        bus = MemoryBus(MemoryBusConfig(redelivery_delay_s=0.01))
        calls = 0

        async def fails_once(received: Event) -> None:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise RuntimeError("boom")

        await bus.subscribe("a.>", "d", fails_once)
        one = event("a.b", 1)
        await bus.publish(one)
        await until(lambda: calls == 2)
        await bus.close()
        assert one.event_id in caplog.text

    with caplog.at_level(logging.WARNING, logger="coinswarm.infra.bus.memory"):
        run(body)
