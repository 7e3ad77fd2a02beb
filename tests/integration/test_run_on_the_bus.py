"""A run publishes its orders, fills and risk events to NATS JetStream; a NATS that cannot be
reached stops the run with one clear error instead of letting it trade unrecorded.

Needs the NATS server on 127.0.0.1:4222; skips with that reason where it is absent.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import sqlite3
import subprocess
import sys

import pytest

from absent import absent
from coinswarm.infra.bus import IdempotentHandler, NatsBus, NatsBusConfig

NATS = "nats://127.0.0.1:4222"
RUN = ["backtest", "--strategy", "committee", "--bars", "1500", "--quiet", "--json"]


def nats_is_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 4222), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture(autouse=True)
def _needs_nats() -> None:
    if not nats_is_up():
        absent("no NATS server on 127.0.0.1:4222")


@pytest.fixture
def stream():
    name = f"T{secrets.token_hex(6).upper()}"
    config = NatsBusConfig(url=NATS, stream=name, prefix=name.lower())
    yield config

    async def drop() -> None:
        bus = await NatsBus.connect(config)
        await bus.delete_stream()
        await bus.close()

    asyncio.run(drop())


def coinswarm(env, *args):
    return subprocess.run(
        [sys.executable, "-m", "coinswarm", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        env=env,
    )


async def consume(config: NatsBusConfig, pattern: str, expected: int) -> list:
    bus = await NatsBus.connect(config)
    received: list = []
    done = asyncio.Event()

    async def handle(event) -> None:
        received.append(event)
        if len(received) >= expected:
            done.set()

    subscription = await bus.subscribe(pattern, "checker", IdempotentHandler(handle))
    try:
        await asyncio.wait_for(done.wait(), timeout=20)
        await asyncio.sleep(0.3)  # anything beyond the expected count would show up now
    finally:
        await subscription.unsubscribe()
        await bus.close()
    return received


def test_every_fill_of_a_run_reaches_the_bus_once_even_after_a_rerun(tmp_path, stream):
    env = {
        **os.environ,
        "COINSWARM_BUS_STREAM": stream.stream,
        "COINSWARM_BUS_PREFIX": stream.prefix,
    }
    database = tmp_path / "coinswarm.db"
    args = [*RUN, "--bus", NATS, "--db", f"sqlite:///{database}"]
    first = coinswarm(env, *args)
    assert first.returncode == 0, first.stderr
    again = coinswarm(env, *args)  # the rerun publishes every checkpoint again
    assert again.returncode == 0, again.stderr
    run = json.loads(first.stdout)["run"]
    with sqlite3.connect(database) as db:
        stored = [r[0] for r in db.execute("select trade_id from fills order by rowid")]
    assert stored
    events = asyncio.run(consume(stream, f"run.{run}.fill", len(stored)))
    assert [json.loads(e.payload)["trade_id"] for e in events] == stored


def test_an_unreachable_bus_stops_the_run_with_one_clear_error(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    done = coinswarm(
        os.environ,
        *RUN,
        "--bus",
        f"nats://127.0.0.1:{port}",
        "--db",
        f"sqlite:///{tmp_path / 'x.db'}",
    )
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ")
    assert f"127.0.0.1:{port}" in lines[0]
