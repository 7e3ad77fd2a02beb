"""The metrics count what a real paper run told: its live events (infra/telemetry.py) shown to
`Metrics.observe` one by one, as the server's feed does, give the run's own numbers."""

from __future__ import annotations

from collections import Counter
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from coinswarm import bootstrap
from coinswarm.infra.metrics import Metrics
from coinswarm.infra.telemetry import Telemetry


class Sink:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def put(self, event: dict[str, Any]) -> bool:
        self.events.append(event)
        return True


def samples(metrics: Metrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(metrics.exposition().decode())
        for sample in family.samples
    }


def test_a_paper_runs_events_give_its_orders_fills_and_decisions(tmp_path):
    sink = Sink()
    outcome = bootstrap.run(
        bootstrap.BacktestRequest(
            strategy="sma-cross",
            parameters={"fast": "3", "slow": "8"},
            synthetic_bars=96,
            mode="paper",
            phase="1",
            database=f"sqlite:///{tmp_path / 'paper.db'}",
            state_file=tmp_path / "risk-state-paper.json",
        ),
        telemetry=Telemetry(sink, heartbeat_s=60.0),
    )
    clock = [max(event["sent_ns"] for event in sink.events)]
    metrics = Metrics(lambda: clock[0])
    for event in sink.events:
        metrics.observe(event)
    found = samples(metrics)

    def value(name: str, **labels: str) -> float:
        return found.get((name, frozenset(labels.items())), 0.0)

    fills = Counter(fill.side.name.lower() for fill in outcome.result.fills)
    assert fills  # the run traded: the check below has something to count
    for side in ("buy", "sell"):
        assert value("coinswarm_fills_total", mode="paper", side=side) == fills[side]
    fees = float(sum(fill.fee for fill in outcome.result.fills))
    assert abs(value("coinswarm_fill_fees_total", mode="paper") - fees) < 1e-6
    filled = sum(1 for order in outcome.result.orders if order.status.name == "FILLED")
    assert value("coinswarm_orders_total", mode="paper", status="filled") == filled
    kinds = Counter(event["kind"] for event in sink.events)
    for kind, count in kinds.items():
        assert value("coinswarm_live_events_total", kind=kind) == count
    timed = sum(1 for e in sink.events if e["kind"] == "verdict" and e["latency_s"] is not None)
    assert value("coinswarm_decision_latency_seconds_count", mode="paper") == timed
    assert value("coinswarm_bus_lag_seconds_count") == len(sink.events)
    # It started and stopped: counted once, and no longer watched for heartbeats.
    assert value("coinswarm_session_stops_total", mode="paper", status="finished") == 1
    assert value("coinswarm_sessions_running", mode="paper") == 0
