"""The kill switch set from one process stops another (Redis), and an unreadable one stops too.

Needs the Redis server on 127.0.0.1:6379; skips with that reason where it is absent.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys

import pytest
import redis

from absent import absent
from coinswarm.backtest.runs import read_explanations
from redis_harness import REDIS, redis_is_up

RUN = ["backtest", "--strategy", "committee", "--bars", "1500", "--quiet", "--json"]


@pytest.fixture(autouse=True)
def _needs_redis() -> None:
    if not redis_is_up():
        absent("no Redis server on 127.0.0.1:6379")


@pytest.fixture
def env(tmp_path):
    namespace = f"test-{secrets.token_hex(6)}"
    yield {**os.environ, "COINSWARM_STATE_NAMESPACE": namespace}
    client = redis.Redis.from_url(REDIS)
    for key in client.scan_iter(f"{namespace}:*"):
        client.delete(key)


def coinswarm(env, *args):
    return subprocess.run(
        [sys.executable, "-m", "coinswarm", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        env=env,
    )


def sent_and_refused(tmp_path, env, name):
    runs = tmp_path / name
    done = coinswarm(
        env,
        *RUN,
        "--state-url",
        REDIS,
        "--runs-dir",
        str(runs),
        "--db",
        f"sqlite:///{tmp_path / name}.db",
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    orders = read_explanations(runs, summary["run"]).values()
    sent = [o for o in orders if not o["order_id"].startswith("LOCAL")]
    refused = [o for o in orders if "shared kill switch" in (o.get("reject_reason") or "")]
    return sent, refused


def test_a_stop_from_another_process_blocks_every_order_until_reset(tmp_path, env):
    state = str(tmp_path / "risk-state.json")
    stop = coinswarm(
        env,
        "risk",
        "stop",
        "--by",
        "alice",
        "--reason",
        "exchange outage",
        "--state",
        state,
        "--state-url",
        REDIS,
    )
    assert stop.returncode == 0, stop.stderr
    sent, refused = sent_and_refused(tmp_path, env, "stopped")
    assert sent == []
    assert refused
    assert all("set by alice: exchange outage" in o["reject_reason"] for o in refused)
    reset = coinswarm(
        env,
        "risk",
        "reset",
        "--by",
        "bob",
        "--reason",
        "back up",
        "--state",
        state,
        "--state-url",
        REDIS,
    )
    assert reset.returncode == 0, reset.stderr
    sent, refused = sent_and_refused(tmp_path, env, "running")
    assert sent
    assert refused == []


def test_an_unreachable_shared_state_refuses_to_start(tmp_path, env):
    with socket.socket() as probe:  # a port on 127.0.0.1 that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    done = coinswarm(
        env,
        *RUN,
        "--state-url",
        f"redis://127.0.0.1:{port}/0",
        "--db",
        f"sqlite:///{tmp_path / 'x.db'}",
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert f"127.0.0.1:{port}" in done.stderr
    assert done.stderr.startswith("error: ")
