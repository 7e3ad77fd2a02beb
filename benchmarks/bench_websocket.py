"""Fan live events out to many websocket clients: is anything lost, and how late is it?

    python benchmarks/bench_websocket.py [--clients 100] [--rate 100] [--duration 60]
                                         [--source process|nats] [--nats URL]

The server (`coinswarm.api`, uvicorn) runs in a child process of its own, as `coinswarm serve`
would. Its events come as a session's do: with `--source process` (the default, as `paper
--serve`) a thread of the server's process hands them to the feed; with `--source nats` this
process publishes them on NATS through the session's publisher and the server follows the bus.
Each event is an `equity` event of a real session's size, stamped `sent_ns` (the wall clock)
when it is published. `--clients` websocket clients connect first, then `--rate` events a
second are published for `--duration` seconds.

Each client checks that the `seq` numbers it receives are contiguous (nothing lost, nothing
twice). Latency is the client's wall clock at receipt minus `sent_ns`: publish, (bus,) feed,
hub, socket, client, all on this machine. Prints the delivered count, the lost count, the
clients dropped for falling behind, and the p50, p99 and max latency.

Figures, not a test: nothing asserts. Without NATS, `--source nats` says so and exits 0.
"""

# ruff: noqa: PLC0415

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

RUN_ID = "run-bench0websocket"


def equity_event(n: int) -> dict[str, Any]:
    """Return an equity event as a paper session publishes it (about 450 bytes of JSON)."""
    return {
        "kind": "equity",
        "run_id": RUN_ID,
        "mode": "paper",
        "ts_ns": 1_700_000_000_000_000_000 + n * 3_600_000_000_000,
        "equity": "100123.45678901",
        "cash": "75000.00",
        "positions": {"BTC-USD": "0.51234", "ETH-USD": "3.2"},
        "peak": "101000.00",
        "drawdown": 0.008679,
        "day_start_equity": "100500.00",
        "day_pnl": "-376.54321099",
        "daily_loss_limit": "5025.00",
        "n": n,
        "sent_ns": time.time_ns(),
    }


def paced(rate: float, count: int, put: Any) -> None:
    """Call `put(event)` `count` times at `rate` a second, on schedule (no drift)."""
    started = time.monotonic()
    for n in range(count):
        due = started + n / rate
        wait = due - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        put(equity_event(n))


# -- the server, in a child process --------------------------------------------------------


def serve_child(args: argparse.Namespace) -> None:
    """Run the API server; with --source process, publish when told to on stdin."""
    from coinswarm.api.app import create_app
    from coinswarm.api.beside import running
    from coinswarm.api.feed import install_live
    from coinswarm.api.services import Services
    from coinswarm.api.settings import ServeSettings

    bus = args.nats if args.source == "nats" else None
    found = Services(settings=ServeSettings(public=True, bus=bus))
    feed = install_live(found)
    with running(create_app(found.settings, found=found), "127.0.0.1", 0) as url:
        print(f"URL {url}", flush=True)
        sys.stdin.readline()  # the clients are connected
        cpu = time.process_time()
        if args.source == "process":
            count = int(args.rate * args.duration)
            paced(args.rate, count, lambda e: feed.submit(e) or print("REFUSED", flush=True))
        sys.stdin.readline()  # the clients are done
        cpu = time.process_time() - cpu
        hub = found.parts["hub"].stats()
        print("STATS " + json.dumps({"hub": hub, "feed": feed.stats(), "cpu_s": cpu}), flush=True)


# -- the clients, here ---------------------------------------------------------------------


@dataclass
class Tally:
    """What one client received."""

    seqs: list[int] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    closed: str | None = None


async def client(url: str, expected: int, tally: Tally, connected: asyncio.Event) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    try:
        async with connect(url) as socket_:
            connected.set()
            while len(tally.seqs) < expected:
                text = await socket_.recv()
                now = time.time_ns()
                event = json.loads(text)
                tally.seqs.append(event["seq"])
                tally.latencies.append((now - event["sent_ns"]) / 1e6)
    except ConnectionClosed as closed:
        tally.closed = f"closed {closed.rcvd.code if closed.rcvd else '?'}"


async def run_clients(
    url: str, clients: int, expected: int, go: Any, timeout_s: float
) -> list[Tally]:
    tallies = [Tally() for _ in range(clients)]
    ready = [asyncio.Event() for _ in range(clients)]
    ws = url.replace("http://", "ws://") + "/api/ws"
    tasks = [
        asyncio.create_task(client(ws, expected, t, r)) for t, r in zip(tallies, ready, strict=True)
    ]
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in ready)), 30)
    await asyncio.sleep(0.5)  # every client registered with the hub
    await asyncio.to_thread(go)
    _done, pending = await asyncio.wait(tasks, timeout=timeout_s)
    for task in pending:
        task.cancel()
    return tallies


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(share * len(ordered)), len(ordered) - 1)] if ordered else float("nan")


def nats_up(url: str) -> bool:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port or 4222), timeout=0.5):
            return True
    except OSError:
        return False


def main(args: argparse.Namespace) -> int:
    if args.source == "nats":
        if not nats_up(args.nats):
            print(f"no NATS at {args.nats}: run with --source process, or start NATS")
            return 0
        tag = os.urandom(4).hex().upper()
        os.environ["COINSWARM_BUS_STREAM"] = f"BENCHWS{tag}"
        os.environ["COINSWARM_BUS_PREFIX"] = f"benchws{tag.lower()}"
    count = int(args.rate * args.duration)
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve-child", *sys.argv[1:]],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdin is not None
    assert child.stdout is not None
    url = child.stdout.readline().split()[1]

    def go() -> None:
        child.stdin.write("go\n")  # type: ignore[union-attr]
        child.stdin.flush()  # type: ignore[union-attr]
        if args.source == "nats":
            publish_on_nats(args, count)

    started = time.monotonic()
    tallies = asyncio.run(run_clients(url, args.clients, count, go, timeout_s=args.duration + 60))
    took = time.monotonic() - started
    child.stdin.write("done\n")
    child.stdin.flush()
    stats_line = next(line for line in child.stdout if line.startswith("STATS "))
    child.wait(30)
    stats = json.loads(stats_line.removeprefix("STATS "))
    if args.source == "nats":
        drop_stream(args.nats)
    report(args, tallies, count, stats, took)
    return 0


def publish_on_nats(args: argparse.Namespace, count: int) -> None:
    from coinswarm.infra.telemetry_send import NatsTransport, Publisher, bus_config

    publisher = Publisher(NatsTransport(bus_config(args.nats)))
    paced(args.rate, count, publisher.put)
    publisher.close(timeout_s=10.0)
    if publisher.dropped:
        print(f"the publisher dropped {publisher.dropped} events")


def drop_stream(url: str) -> None:
    from coinswarm.infra.bus import NatsBus
    from coinswarm.infra.telemetry_send import bus_config

    async def drop() -> None:
        bus = await NatsBus.connect(bus_config(url))
        await bus.delete_stream()
        await bus.close()

    asyncio.run(drop())


def report(
    args: argparse.Namespace,
    tallies: list[Tally],
    count: int,
    stats: dict[str, Any],
    took: float,
) -> None:
    delivered = sum(len(t.seqs) for t in tallies)
    lost = args.clients * count - delivered  # not received before the clients gave up
    # Within what each client received: every seq from 1 on, once, in order.
    broken = sum(1 for t in tallies if t.seqs != list(range(1, len(t.seqs) + 1)))
    latencies = [ms for t in tallies for ms in t.latencies]
    closed = [t.closed for t in tallies if t.closed]
    print(
        f"websocket fan-out: {args.clients} clients, {args.rate:g} events/s for "
        f"{args.duration:g} s, source {args.source} ({took:.1f} s wall)"
    )
    print(f"  published         {count:>12,}")
    print(f"  expected          {args.clients * count:>12,}")
    print(f"  delivered         {delivered:>12,}")
    print(f"  lost              {lost:>12,}  (not received within --duration + 60 s)")
    print(f"  gaps or repeats   {broken:>12,}  clients (seqs not 1, 2, 3... in order)")
    print(f"  dropped clients   {stats['hub']['dropped_clients']:>12,}  {closed or ''}")
    print(f"  latency p50       {percentile(latencies, 0.50):>12.2f} ms")
    print(f"  latency p99       {percentile(latencies, 0.99):>12.2f} ms")
    print(f"  latency max       {max(latencies, default=float('nan')):>12.2f} ms")
    print(f"  feed dropped      {stats['feed']['dropped']:>12,}")
    cpu, per_send = stats["cpu_s"], stats["cpu_s"] / max(delivered, 1) * 1e6
    print(f"  server CPU        {cpu:>12.1f} s  ({per_send:.0f} us a send)")


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--rate", type=float, default=100.0, help="events a second")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of publishing")
    parser.add_argument("--source", choices=("process", "nats"), default="process")
    parser.add_argument("--nats", default="nats://127.0.0.1:4222")
    parser.add_argument("--serve-child", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


if __name__ == "__main__":
    parsed = parse(sys.argv[1:])
    if parsed.serve_child:
        serve_child(parsed)
        sys.exit(0)
    threading.current_thread().name = "bench"
    sys.exit(main(parsed))
