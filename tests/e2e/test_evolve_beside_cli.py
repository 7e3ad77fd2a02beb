"""`--evolve` on the command line: discovery beside a paper session, on stderr, changing nothing
the session does; a bad interval refused in one line before anything runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli_harness import coinswarm


def test_paper_with_evolve_says_on_stderr_what_discovery_waits_for(tmp_path: Path) -> None:
    done = coinswarm(
        "paper", "--bars", "400", "--speed", "max", "--strategy", "sma-cross", "--json",
        "--quiet", "--db", f"sqlite:///{tmp_path / 'paper.db'}", "--evolve", "--evolve-every",
        "0.05",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout)["run"].startswith("run-")  # stdout stays one JSON object
    assert "discovery: waiting for" in done.stderr


@pytest.mark.parametrize(("command", "every"), [("paper", "0"), ("live", "nan")])
def test_an_interval_that_is_not_seconds_above_zero_is_refused(command: str, every: str) -> None:
    done = coinswarm(command, "--evolve", "--evolve-every", every)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert "--evolve-every" in done.stderr
    assert "expected seconds above 0" in done.stderr
