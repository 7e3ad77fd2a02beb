"""`kill -9` of a paper session raises the session-down alert at a person's webhook.

As an operator runs it: `coinswarm serve --bus nats://...` with a webhook channel to a local
receiver, and `coinswarm paper --bus nats://... --heartbeat S` in another process. Once the
server has heard the session beat, the session is killed with SIGKILL (no stop event, no
goodbye), and the webhook must get the session-down alert within twice the heartbeat, plus
the slack of a loaded machine (the dead-man's switch checks every eighth of that silence; the
outbox posts at once). Needs NATS on 127.0.0.1:4222 (skips, or fails under CI, without it).
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from absent import absent
from alert_harness import HttpReceiver
from coinswarm.infra.bus import NatsBus
from coinswarm.infra.telemetry_send import bus_config

NATS = "nats://127.0.0.1:4222"
HEARTBEAT_S = 1.0
SLACK_S = 3.0
VIEWER = "viewer-" + "v" * 24
HOOK_PATH = "/hook/T0/B0/downtime-secret"


def nats_is_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 4222), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture
def stream() -> Iterator[dict[str, str]]:
    """A NATS stream and subject prefix of the test's own, deleted afterwards."""
    if not nats_is_up():
        absent("no NATS server on 127.0.0.1:4222")
    name = f"T{secrets.token_hex(6).upper()}"
    names = {"COINSWARM_BUS_STREAM": name, "COINSWARM_BUS_PREFIX": name.lower()}
    yield names

    async def drop() -> None:
        previous = {k: os.environ.get(k) for k in names}
        os.environ.update(names)
        try:
            bus = await NatsBus.connect(bus_config(NATS))
            await bus.delete_stream()
            await bus.close()
        finally:
            for key, value in previous.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    asyncio.run(drop())


def environment(home: Path, **extra: str) -> dict[str, str]:
    keep = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("COINSWARM_API_", "COINSWARM_ALERT_"))
    }
    return {**keep, "COINSWARM_HOME": str(home), "COLUMNS": "80", **extra}


@contextmanager
def started(command: list[str], env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "coinswarm", *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)


def serve_url(process: subprocess.Popen[str]) -> str:
    line = process.stdout.readline() if process.stdout else ""
    found = re.fullmatch(r"serving (http://127\.0\.0\.1:\d+/) .*\n", line)
    assert found, f"printed {line!r}; stderr: {process.stderr.read() if process.stderr else ''}"
    return found.group(1)


def watched(url: str) -> dict[str, bool]:
    answer = httpx.get(
        url + "api/alerts?limit=5", headers={"Authorization": f"Bearer {VIEWER}"}, timeout=5
    )
    answer.raise_for_status()
    return {s["run_id"]: s["down"] for s in answer.json()["sessions"]}


def wait_for(condition: object, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.02)
    pytest.fail(f"timed out after {timeout_s} s waiting for {what}")


def test_kill_9_of_a_paper_session_raises_the_downtime_alert(
    tmp_path: Path, stream: dict[str, str]
) -> None:
    with HttpReceiver() as receiver:
        server_env = environment(
            tmp_path,
            **stream,
            COINSWARM_API_VIEWER_TOKEN=VIEWER,
            COINSWARM_ALERT_WEBHOOK_URLS=receiver.url(HOOK_PATH),
        )
        session_env = environment(tmp_path, **stream)
        with started(["serve", "--port", "0", "--bus", NATS], server_env) as server:
            url = serve_url(server)
            paper = ["paper", "--bus", NATS, "--heartbeat", str(HEARTBEAT_S), "--quiet"]
            with started(paper, session_env) as session:
                wait_for(lambda: any(not d for d in watched(url).values()), 60, "a heartbeat")
                assert session.poll() is None, session.stderr.read() if session.stderr else ""
                (run_id,) = watched(url)
                os.kill(session.pid, signal.SIGKILL)
                killed = time.monotonic()
                session.wait(timeout=10)
            wait_for(lambda: bool(receiver.requests), 2 * HEARTBEAT_S + SLACK_S, "the alert")
            took = time.monotonic() - killed
            assert watched(url) == {run_id: True}
            server.send_signal(signal.SIGTERM)
            _out, err = server.communicate(timeout=30)
    (post,) = receiver.requests
    text = post.json()["text"]
    assert text.startswith(f"[coinswarm CRITICAL] {run_id}: the session is down"), text
    # The last beat may have left up to one heartbeat before the kill.
    assert HEARTBEAT_S < took < 2 * HEARTBEAT_S + SLACK_S, took
    assert HOOK_PATH not in err
    assert "Traceback" not in err
