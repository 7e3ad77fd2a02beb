"""The event-bus contract, run against the in-process bus and NATS JetStream alike.

Every test in the first half takes the parametrized `backend` fixture, so the same assertions
hold for `MemoryBus` and `NatsBus`. The NATS variant needs a server with JetStream on
127.0.0.1:4222 and skips, naming that address, when none answers. Each NATS test gets its own
stream and prefix, deleted afterwards; nothing here stops or restarts the machine's server.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from absent import absent
from coinswarm.infra.bus import (
    Bus,
    BusError,
    BusUnavailableError,
    Event,
    IdempotentHandler,
    MemoryBus,
    MemoryBusConfig,
    NatsBus,
    NatsBusConfig,
)

NATS_HOST = "127.0.0.1"
NATS_PORT = 4222
NATS_URL = f"nats://{NATS_HOST}:{NATS_PORT}"
TEST_TIMEOUT_S = 10.0
WAIT_S = 5.0


def nats_reachable() -> bool:
    with contextlib.suppress(OSError), socket.create_connection((NATS_HOST, NATS_PORT), 0.5):
        return True
    return False


def event(subject: str, n: int, key: str | None = None) -> Event:
    return Event.create(subject, f"{subject}#{n}".encode(), ts_ns=n, key=key)


class Backend:
    """Open buses of one kind that share one stream (NATS) or one instance (memory)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        tag = uuid.uuid4().hex[:12]
        self.nats_config = NatsBusConfig(
            url=NATS_URL,
            stream=f"TEST_{tag}",
            prefix=f"test{tag}",
            fetch_timeout_s=0.2,
            redelivery_delay_s=0.02,
            reconnect_attempts=1,
            reconnect_wait_s=0.05,
            connect_timeout_s=1.0,
        )
        self.memory = MemoryBus(MemoryBusConfig(redelivery_delay_s=0.02))
        self.opened: list[Bus] = []

    async def open(self) -> Bus:
        bus: Bus = self.memory if self.kind == "memory" else await NatsBus.connect(self.nats_config)
        self.opened.append(bus)
        return bus

    def run(self, body: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run one test body and then the cleanup in one event loop, both time-limited."""

        async def session() -> None:
            try:
                await asyncio.wait_for(body(), TEST_TIMEOUT_S)
            finally:
                await asyncio.wait_for(self.cleanup(), TEST_TIMEOUT_S)

        asyncio.run(session())

    async def cleanup(self) -> None:
        for bus in self.opened:
            await bus.close()
        if self.kind == "nats":
            admin = await NatsBus.connect(self.nats_config)
            await admin.delete_stream()
            await admin.close()


@pytest.fixture(params=["memory", "nats"])
def backend(request: pytest.FixtureRequest) -> Backend:
    if request.param == "nats" and not nats_reachable():
        absent(f"no NATS server with JetStream answers on {NATS_HOST}:{NATS_PORT}")
    return Backend(request.param)


class Collector:
    """A handler that records events and lets a test wait for a count."""

    def __init__(self, fail_first: int = 0) -> None:
        self.events: list[Event] = []
        self.calls = 0
        self.fail_first = fail_first
        self._changed = asyncio.Event()

    async def __call__(self, received: Event) -> None:
        self.calls += 1
        self._changed.set()
        if self.calls <= self.fail_first:
            raise RuntimeError(f"planned failure {self.calls}")
        self.events.append(received)

    async def wait_for(self, count: int, calls: bool = False) -> None:
        async def reached() -> None:
            while (self.calls if calls else len(self.events)) < count:
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(reached(), WAIT_S)

    @property
    def payloads(self) -> list[bytes]:
        return [received.payload for received in self.events]


async def settle(seconds: float = 0.3) -> None:
    """Leave time for an unwanted delivery to show up before asserting it did not."""
    await asyncio.sleep(seconds)


# --- the contract, for both implementations -------------------------------------------------


def test_a_subscriber_receives_events_in_publish_order(backend: Backend) -> None:
    async def body() -> None:
        bus = await backend.open()
        collector = Collector()
        await bus.subscribe("orders.>", "ordered", collector)
        sent = [event("orders.btc", n) for n in range(50)]
        for one in sent[:25]:
            await bus.publish(one)
        await bus.publish_many(sent[25:])
        await collector.wait_for(50)
        assert collector.events == sent

    backend.run(body)


def test_wildcards_select_subjects_like_nats(backend: Backend) -> None:
    async def body() -> None:
        bus = await backend.open()
        trades, everything, btc = Collector(), Collector(), Collector()
        await bus.subscribe("market.*.trade", "trades", trades)
        await bus.subscribe("market.>", "everything", everything)
        await bus.subscribe("market.btc.*", "btc", btc)
        subjects = ["market.btc.trade", "market.eth.trade", "market.btc.book", "market", "other.x"]
        await bus.publish_many([event(subject, n) for n, subject in enumerate(subjects)])
        await everything.wait_for(3)
        await trades.wait_for(2)
        await btc.wait_for(2)
        await settle()
        assert [e.subject for e in trades.events] == ["market.btc.trade", "market.eth.trade"]
        assert [e.subject for e in everything.events] == subjects[:3]
        assert [e.subject for e in btc.events] == ["market.btc.trade", "market.btc.book"]

    backend.run(body)


def test_a_durable_that_comes_back_gets_what_it_missed(backend: Backend) -> None:
    async def body() -> None:
        bus = await backend.open()
        first = Collector()
        subscription = await bus.subscribe("fills.*", "ledger", first)
        await bus.publish_many([event("fills.btc", n) for n in range(3)])
        await first.wait_for(3)
        await subscription.unsubscribe()

        missed = [event("fills.btc", n) for n in range(3, 6)]
        await bus.publish_many(missed)
        await settle(0.1)
        assert len(first.events) == 3

        again = Collector()
        await bus.subscribe("fills.*", "ledger", again)
        await again.wait_for(3)
        await settle()
        assert again.events == missed

    backend.run(body)


def test_a_new_durable_starts_from_the_oldest_stored_event(backend: Backend) -> None:
    async def body() -> None:
        bus = await backend.open()
        sent = [event("audit.x", n) for n in range(4)]
        await bus.publish_many(sent)
        late = Collector()
        await bus.subscribe("audit.>", "late", late)
        await late.wait_for(4)
        assert late.events == sent

    backend.run(body)


def test_an_event_whose_handler_raises_is_delivered_again(backend: Backend) -> None:
    async def body() -> None:
        bus = await backend.open()
        collector = Collector(fail_first=2)
        await bus.subscribe("risk.>", "flaky", collector)
        await bus.publish(event("risk.stop", 1))
        await collector.wait_for(1)
        assert collector.calls == 3
        assert collector.payloads == [b"risk.stop#1"]

    backend.run(body)


def test_the_same_event_id_published_twice_is_stored_and_handled_once(backend: Backend) -> None:
    async def body() -> None:
        bus = await backend.open()
        collector = Collector()
        await bus.subscribe("orders.>", "dedup", collector)
        first = event("orders.btc", 1, key="order-1")
        again = Event.create("orders.btc", b"retry after crash", ts_ns=2, key="order-1")
        assert again.event_id == first.event_id
        await bus.publish(first)
        await bus.publish(again)
        await bus.publish_many([first, event("orders.btc", 3)])
        await collector.wait_for(2)
        await settle()
        assert collector.payloads == [b"orders.btc#1", b"orders.btc#3"]

    backend.run(body)


def test_an_idempotent_handler_skips_a_redelivered_event(backend: Backend) -> None:
    async def body() -> None:
        bus = await backend.open()
        inner = Collector()
        idempotent = IdempotentHandler(inner)
        outer_calls = 0

        async def ack_lost(received: Event) -> None:
            # The work is done and recorded, then the acknowledgement is lost: redelivery.
            nonlocal outer_calls
            outer_calls += 1
            await idempotent(received)
            if outer_calls == 1:
                raise ConnectionError("ack lost")

        await bus.subscribe("fills.>", "once", ack_lost)
        await bus.publish(event("fills.eth", 7))
        await inner.wait_for(1)
        async with asyncio.timeout(WAIT_S):
            while outer_calls < 2:
                await asyncio.sleep(0.01)
        await settle(0.1)
        assert inner.calls == 1
        assert outer_calls == 2

    backend.run(body)


def test_a_closed_bus_refuses_to_publish_with_bus_unavailable(backend: Backend) -> None:
    async def body() -> None:
        bus = await backend.open()
        await bus.publish(event("orders.btc", 1))
        await bus.close()
        with pytest.raises(BusUnavailableError, match="closed"):
            await bus.publish(event("orders.btc", 2))
        with pytest.raises(BusUnavailableError):
            await bus.publish_many([event("orders.btc", 3)])
        with pytest.raises(BusUnavailableError):
            await bus.subscribe("orders.>", "after-close", Collector())

    backend.run(body)


def test_one_durable_cannot_serve_two_patterns_or_two_subscribers(backend: Backend) -> None:
    async def body() -> None:
        bus = await backend.open()
        subscription = await bus.subscribe("orders.>", "single", Collector())
        with pytest.raises(BusError, match="active subscription"):
            await bus.subscribe("orders.>", "single", Collector())
        await subscription.unsubscribe()
        with pytest.raises(BusError, match="follows"):
            await bus.subscribe("fills.>", "single", Collector())

    backend.run(body)


def test_many_events_arrive_complete_and_in_order(backend: Backend) -> None:
    async def body() -> None:
        bus = await backend.open()
        collector = Collector()
        await bus.subscribe("market.>", "bulk", collector)
        sent = [event("market.btc.trade", n) for n in range(2_000)]
        for start in range(0, len(sent), 500):
            await bus.publish_many(sent[start : start + 500])
        await collector.wait_for(len(sent))
        assert collector.events == sent

    backend.run(body)


# --- NATS only: a server that goes away, a process that dies --------------------------------


@pytest.fixture
def nats_backend() -> Backend:
    if not nats_reachable():
        absent(f"no NATS server with JetStream answers on {NATS_HOST}:{NATS_PORT}")
    return Backend("nats")


class Proxy:
    """A TCP relay in front of the NATS server: killing it looks like the server going away."""

    def __init__(self) -> None:
        self.server: asyncio.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._relay, NATS_HOST, 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(NATS_HOST, NATS_PORT)
        self.writers += [writer, up_writer]
        await asyncio.gather(
            self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
        )

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while chunk := await reader.read(65536):
                writer.write(chunk)
                await writer.drain()
        writer.close()

    async def kill(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.transport.abort()
        await self.server.wait_closed()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind((NATS_HOST, 0))
        return int(probe.getsockname()[1])


def test_connecting_to_a_closed_port_raises_bus_unavailable(nats_backend: Backend) -> None:
    config = NatsBusConfig(
        url=f"nats://{NATS_HOST}:{closed_port()}",
        reconnect_attempts=1,
        reconnect_wait_s=0.05,
        connect_timeout_s=0.5,
    )

    async def body() -> None:
        with pytest.raises(BusUnavailableError, match=r"127\.0\.0\.1"):
            await NatsBus.connect(config)

    nats_backend.run(body)


def test_a_server_that_goes_away_stops_publishing_loudly(nats_backend: Backend) -> None:
    async def body() -> None:
        proxy = Proxy()
        port = await proxy.start()
        base = nats_backend.nats_config
        config = NatsBusConfig(
            url=f"nats://{NATS_HOST}:{port}",
            stream=base.stream,
            prefix=base.prefix,
            reconnect_attempts=1,
            reconnect_wait_s=0.05,
            fetch_timeout_s=0.2,
            publish_timeout_s=1.0,
        )
        alarms: list[BusUnavailableError] = []
        bus = await NatsBus.connect(config, on_unavailable=alarms.append)
        nats_backend.opened.append(bus)
        collector = Collector()
        subscription = await bus.subscribe("orders.>", "blind", collector)
        await bus.publish(event("orders.btc", 1))
        await collector.wait_for(1)

        await proxy.kill()
        async with asyncio.timeout(WAIT_S):
            while not alarms:
                await asyncio.sleep(0.01)
        with pytest.raises(BusUnavailableError, match=r"orders\.btc"):
            await bus.publish(event("orders.btc", 2))
        assert "unavailable" in str(alarms[0])
        await subscription.unsubscribe()

    nats_backend.run(body)


def test_a_closed_connection_surfaces_bus_unavailable_from_publish(
    nats_backend: Backend,
) -> None:
    async def body() -> None:
        alarms: list[BusUnavailableError] = []
        bus = await NatsBus.connect(nats_backend.nats_config, on_unavailable=alarms.append)
        nats_backend.opened.append(bus)
        await bus._nc.close()  # the client underneath goes away, not through `bus.close`
        with pytest.raises(BusUnavailableError, match="closed"):
            await bus.publish(event("orders.btc", 1))
        assert alarms

    nats_backend.run(body)


def test_an_event_not_acked_before_the_process_died_is_redelivered(
    nats_backend: Backend,
) -> None:
    base = nats_backend.nats_config
    config = NatsBusConfig(
        url=base.url,
        stream=base.stream,
        prefix=base.prefix,
        ack_wait_s=1.0,
        fetch_timeout_s=0.2,
        stop_timeout_s=0.2,
    )

    async def body() -> None:
        dying = await NatsBus.connect(config)
        started = asyncio.Event()

        async def hangs(received: Event) -> None:
            started.set()
            await asyncio.sleep(60)

        await dying.subscribe("fills.>", "survivor", hangs)
        await dying.publish(event("fills.btc", 1))
        await asyncio.wait_for(started.wait(), WAIT_S)
        await dying._nc.close()  # no ack, no nak: as if the process were killed
        with contextlib.suppress(BusError):
            await dying.close()

        heir = await NatsBus.connect(config)
        nats_backend.opened.append(heir)
        collector = Collector()
        await heir.subscribe("fills.>", "survivor", collector)
        await collector.wait_for(1)
        assert collector.payloads == [b"fills.btc#1"]

    nats_backend.run(body)


def test_nats_config_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="fetch_batch"):
        NatsBusConfig(fetch_batch=5_000)
    with pytest.raises(BusError, match="prefix"):
        NatsBusConfig(prefix="coinswarm.*")
    with pytest.raises(BusError, match="durable name"):
        NatsBusConfig(stream="has.dot")


def test_publish_dedup_holds_across_connections(nats_backend: Backend) -> None:
    async def body() -> None:
        first = await nats_backend.open()
        second = await nats_backend.open()
        original = event("orders.btc", 1, key="client-order-42")
        await first.publish(original)
        await second.publish(original)
        assert isinstance(second, NatsBus)
        info = await second._js.stream_info(nats_backend.nats_config.stream)
        assert info.state.messages == 1

    nats_backend.run(body)
