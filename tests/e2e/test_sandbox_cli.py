"""`coinswarm sandbox` from the command line: the local exchange, a session, a report, a person.

The default sandbox starts a local Coinbase-compatible exchange on 127.0.0.1 with a new key and
trades on its candles; the session reports the shadow backtest's gap on stderr and writes its
journal, which `coinswarm replay` reproduces.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from cli_harness import coinswarm


def test_a_default_sandbox_session_runs_reports_and_replays(tmp_path: Path) -> None:
    state = tmp_path / "risk-state.json"
    done = coinswarm(
        "sandbox", "--bars", "25", "--bar-seconds", "0.05", "--strategy", "sma-cross",
        "--param", "fast=2", "--param", "slow=5", "--shadow-every", "10",
        "--state", str(state), "--db", f"sqlite:///{tmp_path / 'sandbox.db'}", "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert summary["run"].startswith("sandbox-")
    assert "shadow backtest after 10 bars" in done.stderr
    assert "shadow backtest after 25 bars" in done.stderr
    journal = Path(os.environ["COINSWARM_HOME"]) / "sessions" / f"{summary['run']}.jsonl"
    replayed = coinswarm("replay", str(journal), "--json")
    assert replayed.returncode == 0, replayed.stderr[-3000:]
    assert json.loads(replayed.stdout)["equal"] is True
