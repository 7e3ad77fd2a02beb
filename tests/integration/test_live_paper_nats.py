"""A paper session publishes its live events on NATS; a server in the same test follows them
and a websocket client sees them in order: a bar and the account after it, bar after bar,
heartbeats in between (also while the engine stalls), the stop at the end.

A bus that is down costs the session dropped events and nothing else: the same final equity
as without a bus. The NATS tests need the server on 127.0.0.1:4222 and skip (fail under CI)
without it; each uses a stream and prefix of its own, deleted afterwards.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from absent import absent
from coinswarm import bootstrap
from coinswarm.api.app import create_app
from coinswarm.api.beside import running
from coinswarm.api.feed import install_live
from coinswarm.api.services import Services
from coinswarm.api.settings import ServeSettings
from coinswarm.infra.bus import NatsBus
from coinswarm.infra.telemetry import Telemetry
from coinswarm.infra.telemetry_send import NatsTransport, Publisher, Publishers, bus_config

NATS = "nats://127.0.0.1:4222"
BARS = 150
HEARTBEAT_S = 0.05
STALL_AT, STALL_S = 80, 1.0


def nats_is_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 4222), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture
def stream(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if not nats_is_up():
        absent("no NATS server on 127.0.0.1:4222")
    name = f"T{secrets.token_hex(6).upper()}"
    monkeypatch.setenv("COINSWARM_BUS_STREAM", name)
    monkeypatch.setenv("COINSWARM_BUS_PREFIX", name.lower())
    yield name

    async def drop() -> None:
        bus = await NatsBus.connect(bus_config(NATS))
        await bus.delete_stream()
        await bus.close()

    asyncio.run(drop())


def paper(tmp_path: Path, bars: int = BARS) -> bootstrap.BacktestRequest:
    return bootstrap.BacktestRequest(
        strategy="committee",
        synthetic_bars=bars,
        mode="paper",
        cash=Decimal(100_000),
        phase="1",
        database=f"sqlite:///{tmp_path / 'paper.db'}",
        state_file=tmp_path / "paper-risk.json",
    )


def stalling(every_s: float) -> Callable[[int], None]:
    """A pace of `every_s` a bar that stalls for STALL_S once, at bar STALL_AT."""
    seen = {"bars": 0}

    def pace(_ts: int) -> None:
        seen["bars"] += 1
        time.sleep(STALL_S if seen["bars"] == STALL_AT else every_s)

    return pace


def collect(ws: str, ready: threading.Event, into: list[dict[str, Any]]) -> threading.Thread:
    """Read the websocket from the first event until the stop event, on a thread."""

    async def read() -> None:
        async with connect(ws + "?after=0") as socket_:
            ready.set()
            while True:
                event = json.loads(await asyncio.wait_for(socket_.recv(), 30))
                into.append(event)
                if event["kind"] == "stop":
                    return

    thread = threading.Thread(target=lambda: asyncio.run(read()), daemon=True)
    thread.start()
    return thread


def test_a_paper_session_on_nats_reaches_a_server_in_order(stream: str, tmp_path: Path) -> None:
    found = Services(settings=ServeSettings(public=True, bus=NATS))
    feed = install_live(found)
    received: list[dict[str, Any]] = []
    with running(create_app(found.settings, found=found), "127.0.0.1", 0) as url:
        assert feed.bus_connected, feed.bus_error
        ready = threading.Event()
        reader = collect(url.replace("http", "ws") + "/api/ws", ready, received)
        assert ready.wait(10)
        publisher = Publisher(NatsTransport(bus_config(NATS)))
        telemetry = Telemetry(Publishers([publisher]), heartbeat_s=HEARTBEAT_S)
        outcome = bootstrap.run(paper(tmp_path), telemetry=telemetry, pace=stalling(0.002))
        publisher.close()
        reader.join(30)
        system = httpx.get(url + "/api/system", timeout=5).json()
    assert publisher.dropped == 0
    kinds = [e["kind"] for e in received]
    assert kinds[0] == "start"
    assert kinds[-1] == "stop"
    assert received[-1]["status"] == "finished"
    assert [e["seq"] for e in received] == list(range(1, len(received) + 1))
    assert {e["run_id"] for e in received} == {outcome.run_id}
    # Each bar is followed by the account after it (before the next bar).
    market = [e for e in received if e["kind"] in ("bar", "equity")]
    assert [e["kind"] for e in market] == ["bar", "equity"] * BARS
    assert all(b["ts_ns"] == a["ts_ns"] for b, a in zip(market[::2], market[1::2], strict=True))
    times = [e["ts_ns"] for e in market[::2]]
    assert times == sorted(times)
    assert Decimal(market[-1]["equity"]) == outcome.result.final_equity
    assert kinds.count("verdict") == BARS
    # The heartbeat goes on while the engine stalls between two bars.
    bars_at = [i for i, k in enumerate(kinds) if k == "bar"]
    stalled = kinds[bars_at[STALL_AT - 2] : bars_at[STALL_AT - 1]]
    assert stalled.count("heartbeat") >= 0.5 * STALL_S / HEARTBEAT_S
    beats = [e for e in received if e["kind"] == "heartbeat"]
    assert [b["beat"] for b in beats] == list(range(1, len(beats) + 1))
    assert [b["interval_s"] for b in beats] == [HEARTBEAT_S] * len(beats)
    assert all(b["dropped"] == 0 for b in beats)
    (session,) = system["sessions"]
    assert (session["run_id"], session["health"], session["status"]) == (
        outcome.run_id,
        "stopped",
        "finished",
    )
    assert session["events"] == len(received)
    bus_hop = next(h for h in system["flow"] if h["from"] == "bus")
    assert bus_hop["events"] == len(received)


def free_port() -> int:
    with closing(socket.socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_bus_that_is_down_changes_nothing_but_what_is_dropped(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    alone = bootstrap.run(paper(tmp_path / "a", bars=400))
    down = Publisher(NatsTransport(bus_config(f"nats://127.0.0.1:{free_port()}")))
    telemetry = Telemetry(Publishers([down]), heartbeat_s=HEARTBEAT_S)
    started = time.monotonic()
    published = bootstrap.run(paper(tmp_path / "b", bars=400), telemetry=telemetry)
    took = time.monotonic() - started
    down.close(timeout_s=1.0)
    assert published.result.final_equity == alone.result.final_equity
    assert [o.client_order_id for o in published.result.orders] == [
        o.client_order_id for o in alone.result.orders
    ]
    assert published.metrics.to_dict() == alone.metrics.to_dict()
    assert down.sent == 0
    assert down.dropped > 3 * 400  # every bar's events, and more, were dropped and counted
    assert took < 60, "the session waited for the bus"


class OwnNats:
    """A NATS server of the test's own (the machine's is never stopped), on a free port."""

    def __init__(self, folder: Path) -> None:
        binary = shutil.which("nats-server")
        if binary is None:
            absent("no nats-server binary to start a NATS of the test's own")
        self.command = [
            binary,
            "-js",
            "-a",
            "127.0.0.1",
            "-p",
            str(free_port()),
            "-sd",
            str(folder),
        ]
        self.url = f"nats://127.0.0.1:{self.command[-3]}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            self.command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        port = int(self.command[-3])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("the test's nats-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None


def until(check: Callable[[], bool], seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "not within the time allowed"
        time.sleep(0.05)


def test_publishing_resumes_when_nats_comes_back(tmp_path: Path) -> None:
    nats = OwnNats(tmp_path / "nats")
    nats.start()
    publisher = Publisher(NatsTransport(bus_config(nats.url), retry_s=0.2, max_retry_s=0.5))
    try:

        def put(n: int) -> None:
            publisher.put({"run_id": "run-x", "kind": "heartbeat", "ts_ns": n, "n": n})

        put(1)
        until(lambda: publisher.sent == 1)
        nats.stop()
        for n in range(2, 50):
            put(n)
            time.sleep(0.02)
        until(lambda: publisher.dropped > 0)
        nats.start()
        sent_before = publisher.sent
        deadline = time.monotonic() + 30
        while publisher.sent == sent_before:
            assert time.monotonic() < deadline, "publishing did not resume"
            put(100)
            time.sleep(0.1)
    finally:
        publisher.close(timeout_s=2.0)
        nats.stop()
    assert publisher.dropped >= 1
