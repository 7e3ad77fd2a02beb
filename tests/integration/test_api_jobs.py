"""Jobs from the API: a real tiny backtest runs to its end and lists its run id; bad arguments
are a 422 before anything runs; one job more than the server allows is a 409; the server's
stop ends every job and its process group; a job never sees the API's tokens.

Most checks use a stand-in interpreter (a small script given as the job's `python`), which
prints what it was given or sleeps, so that only one test pays for a real backtest.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from coinswarm.api.app import create_app
from coinswarm.api.audit import AUDITOR
from coinswarm.api.build import build_services
from coinswarm.api.jobs import JOBS, BacktestJob, Jobs
from coinswarm.api.services import Services
from coinswarm.api.settings import ServeSettings
from coinswarm.infra import audit
from coinswarm.infra.storage import Store

OPERATOR = "operator-" + "j" * 24
VIEWER = "viewer-" + "k" * 24
AS_OPERATOR = {"Authorization": f"Bearer {OPERATOR}"}
AS_VIEWER = {"Authorization": f"Bearer {VIEWER}"}


@pytest.fixture
def settings(tmp_path: Path) -> ServeSettings:
    return ServeSettings.model_validate(
        {
            "viewer_token": VIEWER,
            "operator_token": OPERATOR,
            "db": f"sqlite:///{tmp_path / 'server.db'}",
            "runs_dir": tmp_path / "runs",
        }
    )


@pytest.fixture
def server(settings: ServeSettings) -> Iterator[Services]:
    found = build_services(settings)
    yield found
    asyncio.run(found.parts[JOBS].stop())
    asyncio.run(found.parts[AUDITOR].stop())


def request(
    found: Services,
    method: str,
    path: str,
    body: Any = None,
    headers: Mapping[str, str] = AS_OPERATOR,
) -> httpx.Response:
    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_app(found=found))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.request(method, path, json=body, headers=dict(headers))

    return asyncio.run(send())


def stand_in(tmp_path: Path, body: str) -> str:
    """Write an executable stand-in for the job's Python; `body` is its Python code."""
    script = tmp_path / "stand-in-python"
    script.write_text(f"#!{sys.executable}\nimport json, os, signal, sys, time\n{body}\n")
    script.chmod(0o755)
    return str(script)


def job_audit(db: str) -> list[dict[str, Any]]:
    with Store.open(db, upgrade=True) as store:
        assert audit.verify(store.engine).ok
        return [e.data() for e in audit.entries(store.engine) if e.kind == "api_control"]


def test_a_tiny_backtest_job_finishes_and_lists_its_run(server: Services, settings: ServeSettings):
    started = request(
        server, "POST", "/api/jobs/backtest", {"strategy": "sma-cross", "bars": 300, "seed": 3}
    )
    assert started.status_code == 202, started.text
    job = started.json()
    assert job["status"] == "running"
    assert job["command"][:5] == ["backtest", "--json", "--quiet", "--strategy", "sma-cross"]
    assert job["by"] == "api operator at 127.0.0.1"

    done = server.parts[JOBS].wait(job["id"], 240)
    assert done.status == "finished", done
    assert done.exit_code == 0
    assert done.run_id is not None
    listed = request(server, "GET", "/api/jobs", headers=AS_VIEWER)
    assert listed.status_code == 200
    (shown,) = listed.json()
    assert (shown["id"], shown["status"], shown["run_id"]) == (job["id"], "finished", done.run_id)
    # The job wrote to the server's own database and runs folder.
    with Store.open(settings.db, upgrade=True) as store:
        run = store.get_run(done.run_id)
    assert run is not None
    assert run.strategy == "sma-cross"
    assert (settings.runs_dir / done.run_id).is_dir()
    (entry,) = [e for e in job_audit(settings.db or "") if e["action"] == "job.backtest"]
    assert entry["outcome"] == "started"
    assert entry["detail"]["job"] == job["id"]
    assert entry["detail"]["command"] == job["command"]


@pytest.mark.parametrize(
    ("path", "body", "said"),
    [
        ("backtest", {"strategy": "no-such"}, "strategy: expected one of"),
        ("backtest", {"strategy": "evil.py:Strategy"}, "strategy"),
        ("backtest", {"strategy": "../x"}, "strategy"),
        ("backtest", {"data": ["/no/such/file.csv"]}, "data: no file at /no/such/file.csv"),
        ("backtest", {"data": ["PYPROJECT"]}, "data: expected a CSV or Parquet bar file"),
        ("backtest", {"data": ["BARS"], "bars": 100}, "bars:"),
        ("backtest", {"params": {"slowest": "3"}}, "params.slowest"),
        ("backtest", {"params": {"fast": "-"}}, "params.fast"),
        ("backtest", {"start": "2021-13-45"}, "start: expected a UTC date"),
        ("backtest", {"start": "yesterday"}, "start"),
        ("backtest", {"bars": 1}, "bars"),
        ("backtest", {"phase": "none"}, "phase"),
        ("backtest", {"risk_file": "/tmp/x.toml"}, "risk_file"),
        ("evolve", {"demo": True, "data": ["BARS"]}, "demo: give either"),
        ("evolve", {}, "demo: give either"),
        ("evolve", {"demo": True, "cycles": 0}, "cycles"),
        ("evolve", {"demo": True, "workers": 64}, "workers"),
    ],
)
def test_a_job_that_cannot_run_is_a_422_and_starts_nothing(
    server: Services, tmp_path: Path, path, body, said
):
    bars = tmp_path / "bars.csv"
    bars.write_text("timestamp,open,high,low,close,volume\n", encoding="utf-8")
    (tmp_path / "pyproject.toml").write_text("", encoding="utf-8")
    swap = {"BARS": str(bars), "PYPROJECT": str(tmp_path / "pyproject.toml")}
    if "data" in body:
        body = {**body, "data": [swap.get(d, d) for d in body["data"]]}
    answer = request(server, "POST", f"/api/jobs/{path}", body)
    assert answer.status_code == 422, answer.text
    assert said in answer.json()["error"]
    assert "\n" not in answer.json()["error"]
    assert request(server, "GET", "/api/jobs", headers=AS_VIEWER).json() == []


def test_one_job_more_than_allowed_is_a_409(
    server: Services, settings: ServeSettings, tmp_path: Path
):
    server.parts[JOBS] = Jobs(
        settings, max_running=1, grace_s=5, python=stand_in(tmp_path, "time.sleep(60)")
    )
    first = request(server, "POST", "/api/jobs/evolve", {"demo": True})
    assert first.status_code == 202, first.text
    second = request(server, "POST", "/api/jobs/backtest", {})
    assert second.status_code == 409
    assert second.json()["error"].startswith(
        "1 jobs are running, the most this server runs at once"
    )
    outcomes = [(e["action"], e["outcome"]) for e in job_audit(settings.db or "")]
    assert outcomes == [("job.evolve", "started"), ("job.backtest", "refused")]
    assert [j["status"] for j in request(server, "GET", "/api/jobs", headers=AS_VIEWER).json()] == [
        "running"
    ]


def test_the_server_s_stop_ends_every_job_and_its_workers(settings: ServeSettings, tmp_path: Path):
    pids = tmp_path / "pids"
    # A job that forks a worker and ignores SIGTERM: only killing its group ends both.
    body = f"""
signal.signal(signal.SIGTERM, signal.SIG_IGN)
child = os.fork()
if child == 0:
    time.sleep(120)
    sys.exit(0)
open({str(pids)!r}, "w").write(f"{{os.getpid()}} {{child}}")
time.sleep(120)
"""
    jobs = Jobs(settings, grace_s=1, python=stand_in(tmp_path, body))
    view = jobs.launch("backtest", ["backtest"], by="test")
    deadline = time.monotonic() + 30
    while not pids.exists() or not pids.read_text().strip():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    leader, worker = (int(p) for p in pids.read_text().split())
    started = time.monotonic()
    asyncio.run(jobs.stop())
    assert time.monotonic() - started < 10
    (stopped,) = jobs.views()
    assert (stopped.id, stopped.status) == (view.id, "stopped")
    assert stopped.exit_code == -9
    for pid in (leader, worker):
        assert not alive(pid)
    with pytest.raises(Exception, match="stopping"):
        jobs.launch("backtest", ["backtest"], by="test")


def alive(pid: int) -> bool:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        time.sleep(0.05)
    return True


def test_a_job_runs_the_checked_options_without_a_shell_and_reads_its_run_id(
    settings: ServeSettings, tmp_path: Path
):
    body = 'print(json.dumps({"run": json.dumps(sys.argv[1:])}))'
    jobs = Jobs(settings, python=stand_in(tmp_path, body))
    args = jobs.backtest_command(
        BacktestJob.model_validate(
            {"params": {"fast": "5", "slow": "20"}, "start": "2021-01-01", "end": "2021-02-01"}
        )
    )
    view = jobs.launch("backtest", args, by="test")
    done = jobs.wait(view.id, 30)
    assert done.status == "finished"
    assert json.loads(done.run_id or "") == ["-m", "coinswarm", *args]  # exactly, no shell
    assert args == [
        "backtest", "--json", "--quiet", "--strategy", "sma-cross",
        "--start", "2021-01-01", "--end", "2021-02-01",
        "--param", "fast=5", "--param", "slow=20",
        "--db", settings.db, "--runs-dir", str(settings.runs_dir),
    ]  # fmt: skip


def test_the_child_environment_has_no_api_variable(
    settings: ServeSettings, tmp_path: Path, monkeypatch
):
    monkeypatch.setenv("COINSWARM_API_OPERATOR_TOKEN", OPERATOR)
    monkeypatch.setenv("COINSWARM_API_PUBLIC", "1")
    body = (
        'seen = sorted(k for k in os.environ if k.startswith("COINSWARM_"))\n'
        'print(json.dumps({"run": ",".join(seen)}))'
    )
    jobs = Jobs(settings, python=stand_in(tmp_path, body))
    done = jobs.wait(jobs.launch("evolve", ["evolve"], by="test").id, 30)
    seen = (done.run_id or "").split(",")
    assert "COINSWARM_PROGRESS" in seen
    assert "COINSWARM_HOME" in seen
    assert not [name for name in seen if name.startswith("COINSWARM_API_")]
    assert OPERATOR not in json.dumps(done.model_dump())
