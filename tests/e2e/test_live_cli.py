"""`coinswarm paper --bus|--serve` as a person runs it: a process of its own.

With --serve the session serves the API and the dashboards itself; a websocket client sees
the session's events from its start to its stop. With --bus, a consumer on NATS sees them
(that test needs NATS on 127.0.0.1:4222). A bad --bus or --heartbeat is one line and exit 2.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect

from absent import absent
from cli_harness import coinswarm
from coinswarm.infra.bus import Event, NatsBus
from coinswarm.infra.telemetry_send import bus_config

NATS = "nats://127.0.0.1:4222"


@pytest.mark.parametrize(
    ("option", "value", "said"),
    [
        ("--bus", "redis://127.0.0.1:6379", "expected a NATS URL"),
        ("--bus", "nats://", "expected a NATS URL"),
        ("--heartbeat", "0", "expected seconds above 0"),
        ("--serve-port", "70000", "--serve-port"),
    ],
)
def test_bad_live_options_are_one_line_and_exit_2(
    option: str, value: str, said: str, tmp_path: Path
) -> None:
    done = coinswarm("paper", "--bars", "50", option, value, home=tmp_path)
    assert done.returncode == 2, done.stderr
    assert said in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "paper.db").exists()


def test_paper_serve_streams_the_session_to_a_websocket_client(tmp_path: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "coinswarm",
        "paper",
        "--bars",
        "120",
        "--speed",
        str(3600 * 40),  # 40 hourly bars a second: three seconds of session
        "--serve",
        "--serve-port",
        "0",
        "--heartbeat",
        "0.2",
        "--quiet",
        "--json",
    ]
    env = {**os.environ, "COINSWARM_HOME": str(tmp_path), "COINSWARM_API_PUBLIC": "1"}
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env) as run:
        assert run.stderr is not None
        url = None
        for raw in run.stderr:
            found = re.search(r"serving the API and dashboards at (http://\S+)", raw.decode())
            if found:
                url = found.group(1)
                break
        assert url is not None, "the session did not say where it serves"
        threading.Thread(target=run.stderr.read, daemon=True).start()  # keep stderr flowing

        async def listen() -> list[dict[str, Any]]:
            events: list[dict[str, Any]] = []
            async with connect(url.replace("http://", "ws://") + "/api/ws?after=0") as socket_:
                while not events or events[-1]["kind"] != "stop":
                    events.append(json.loads(await asyncio.wait_for(socket_.recv(), 30)))
            return events

        events = asyncio.run(listen())
        out, _ = run.communicate(timeout=60)
    assert run.returncode == 0
    summary = json.loads(out)
    kinds = [e["kind"] for e in events]
    assert kinds[0] == "start"
    assert (kinds[-1], events[-1]["status"]) == ("stop", "finished")
    assert kinds.count("bar") == kinds.count("equity") == 120
    assert "heartbeat" in kinds
    assert {e["run_id"] for e in events} == {summary["run"]}
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))


def nats_is_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 4222), timeout=0.5):
            return True
    except OSError:
        return False


def test_paper_bus_publishes_every_event_on_nats(tmp_path: Path) -> None:
    if not nats_is_up():
        absent("no NATS server on 127.0.0.1:4222")
    name = f"T{secrets.token_hex(6).upper()}"
    env = {"COINSWARM_BUS_STREAM": name, "COINSWARM_BUS_PREFIX": name.lower()}
    os.environ.update(env)
    try:

        async def consume() -> list[dict[str, Any]]:
            bus = await NatsBus.connect(bus_config(NATS))
            received: list[dict[str, Any]] = []
            stopped = asyncio.Event()

            async def handle(event: Event) -> None:
                payload = json.loads(event.payload)
                assert event.subject == f"live.{payload['run_id']}.{payload['kind']}"
                received.append(payload)
                if payload["kind"] == "stop":
                    stopped.set()

            await bus.subscribe("live.>", "checker", handle)
            done = await asyncio.to_thread(
                coinswarm,
                "paper",
                "--bars",
                "80",
                "--speed",
                "max",
                "--bus",
                NATS,
                "--quiet",
                "--json",
                home=tmp_path,
                env=env,
            )
            assert done.returncode == 0, done.stderr
            await asyncio.wait_for(stopped.wait(), 20)
            await bus.delete_stream()
            await bus.close()
            received.append({"kind": "_summary", **json.loads(done.stdout)})
            return received

        *events, summary = asyncio.run(consume())
    finally:
        for key in env:
            os.environ.pop(key, None)
    kinds = [e["kind"] for e in events]
    assert kinds[0] == "start"
    assert kinds[-1] == "stop"
    assert kinds.count("bar") == kinds.count("equity") == 80
    assert {e["run_id"] for e in events} == {summary["run"]}
    assert events[-1]["status"] == "finished"
