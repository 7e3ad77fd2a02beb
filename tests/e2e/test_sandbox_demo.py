"""The README's sandbox demo shows what it demonstrates: orders filled on live data, run after run.

The synthetic market crashes within a bar, which trips the circuit breaker; the demo exchange
replays an hour of market every fraction of a second, so the breaker's cool-down is scaled to
that pace. Before, a one-hour wall-clock cool-down was saved and blocked the next demo from its
first bar. The demo exchange is new each run, so what its market tripped is not saved; a
person's stop still is, and is obeyed.
"""

from __future__ import annotations

import json

from cli_harness import coinswarm

# The README's demo command, at a faster pace.
DEMO = ("sandbox", "--bars", "100", "--bar-seconds", "0.05", "--strategy", "sma-cross",
        "--param", "fast=3", "--param", "slow=8", "--json")  # fmt: skip


def test_the_sandbox_demo_fills_orders_and_the_next_demo_is_not_blocked() -> None:
    for run in (1, 2):
        done = coinswarm(*DEMO)
        assert done.returncode == 0, done.stderr[-3000:]
        summary = json.loads(done.stdout)
        assert any("TRIP" in e for e in summary["risk_events"]), "the crash bar trips the breaker"
        assert summary["fills"] >= 1, f"run {run} filled no order: {summary['risk_events']}"
        assert "circuit breaker's cool-down is 0.05 s" in done.stderr
        assert "warning:" not in done.stderr
    status = coinswarm("risk", "status", "--mode", "sandbox")
    assert "no stops: trading allowed" in status.stdout
