"""A sandbox session's live events: the same kinds as paper's, stamped with the wall clock,
with the session's risk phase and its exchange account's cash in `start`."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from coinswarm import sessions
from coinswarm.infra.telemetry import Telemetry
from session_harness import PRODUCT, Exchange, journal_paced, sandbox_request, serve, use_keys

BARS = 12


class Sink:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def put(self, event: dict[str, Any]) -> bool:
        self.events.append(event)
        return True


@pytest.fixture
def exchange(tmp_path: Path) -> Iterator[Exchange]:
    yield from serve(tmp_path)


def test_a_sandbox_session_tells_its_life_on_the_wall_clock(
    exchange: Exchange, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    use_keys(monkeypatch, exchange.key, live=False)
    sink = Sink()
    began = time.time_ns()
    with journal_paced(exchange, tmp_path / "session.jsonl", bars=BARS):
        outcome = sessions.run_session(
            sandbox_request(exchange, tmp_path, bars=BARS),
            telemetry=Telemetry(sink, heartbeat_s=0.05),
        )
    ended = time.time_ns()
    events = sink.events
    kinds = [e["kind"] for e in events]
    assert (kinds[0], kinds[-1]) == ("start", "stop")
    start, stop = events[0], events[-1]
    assert start["phase"] == 2
    assert start["instruments"] == [PRODUCT]
    assert Decimal(start["cash"]) == Decimal(100_000)
    assert stop["status"] == "finished"
    assert {e["run_id"] for e in events} == {outcome.run_id}
    assert {e["mode"] for e in events} == {"sandbox"}
    assert kinds.count("bar") == kinds.count("equity") == BARS
    stamped = [e for e in events if e["kind"] != "bar"]  # a bar keeps its own open time
    assert all(began <= e["ts_ns"] <= ended for e in stamped)
    fills = [e for e in events if e["kind"] == "fill"]
    assert [f["trade_id"] for f in fills] == [f.trade_id for f in outcome.result.fills]
    last = [e for e in events if e["kind"] == "equity"][-1]
    assert Decimal(last["daily_loss_limit"]) == Decimal(last["day_start_equity"]) * Decimal("0.05")
