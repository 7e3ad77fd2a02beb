"""Event to alert delivery: from `AlertEngine.observe` to a local webhook receiving the POST.

    python benchmarks/bench_alerts.py [--alerts 1000] [--rate 100] [--no-postgres]

Each of `--alerts` risk events is a distinct alert (its own key), observed by an engine whose
one channel is a webhook on a local HTTP server; the time of each is from `observe` to the
receiver reading the request, on the same `perf_counter`. The path is the real one: the rules,
the de-duplication, the outbox written (alert, delivery row, audit entry in one transaction),
claimed, posted over HTTP and settled. Two loads: "burst" observes every event at once, the
worst a storm of distinct alerts can do; "paced" observes `--rate` events a second. SQLite runs
with synchronous=FULL in a temporary folder; PostgreSQL needs a server on 127.0.0.1:5432 and
is skipped (saying why) without one. Figures only: nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import re
import secrets
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from coinswarm.infra.alerts import AlertEngine, AlertSettings

START_NS = 1_767_225_600_000_000_000
_MARK = re.compile(rb"#(\d+)")


class Receiver:
    """A local webhook on the benchmark's own event loop that notes when each alert arrived.

    asyncio, not a thread per connection: in one process, threads serving HTTP fight the
    engine for the interpreter's lock and the figure measures that fight, not the alerts.
    """

    def __init__(self) -> None:
        self.arrived: dict[int, float] = {}
        self.posts = 0
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/hook"

    async def __aenter__(self) -> Receiver:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, backlog=512)
        return self

    async def __aexit__(self, *_exc: object) -> None:
        assert self._server is not None
        self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                body = await reader.readexactly(length)
                now = time.perf_counter()
                self.posts += 1
                found = _MARK.search(body)
                if found is not None:
                    self.arrived.setdefault(int(found.group(1)), now)
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def _event(n: int, run_id: str) -> dict[str, object]:
    return {
        "kind": "risk",
        "run_id": run_id,
        "mode": "paper",
        "ts_ns": START_NS + n,
        "event": "TRIP",
        "reason": f"trip #{n}",
    }


async def _measure(db: str, count: int, rate: float | None) -> tuple[list[float], int, float]:
    async with Receiver() as receiver:
        settings = AlertSettings(webhook_urls=[receiver.url], dashboard=False, db=None)
        async with AlertEngine(settings, url=db) as engine:
            observed: dict[int, float] = {}
            cpu = time.process_time()
            run_id = f"bench-{secrets.token_hex(4)}"  # keys of their own, whatever ran before
            started = time.perf_counter()
            for n in range(count):
                if rate:
                    delay = started + n / rate - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                observed[n] = time.perf_counter()
                engine.observe(_event(n, run_id))
                if not rate and n % 100 == 99:
                    await asyncio.sleep(0)  # let the writer run, as a live feed would
            deadline = time.monotonic() + 120
            while len(receiver.arrived) < count and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            cpu = time.process_time() - cpu
        latencies = [receiver.arrived[n] - observed[n] for n in observed if n in receiver.arrived]
        return latencies, receiver.posts - len(latencies), cpu


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


def _report(
    backend: str, load: str, latencies: list[float], count: int, extra: int, cpu: float
) -> None:
    if not latencies:
        print(f"{backend:10} {load:14} nothing arrived")
        return
    ms = [x * 1000 for x in latencies]
    print(
        f"{backend:10} {load:14} {len(ms):>5}/{count:<5} p50 {statistics.median(ms):8.1f} ms"
        f"  p90 {_quantile(ms, 0.9):8.1f} ms  p99 {_quantile(ms, 0.99):8.1f} ms"
        f"  max {max(ms):8.1f} ms  CPU {cpu / count * 1000:.1f} ms an alert  repeats {extra}"
    )


@contextmanager
def _postgres() -> Iterator[str | None]:
    try:
        import psycopg  # noqa: PLC0415 - only this backend needs it
        from psycopg import sql  # noqa: PLC0415
    except ImportError:
        print("postgresql: psycopg is not installed; skipped")
        yield None
        return
    try:
        admin = psycopg.connect(
            host="127.0.0.1", port=5432, dbname="test", user=getpass.getuser(), autocommit=True,
            connect_timeout=3,
        )  # fmt: skip
    except psycopg.OperationalError as exc:
        print(f"postgresql: no server on 127.0.0.1:5432 ({str(exc).strip().splitlines()[0]})")
        yield None
        return
    name = f"coinswarm_bench_{secrets.token_hex(4)}"
    with admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            yield f"postgresql+psycopg://{getpass.getuser()}@127.0.0.1:5432/{name}"
        finally:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alerts", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=100.0, help="events a second when paced")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    print(
        f"{args.alerts} distinct alerts, one webhook channel on 127.0.0.1; event to POST received"
    )
    with tempfile.TemporaryDirectory() as folder:
        backends = [("sqlite", f"sqlite:///{Path(folder) / 'alerts.db'}")]
        with _postgres() if not args.no_postgres else _none() as postgres:
            if postgres is not None:
                backends.append(("postgresql", postgres))
            for backend, db in backends:
                for load, rate in (("burst", None), (f"paced {args.rate:g}/s", args.rate)):
                    latencies, extra, cpu = asyncio.run(_measure(db, args.alerts, rate))
                    _report(backend, load, latencies, args.alerts, extra, cpu)


@contextmanager
def _none() -> Iterator[None]:
    yield None


if __name__ == "__main__":
    main()
