"""Throughput of the event bus: events per second published and consumed, in process and NATS.

    python benchmarks/bench_bus.py [--events 200000] [--nats-events 50000] [--url nats://...]

Each run subscribes one durable consumer whose handler counts events, then publishes N events
and stops the clock when the handler has seen the last one, so a figure covers storing,
delivering, handling and acknowledging. Events are built before the clock starts. The goals
on a 2-core machine are 50,000 events/s in process and 10,000/s through NATS JetStream.

Two ways of publishing are timed: `publish` one event at a time (each awaits its own
acknowledgement; through NATS that is one round trip per event, so that run uses a fifth of
`--nats-events`) and `publish_many` in batches of 1,000 (acknowledgements pipelined). The NATS
runs use a throw-away stream deleted afterwards; when no server answers on the URL, they are
skipped with the reason printed. Figures only: nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Literal

from coinswarm.infra.bus import (
    Bus,
    BusUnavailableError,
    Event,
    MemoryBus,
    NatsBus,
    NatsBusConfig,
)

Storage = Literal["file", "memory"]
STORAGES: tuple[Storage, ...] = ("file", "memory")
BATCH = 1_000
TIMEOUT_S = 300.0


def make_events(count: int) -> list[Event]:
    return [
        Event.create(
            "market.btc-usdt.trade", b'{"price":"64000.5","qty":"0.01"}', ts_ns=n, key=str(n)
        )
        for n in range(count)
    ]


async def publish_one_by_one(bus: Bus, events: list[Event]) -> None:
    for event in events:
        await bus.publish(event)


async def publish_batched(bus: Bus, events: list[Event]) -> None:
    for start in range(0, len(events), BATCH):
        await bus.publish_many(events[start : start + BATCH])


async def measure(
    bus: Bus,
    events: list[Event],
    durable: str,
    publish: Callable[[Bus, list[Event]], Awaitable[None]],
) -> tuple[float, float]:
    """Return (seconds until all published, seconds until all consumed)."""
    done = asyncio.Event()
    seen = 0

    async def count(event: Event) -> None:
        nonlocal seen
        seen += 1
        if seen == len(events):
            done.set()

    subscription = await bus.subscribe("market.>", durable, count)
    start = time.perf_counter()
    await publish(bus, events)
    published = time.perf_counter() - start
    await asyncio.wait_for(done.wait(), TIMEOUT_S)
    consumed = time.perf_counter() - start
    await subscription.unsubscribe()
    return published, consumed


def report(label: str, count: int, published: float, consumed: float) -> None:
    print(
        f"{label:<38} {count:>8,} events  publish {count / published:>10,.0f}/s  "
        f"publish+consume {count / consumed:>10,.0f}/s"
    )


async def bench_memory(count: int) -> None:
    for label, publish in (
        ("in process, publish", publish_one_by_one),
        ("in process, publish_many", publish_batched),
    ):
        events = make_events(count)
        bus = MemoryBus()
        published, consumed = await measure(bus, events, "bench", publish)
        await bus.close()
        report(label, count, published, consumed)


async def bench_nats(count: int, url: str, storage: Storage) -> None:
    modes = (
        ("publish", publish_one_by_one, max(count // 5, 1)),
        ("publish_many", publish_batched, count),
    )
    for label, publish, n in modes:
        tag = uuid.uuid4().hex[:10]
        config = NatsBusConfig(
            url=url, stream=f"BENCH_{tag}", prefix=f"bench{tag}", storage=storage
        )
        bus = await NatsBus.connect(config)
        try:
            published, consumed = await measure(bus, make_events(n), "bench", publish)
            report(f"NATS {storage} storage, {label}", n, published, consumed)
        finally:
            await bus.delete_stream()
            await bus.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--nats-events", type=int, default=50_000)
    parser.add_argument("--url", default="nats://127.0.0.1:4222")
    args = parser.parse_args()

    await bench_memory(args.events)
    try:
        for storage in STORAGES:
            await bench_nats(args.nats_events, args.url, storage)
    except BusUnavailableError as exc:
        print(f"NATS skipped: no JetStream server at {args.url} ({exc})")


if __name__ == "__main__":
    asyncio.run(main())
