"""`coinswarm serve` as a person runs it: one line with the URL, 127.0.0.1 unless told, the
health check answers, the operator acts (audited), Ctrl-C or SIGTERM stops it with exit 0;
a bad option is one `error:` line and exit 2, and nothing listens."""

from __future__ import annotations

import json
import os
import re
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

from cli_harness import coinswarm

OPERATOR = "operator-" + "t" * 24
VIEWER = "viewer-" + "w" * 24
TOKENS = {"COINSWARM_API_OPERATOR_TOKEN": OPERATOR, "COINSWARM_API_VIEWER_TOKEN": VIEWER}


def environment(home: Path, **extra: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith("COINSWARM_API_")}
    return {**keep, "COINSWARM_HOME": str(home), "COLUMNS": "60", **extra}


@contextmanager
def serving(
    home: Path, *args: str, env: dict[str, str] | None = None
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """Run `coinswarm serve --port 0 ARGS` until the block ends; yield its URL and process."""
    process = subprocess.Popen(
        [sys.executable, "-m", "coinswarm", "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env or environment(home, **TOKENS),
    )
    try:
        line = process.stdout.readline() if process.stdout else ""
        found = re.fullmatch(
            r"serving (http://127\.0\.0\.1:\d+/) \(API docs: \1docs\); Ctrl-C stops\n", line
        )
        assert found, f"printed {line!r}; stderr: {process.stderr.read() if process.stderr else ''}"
        yield found.group(1), process
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=30)


def stop(process: subprocess.Popen[str], how: signal.Signals) -> tuple[int, str]:
    process.send_signal(how)
    _out, err = process.communicate(timeout=30)
    return process.returncode, err


def other_address() -> str | None:
    """Return an address of this machine that is not a loopback one, if it has one."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("10.255.255.255", 1))  # no packet is sent: this only picks a route
        address = probe.getsockname()[0]
    except OSError:
        return None
    finally:
        probe.close()
    return None if address.startswith("127.") else address


def test_serve_prints_its_url_answers_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    started = time.monotonic()
    with serving(tmp_path) as (url, process):
        took = time.monotonic() - started
        health = httpx.get(url + "api/health", timeout=5)
        assert health.status_code == 200
        assert health.json()["status"] == "ok"
        assert httpx.get(url + "openapi.json", timeout=5).json()["info"]["title"] == "Coinswarm"
        port = int(url.rstrip("/").rsplit(":", 1)[1])
        elsewhere = other_address()
        if elsewhere is not None:  # bound to 127.0.0.1 only: not reachable on another address
            with (
                pytest.raises(ConnectionRefusedError),
                socket.create_connection((elsewhere, port), timeout=2),
            ):
                pass
        code, err = stop(process, signal.SIGINT)
    assert code == 0, err
    assert err.rstrip().splitlines()[-1] == "stopped"
    assert "Traceback" not in err
    assert took < 60


def test_sigterm_stops_it_too_and_nothing_logs_a_token(tmp_path: Path) -> None:
    with serving(tmp_path) as (url, process):
        headers = {"Authorization": f"Bearer {OPERATOR}"}
        body = {"mode": "paper", "reason": "from the e2e test"}
        answer = httpx.post(url + "api/control/pause", json=body, headers=headers, timeout=10)
        assert answer.status_code == 200, answer.text
        assert answer.json()["state"]["trading"] == "paused"
        viewer = {"Authorization": f"Bearer {VIEWER}"}
        refused = httpx.post(url + "api/control/stop", json=body, headers=viewer, timeout=10)
        assert refused.status_code == 403
        httpx.get(url + f"api/health?token={OPERATOR}", timeout=5)
        code, err = stop(process, signal.SIGTERM)
    assert code == 0, err
    state = json.loads((tmp_path / "risk-state-paper.json").read_text(encoding="utf-8"))
    assert [a["kind"] for a in state["actions"]] == ["pause"]
    log = (tmp_path / "coinswarm.log").read_text(encoding="utf-8")
    assert OPERATOR not in log + err
    assert VIEWER not in log + err
    verified = coinswarm("audit", "verify", home=tmp_path)
    assert verified.returncode == 0, verified.stderr
    assert "audit log intact: 2 entries" in verified.stdout


@pytest.mark.parametrize(
    ("args", "env", "said"),
    [
        (["--port", "70000"], {}, "--port"),
        (["--host", "0.0.0.0"], {}, "--host 0.0.0.0 is reachable from other machines: set"),
        (
            ["--host", "0.0.0.0"],
            {"COINSWARM_API_OPERATOR_TOKEN": "tiny-Tok3n", "COINSWARM_API_VIEWER_TOKEN": VIEWER},
            "COINSWARM_API_OPERATOR_TOKEN must be at least 16 characters",
        ),
        (["--host", "no-such-host.invalid"], TOKENS, "--host"),
        (["--bus", "http://127.0.0.1:4222"], {}, "--bus: expected a NATS URL"),
        ([], {"COINSWARM_API_PORT": "eighty"}, "COINSWARM_API_PORT"),
        (["--no-such-option"], {}, "no such option"),
    ],
)
def test_a_bad_option_is_one_error_line_and_exit_2(tmp_path: Path, args, env, said) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "coinswarm", "serve", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        env=environment(tmp_path / "home", **env),
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith("error: ")
    assert said in line
    for secret in ("tiny-Tok3n", VIEWER, OPERATOR):
        assert secret not in line
    assert not (tmp_path / "home").exists() or not any((tmp_path / "home").glob("*.db"))


def test_a_port_in_use_is_one_error_line(tmp_path: Path) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        port = str(taken.getsockname()[1])
        done = subprocess.run(
            [sys.executable, "-m", "coinswarm", "serve", "--port", port],
            capture_output=True,
            text=True,
            check=False,
            env=environment(tmp_path, **TOKENS),
            timeout=120,
        )
    finally:
        taken.close()
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert line == f"error: cannot listen on 127.0.0.1 port {port}: Address already in use"
