"""`coinswarm risk stop` stops every mode, as a person runs it from another terminal.

The stop goes to every mode's risk state file (and to the shared kill switch when there is
one); paper, sandbox and live each obey their file through the same operator, and
`coinswarm risk status` shows every stop any of them would obey. A backtest given the shared
kill switch reads it once at start: a stop in force then refuses every order, the run says so,
and the run's identity records it, so the same command after a reset is a new, clean run.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from cli_harness import coinswarm
from redis_harness import REDIS

SANDBOX = ("sandbox", "--bars", "25", "--bar-seconds", "0.05", "--strategy", "sma-cross",
           "--param", "fast=2", "--param", "slow=5", "--json")  # fmt: skip
PAPER = ("paper", "--speed", "max", "--bars", "400", "--strategy", "sma-cross",
         "--param", "fast=3", "--param", "slow=8", "--json")  # fmt: skip


def _json(done) -> dict:
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def test_a_person_s_stop_stops_paper_and_sandbox_until_reset(tmp_path: Path) -> None:
    stop = coinswarm("risk", "stop", "--by", "alice", "--reason", "going on holiday")
    assert stop.returncode == 0, stop.stderr
    assert "(paper, sandbox, live)" in stop.stdout
    status = coinswarm("risk", "status")
    assert status.returncode == 0, status.stderr
    for mode in ("paper", "sandbox", "live"):
        assert f"{mode}: " in status.stdout
    assert "stopped: paper, sandbox, live" in status.stdout
    assert "no stops: trading allowed" not in status.stdout

    stopped = _json(coinswarm(*PAPER))
    assert stopped["orders"] > 0, "sma-cross 3/8 asks to trade within 400 bars"
    assert stopped["refused_orders"] == stopped["orders"]
    assert stopped["trades"] == 0
    human = coinswarm(*PAPER[:-1])
    assert "refused by the risk layer:" in human.stdout
    assert "going on holiday" in human.stdout
    assert "warning: paper trading is stopped" in human.stderr
    assert "coinswarm risk reset --mode paper" in human.stderr

    blocked = coinswarm(*SANDBOX)
    assert "warning: sandbox trading is stopped" in blocked.stderr
    assert "coinswarm risk reset --mode sandbox" in blocked.stderr
    sandbox = _json(blocked)
    assert sandbox["orders"] > 0
    assert sandbox["refused_orders"] == sandbox["orders"]

    reset = coinswarm("risk", "reset", "--by", "bob", "--reason", "back")
    assert reset.returncode == 0, reset.stderr
    assert "no stops: trading allowed" in coinswarm("risk", "status").stdout
    trading = _json(coinswarm(*PAPER))
    assert trading["refused_orders"] < trading["orders"]
    assert trading["trades"] > 0
    assert not any("MANUAL" in e for e in trading["risk_events"])


def test_a_stop_for_one_mode_leaves_the_others_alone(tmp_path: Path) -> None:
    done = coinswarm("risk", "stop", "--by", "alice", "--reason", "paper only", "--mode", "paper")
    assert done.returncode == 0, done.stderr
    status = coinswarm("risk", "status").stdout
    assert "stopped: paper\n" in status or "stopped: paper;" in status
    bad = coinswarm("risk", "stop", "--by", "a", "--reason", "b", "--mode", "moon")
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: --mode")


def test_the_shared_stop_is_shown_obeyed_and_never_poisons_a_run_id(
    tmp_path: Path, redis_namespace: str
) -> None:
    backtest = ("backtest", "--strategy", "sma-cross", "--param", "fast=3", "--param", "slow=8",
                "--bars", "400", "--phase", "1", "--state-url", REDIS, "--json")  # fmt: skip
    stop = coinswarm("risk", "stop", "--by", "alice", "--reason", "outage", "--state-url", REDIS)
    assert "shared kill switch" in stop.stdout
    status = coinswarm("risk", "status", "--state-url", REDIS).stdout
    secret = coinswarm("risk", "status", "--state-url", "redis://:hunter2@127.0.0.1:6379/0")
    assert "hunter2" not in secret.stdout + secret.stderr, "a status never shows a password"
    assert "shared kill switch" in status
    assert "set by alice" in status
    assert "outage" in status

    blocked = _json(coinswarm(*backtest))
    assert blocked["orders"] > 0
    assert blocked["refused_orders"] == blocked["orders"]
    assert any("SHARED_STOP: outage (by alice)" in e for e in blocked["risk_events"])

    assert coinswarm("risk", "reset", "--by", "bob", "--reason", "up", "--state-url", REDIS)
    clean = _json(coinswarm(*backtest))
    assert clean["run"] != blocked["run"], "the stop in force is part of the run's identity"
    assert clean["refused_orders"] < clean["orders"]
    assert not any("SHARED_STOP" in e for e in clean["risk_events"])
    assert clean["trades"] > 0
    again = _json(coinswarm(*backtest))  # re-checks the stored run: the same, not poisoned
    assert again["run"] == clean["run"]
    resumed = _json(coinswarm("resume", blocked["run"], "--json"))
    assert resumed["refused_orders"] == blocked["refused_orders"]
    assert os.environ["COINSWARM_STATE_NAMESPACE"] == redis_namespace
