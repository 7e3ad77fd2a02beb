"""Paper, sandbox and live from the command line: the backtest's report, progress, Ctrl-C.

`--report FILE` is checked before anything starts and written when the session ends, also
when Ctrl-C ends it. Progress goes to stderr; piped (as here) it is a plain line at the first
bar and at the end (`COINSWARM_PROGRESS=lines` makes sure of it on any machine).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import typer

from cli_harness import coinswarm
from coinswarm.cli import app

LINES = {"COINSWARM_PROGRESS": "lines"}
SMA = ("--strategy", "sma-cross", "--param", "fast=3", "--param", "slow=8")


def _page(report: Path) -> str:
    return report.read_text(encoding="utf-8").split("</head>", 1)[1]  # past plotly.js


def _order_rows(page: str) -> int:
    start = page.index("<h2>Orders</h2>")
    return page[start : page.index("<h2>", start + 4)].count("<tr><td>")


def _metrics(page: str) -> dict[str, dict[str, float]]:
    found = re.search(r'id="cs-metrics">(.*?)</script>', page)
    assert found is not None
    return json.loads(found.group(1))  # type: ignore[no-any-return]


def test_paper_writes_the_report_with_its_orders_and_equity_and_tells_its_progress(
    tmp_path: Path,
) -> None:
    report = tmp_path / "paper.html"
    done = coinswarm(
        "paper", "--speed", "max", "--bars", "300", *SMA, "--report", str(report), env=LINES
    )
    assert done.returncode == 0, done.stderr[-3000:]
    run = re.search(r"run: (\S+) \(phase 1, (\d+) orders\)", done.stdout)
    assert run is not None, done.stdout
    orders = int(run.group(2))
    assert f"report: {report}" in done.stdout
    page = _page(report)
    assert "<h1>Paper session: sma-cross</h1>" in page
    assert f"Run {run.group(1)}: " in page
    assert _order_rows(page) == orders > 5
    assert 'id="cs-equity"' in page
    # Progress: the first bar and the end, with the equity the report states.
    lines = [line for line in done.stderr.splitlines() if line.startswith("paper sma-cross: ")]
    assert lines[0].startswith("paper sma-cross: bar 1 of 300, at 2022-01-01 00:00 UTC")
    assert lines[-1].startswith("paper sma-cross: ended after 300 bars, ")
    final = _metrics(page)["strategy"]["final_equity"]
    assert f"equity {final:,.2f} USDT, {orders} orders, " in lines[-1]


def test_ctrl_c_ends_a_paper_session_with_its_report_of_what_happened(tmp_path: Path) -> None:
    report = tmp_path / "stopped.html"
    # 3600x real time: a bar a second, so 200 bars would take minutes.
    args = ("paper", "--speed", "3600", "--bars", "200", *SMA, "--report", str(report))
    process = subprocess.Popen(
        [sys.executable, "-m", "coinswarm", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **LINES, "COINSWARM_HOME": str(tmp_path / "home")},
    )
    try:
        assert process.stderr is not None
        first = process.stderr.readline()
        assert first.startswith("paper sma-cross: bar 1 of 200, "), first
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 0, err[-3000:]
    assert "stopping after the current bar (Ctrl-C)" in err
    ended = re.search(r"paper sma-cross: ended after (\d+) bars, ", err)
    assert ended is not None, err
    bars = int(ended.group(1))
    assert 1 <= bars < 200
    assert f"report: {report}" in out
    page = _page(report)
    assert "<strong>Stopped with Ctrl-C: this report covers the paper session" in page
    assert f"{bars} bars of 1h" in page


def test_the_default_sandbox_writes_the_report_and_tells_its_progress(tmp_path: Path) -> None:
    report = tmp_path / "sandbox.html"
    done = coinswarm(
        "sandbox", "--bars", "20", "--bar-seconds", "0.05", "--strategy", "sma-cross",
        "--param", "fast=2", "--param", "slow=5", "--state", str(tmp_path / "state.json"),
        "--db", f"sqlite:///{tmp_path / 'sandbox.db'}", "--report", str(report),
        env=LINES,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    page = _page(report)
    assert "<h1>Sandbox session: sma-cross</h1>" in page
    run = re.search(r"run: (sandbox-\S+) \(phase 2, (\d+) orders\)", done.stdout)
    assert run is not None, done.stdout
    assert f"Run {run.group(1)}: " in page
    assert _order_rows(page) == int(run.group(2))
    assert "sandbox sma-cross: bar 1 of 20, at " in done.stderr
    assert "sandbox sma-cross: ended after " in done.stderr


def test_a_report_path_that_cannot_be_written_is_refused_before_anything_starts(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    folder = tmp_path / "a-folder"
    folder.mkdir()
    for args in (
        ("paper", "--speed", "max", "--bars", "50"),
        ("sandbox", "--bars", "5", "--bar-seconds", "0.05"),
        ("live", "--url", "https://127.0.0.1:9", "--phase", "3", "--product", "BTC-USD"),
        ("backtest",),
    ):
        done = coinswarm(*args, "--report", str(folder), home=home)
        assert done.returncode == 2, (args, done.stderr)
        assert done.stderr.startswith(f"error: --report: {folder} is a folder"), done.stderr
        assert len(done.stderr.splitlines()) == 1
        assert "To trade real money" not in done.stdout  # live asked for nothing
    missing = coinswarm("paper", "--report", str(tmp_path / "no" / "r.html"), home=home)
    assert missing.returncode == 2
    assert "does not exist" in missing.stderr
    # Nothing started: no session journal, no database of any mode.
    written = sorted(p.name for p in home.rglob("*") if p.name != "coinswarm.log")
    assert written == [], written
    assert list(folder.iterdir()) == []


def _option(command: str, name: str) -> str:
    """Return the help of `coinswarm COMMAND`'s option `name`, as the app declares it."""
    group = typer.main.get_command(app)
    leaf = group.commands[command]  # type: ignore[attr-defined]
    (option,) = [p for p in leaf.params if p.name == name]
    return str(option.help or "")


def test_speed_says_what_it_means_in_the_help() -> None:
    text = _option("paper", "speed")
    assert "a multiple of real time" in text
    assert "60 replays an hour of market time a minute (hourly bars: one bar a minute)" in text
    assert "max: as fast as the engine goes" in text
    for command in ("paper", "sandbox", "live", "backtest"):
        assert "HTML report" in _option(command, "report")
