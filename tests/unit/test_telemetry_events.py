"""The live events a session publishes: each kind's fields as docs/ISSUE14_PLAN.md lists them,
money as strings, one canonical JSON, and telemetry that never reaches into the engine.

The contract below is the plan's "Live events" table (with the fields the plan marks as
added); the dashboards, the alerts and the metrics read exactly these names.
"""

from __future__ import annotations

import json
import threading
import time
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coinswarm.agents.base import Direction, Vote
from coinswarm.agents.committee import Verdict
from coinswarm.domain.bar import Bar
from coinswarm.domain.fill import Fill
from coinswarm.domain.ledger import Ledger
from coinswarm.domain.order import Order, OrderRequest, OrderSide
from coinswarm.infra.telemetry import KINDS, SessionTelemetry, Telemetry, told
from coinswarm.infra.telemetry_send import CallbackTransport, Publisher, Publishers
from coinswarm.risk.circuit_breaker import BreakerEvent, BreakerEventKind
from coinswarm.risk.kill_switch import KillSwitchEvent, KillSwitchEventKind
from generators import BTC, START_NS, decimals

COMMON = {"run_id", "mode", "kind", "ts_ns", "sent_ns"}
FIELDS = {
    "start": {"strategy", "instruments", "cash", "phase", "heartbeat_s", "pid", "host"},
    "bar": {"instrument", "open", "high", "low", "close", "volume"},
    "verdict": {"instrument", "action", "confidence", "reason", "votes", "latency_s"},
    "order": {
        "order_id",
        "client_order_id",
        "instrument",
        "side",
        "type",
        "status",
        "quantity",
        "quote_quantity",
        "filled_quantity",
        "reject_reason",
    },
    "fill": {
        "trade_id",
        "order_id",
        "instrument",
        "side",
        "quantity",
        "price",
        "fee",
        "fee_currency",
    },
    "risk": {"event", "source", "reason", "by", "detail"},
    "equity": {
        "equity",
        "cash",
        "positions",
        "peak",
        "drawdown",
        "day_start_equity",
        "day_pnl",
        "daily_loss_limit",
    },
    "heartbeat": {"beat", "interval_s", "dropped"},
    "error": {"source", "code", "message"},
    "stop": {"status", "reason"},
}
VOTE_FIELDS = {"agent", "action", "confidence", "weight", "reason", "veto"}
HOUR = 3_600 * 1_000_000_000


class Sink:
    """Keep every event, as a publisher would take it."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.dropped = 0

    def put(self, event: dict[str, Any]) -> bool:
        self.events.append(event)
        return True

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["kind"] == kind]


def telemetry(sink: Sink, *, wall: bool = False, heartbeat_s: float = 60.0) -> SessionTelemetry:
    return SessionTelemetry(
        sink,
        run_id="run-abc",
        mode="paper",
        initial_equity=Decimal(10_000),
        wall=wall,
        daily_loss_fraction=Decimal("0.05"),
        heartbeat_s=heartbeat_s,
    )


def bar(ts: int = START_NS, close: float = 101.5) -> Bar:
    return Bar("BTC-USDT", ts, 100.0, 102.25, 99.5, close, 12.5)


def order(status_filled: bool = False) -> Order:
    request = OrderRequest(
        client_order_id="BTC-USDT-1-1",
        instrument="BTC-USDT",
        side=OrderSide.BUY,
        quantity=Decimal("0.5"),
    )
    placed = Order("SIM-1", request, START_NS)
    placed.accept(START_NS)
    return placed


def fill(price: str = "101.25", quantity: str = "0.5") -> Fill:
    return Fill(
        trade_id="T-1",
        order_id="SIM-1",
        client_order_id="BTC-USDT-1-1",
        instrument="BTC-USDT",
        side=OrderSide.BUY,
        quantity=Decimal(quantity),
        price=Decimal(price),
        fee=Decimal("0.30375"),
        fee_currency="USDT",
        ts=START_NS + HOUR,
    )


def verdict() -> Verdict:
    votes = (
        Vote("trend", "BTC-USDT", Direction.BUY, 0.8, 0.5, "fast above slow"),
        Vote("risk", "BTC-USDT", Direction.HOLD, 0.0, 0.0, "calm", veto=False),
    )
    return Verdict(
        instrument="BTC-USDT",
        ts=START_NS,
        direction=Direction.BUY,
        score=0.4,
        size=0.5,
        votes=votes,
        weights=(0.6, 0.5),
        vetoed_by=(),
        reason="trend buys",
    )


def every_kind(sink: Sink) -> SessionTelemetry:
    """Drive one telemetry through every kind of event, as a session would."""
    told_ = telemetry(sink)
    told_.begin(
        strategy="committee", instruments=["BTC-USDT"], cash=Decimal(10_000), phase=1, ts_ns=1
    )
    ledger = Ledger({"BTC-USDT": BTC}, "USDT")
    ledger.deposit("USDT", Decimal(10_000), START_NS, "initial cash")
    told_.taken(bar())
    told_.verdict(verdict())
    placed = order()
    told_.order(placed)
    booked = fill()
    ledger.record(booked)
    placed.apply_fill(booked)
    told_.fill(booked, placed)
    told_.risk_event(BreakerEvent(ts=START_NS, kind=BreakerEventKind.TRIP, reason="fast drop"))
    told_.handled(bar(), ledger, {"BTC-USDT": Decimal("101.5")})
    told_.heartbeat()
    told_.error("exchange", "ExchangeUnavailableError", "get_order: 503\nsecond line")
    told_.end("finished")
    return told_


def test_every_kind_carries_the_common_fields_and_exactly_its_own() -> None:
    sink = Sink()
    every_kind(sink)
    assert {e["kind"] for e in sink.events} == set(KINDS)
    for event in sink.events:
        assert set(event) == COMMON | FIELDS[event["kind"]], event["kind"]
        assert event["run_id"] == "run-abc"
        assert event["mode"] == "paper"
        assert isinstance(event["ts_ns"], int)
        assert isinstance(event["sent_ns"], int)
    (decided,) = sink.of("verdict")
    assert [set(v) for v in decided["votes"]] == [VOTE_FIELDS, VOTE_FIELDS]
    assert sink.events[0]["kind"] == "start"
    assert sink.events[-1]["kind"] == "stop"


def test_money_is_a_string_and_every_event_is_one_canonical_json() -> None:
    sink = Sink()
    every_kind(sink)
    (booked,) = sink.of("fill")
    assert booked["price"] == "101.25"
    assert booked["quantity"] == "0.5"
    assert booked["fee"] == "0.30375"
    (account,) = sink.of("equity")
    for name in ("equity", "cash", "peak", "day_start_equity", "day_pnl", "daily_loss_limit"):
        assert isinstance(account[name], str), name
        Decimal(account[name])  # a number, exactly
    assert account["positions"] == {"BTC-USDT": "0.5"}
    # 10,000 cash - 50.625 paid - 0.30375 fee + 0.5 x 101.5 held
    assert Decimal(account["equity"]) == Decimal("9999.82125")
    # The first mark of a UTC day opens it (the risk layer's AccountTracker): this one.
    assert account["day_start_equity"] == account["equity"]
    assert Decimal(account["daily_loss_limit"]) == Decimal("9999.82125") * Decimal("0.05")
    (candle,) = sink.of("bar")
    assert (candle["open"], candle["high"], candle["close"]) == ("100.0", "102.25", "101.5")
    for event in sink.events:
        text = json.dumps(event, sort_keys=True, separators=(",", ":"), allow_nan=False)
        assert json.loads(text) == event  # nothing a JSON reader would change


def test_an_order_event_follows_each_fill_with_the_order_s_new_state() -> None:
    sink = Sink()
    every_kind(sink)
    statuses = [e["status"] for e in sink.of("order")]
    assert statuses == ["open", "filled"]
    assert sink.of("order")[1]["filled_quantity"] == "0.5"


def test_the_verdict_says_the_decision_the_votes_and_how_long_it_took() -> None:
    sink = Sink()
    every_kind(sink)
    (decided,) = sink.of("verdict")
    assert decided["action"] == "buy"
    assert decided["confidence"] == pytest.approx(0.4)
    assert decided["votes"][0] == {
        "agent": "trend",
        "action": "buy",
        "confidence": 0.8,
        "weight": 0.6,
        "reason": "fast above slow",
        "veto": False,
    }
    assert 0 <= decided["latency_s"] < 5.0


def test_risk_events_name_their_source_and_an_error_keeps_its_first_line() -> None:
    sink = Sink()
    every_kind(sink)
    (tripped,) = sink.of("risk")
    assert (tripped["event"], tripped["source"], tripped["reason"]) == (
        "TRIP",
        "breaker",
        "fast drop",
    )
    (failed,) = sink.of("error")
    assert failed == failed | {
        "source": "exchange",
        "code": "ExchangeUnavailableError",
        "message": "get_order: 503",
    }


def test_a_replay_stamps_market_time_and_a_live_session_the_wall_clock() -> None:
    replay, live = Sink(), Sink()
    for sink, wall in ((replay, False), (live, True)):
        told_ = telemetry(sink, wall=wall)
        ledger = Ledger({"BTC-USDT": BTC}, "USDT")
        ledger.deposit("USDT", Decimal(10_000), START_NS, "initial cash")
        told_.taken(bar(START_NS + HOUR))
        told_.handled(bar(START_NS + HOUR), ledger, {"BTC-USDT": Decimal(100)})
        told_.heartbeat()
    assert {e["ts_ns"] for e in replay.events} == {START_NS + HOUR}
    before = time.time_ns()
    assert all(before - 60 * 10**9 < e["ts_ns"] <= before for e in live.of("equity"))
    assert live.of("bar")[0]["ts_ns"] == START_NS + HOUR  # a bar keeps its own open time


def test_peak_drawdown_and_the_day_follow_the_risk_layer_s_rules() -> None:
    sink = Sink()
    told_ = telemetry(sink)
    ledger = Ledger({"BTC-USDT": BTC}, "USDT")
    ledger.deposit("USDT", Decimal(10_000), START_NS, "initial cash")
    booked = fill(price="100", quantity="50")
    ledger.record(booked)  # 5,000 in coins, 4,999.x cash
    day = 24 * HOUR
    for ts, close in ((START_NS, "110"), (START_NS + HOUR, "90"), (START_NS + day, "95")):
        told_.handled(bar(ts), ledger, {"BTC-USDT": Decimal(close)})
    first, second, next_day = sink.of("equity")
    assert first["peak"] == first["equity"]
    assert second["peak"] == first["equity"]
    peak, equity = Decimal(second["peak"]), Decimal(second["equity"])
    assert second["drawdown"] == pytest.approx(float((peak - equity) / peak), abs=1e-6)
    assert second["day_start_equity"] == first["equity"]
    assert Decimal(second["day_pnl"]) == equity - Decimal(first["equity"])
    assert next_day["day_start_equity"] == next_day["equity"]  # a new UTC day opens
    assert Decimal(next_day["day_pnl"]) == 0


def test_a_kill_switch_reset_starts_the_drawdown_again() -> None:
    sink = Sink()
    told_ = telemetry(sink)
    ledger = Ledger({"BTC-USDT": BTC}, "USDT")
    ledger.deposit("USDT", Decimal(10_000), START_NS, "initial cash")
    ledger.record(fill(price="100", quantity="50"))
    told_.handled(bar(START_NS), ledger, {"BTC-USDT": Decimal(100)})
    told_.handled(bar(START_NS + HOUR), ledger, {"BTC-USDT": Decimal(50)})
    reset = KillSwitchEvent(
        ts=START_NS + HOUR, kind=KillSwitchEventKind.RESET, reason="ok", by="ann"
    )
    told_.risk_event(reset)
    told_.handled(bar(START_NS + 2 * HOUR), ledger, {"BTC-USDT": Decimal(50)})
    assert sink.of("equity")[1]["drawdown"] > 0.2
    assert sink.of("equity")[2]["drawdown"] == 0.0
    assert sink.of("risk")[0]["by"] == "ann"


def test_a_position_without_a_price_reports_no_equity_rather_a_wrong_one() -> None:
    sink = Sink()
    told_ = telemetry(sink)
    ledger = Ledger({"BTC-USDT": BTC}, "USDT")
    ledger.deposit("USDT", Decimal(10_000), START_NS, "initial cash")
    ledger.record(fill())
    told_.handled(bar(), ledger, {})
    (account,) = sink.of("equity")
    assert account["equity"] is None
    assert account["positions"] == {"BTC-USDT": "0.5"}


@given(price=decimals("0.00000001", "1000000", 8), quantity=decimals("0.00000001", "1000", 8))
def test_a_fill_s_figures_come_back_exactly_from_their_strings(
    price: Decimal, quantity: Decimal
) -> None:
    sink = Sink()
    told_ = telemetry(sink)
    booked = fill(price=str(price), quantity=str(quantity))
    told_.fill(booked, order())
    (event,) = sink.of("fill")
    assert Decimal(event["price"]) == price
    assert Decimal(event["quantity"]) == quantity


class Exploding:
    def put(self, event: dict[str, Any]) -> bool:
        raise RuntimeError("a sink that fails")


def test_telemetry_never_raises_into_the_engine() -> None:
    told_ = telemetry(Exploding())  # type: ignore[arg-type]
    told_.taken(bar())
    told_.order(order())
    told_.verdict(verdict())
    ledger = Ledger({"BTC-USDT": BTC}, "USDT")
    told_.handled(bar(), ledger, {})
    assert told_.failures == 4


def test_heartbeats_come_from_a_timer_of_their_own_until_the_session_ends() -> None:
    sink = Sink()
    told_ = telemetry(sink, heartbeat_s=0.05)
    told_.begin(strategy="s", instruments=[], cash=Decimal(1), phase=None)
    time.sleep(0.5)  # no bar, no call at all: a stalled engine
    told_.end("interrupted", "stopped")
    beats = sink.of("heartbeat")
    assert len(beats) >= 4
    assert [b["beat"] for b in beats] == list(range(1, len(beats) + 1))
    count = len(sink.events)
    time.sleep(0.2)
    assert len(sink.events) == count, "a heartbeat after the stop event"
    assert sink.events[-1]["kind"] == "stop"


def test_told_says_finished_interrupted_or_failed() -> None:
    outcomes = []
    for stopped, raised in ((False, None), (True, None), (False, ValueError("bad\nmore"))):
        sink = Sink()
        told_ = telemetry(sink)
        try:
            with told(
                told_,
                strategy="s",
                instruments=[],
                cash=Decimal(1),
                phase=None,
                stopped=lambda stopped=stopped: stopped,
            ):
                if raised is not None:
                    raise raised
        except ValueError:
            pass
        (stop,) = sink.of("stop")
        outcomes.append((stop["status"], stop["reason"]))
    assert outcomes[0] == ("finished", None)
    assert outcomes[1][0] == "interrupted"
    assert outcomes[2] == ("failed", "ValueError: bad")


def test_a_full_queue_drops_and_counts_without_waiting() -> None:
    release = threading.Event()
    received: list[dict[str, Any]] = []

    def slow(event: dict[str, Any]) -> bool:
        release.wait(5.0)
        received.append(event)
        return True

    publisher = Publisher(CallbackTransport(slow), capacity=10, batch=1)
    started = time.perf_counter()
    accepted = [publisher.put({"n": n}) for n in range(100)]
    assert time.perf_counter() - started < 0.5, "put waited for the transport"
    release.set()
    publisher.close()
    assert accepted.count(False) == publisher.dropped_full >= 80
    assert [e["n"] for e in received] == sorted(e["n"] for e in received), "out of order"
    assert publisher.sent == len(received) == accepted.count(True)


def test_a_failing_transport_costs_dropped_events_not_the_publisher() -> None:
    calls = {"n": 0}

    def flaky(event: dict[str, Any]) -> bool:
        calls["n"] += 1
        return calls["n"] % 2 == 0  # every other event refused

    publisher = Publisher(CallbackTransport(flaky), batch=1)
    for n in range(20):
        publisher.put({"n": n})
    publisher.close()
    assert publisher.dropped_failed == 10
    assert publisher.sent == 10
    both = Publishers([publisher])
    assert both.dropped == 10


@given(st.lists(st.sampled_from(KINDS), max_size=20))
def test_every_kind_has_a_subject_under_live(kinds: list[str]) -> None:
    from coinswarm.infra.telemetry import subject  # noqa: PLC0415

    for kind in kinds:
        assert subject("run-1", kind) == f"live.run-1.{kind}"


def test_a_process_s_telemetry_tells_its_sessions_what_was_dropped() -> None:
    class Counting(Sink):
        def __init__(self) -> None:
            super().__init__()
            self.dropped = 7

    sink = Counting()
    told_ = Telemetry(sink, heartbeat_s=1.0).session(
        run_id="run-1", mode="sandbox", initial_equity=Decimal(1), wall=True
    )
    told_.heartbeat()
    assert sink.of("heartbeat")[0]["dropped"] == 7
    (said,) = sink.of("error")
    assert (said["source"], said["code"]) == ("bus", "TelemetryDropped")
    assert said["message"].startswith("7 live events dropped")
    told_.heartbeat()  # nothing more dropped: nothing more said
    sink.dropped = 10
    told_.heartbeat()
    assert [e["message"].split()[0] for e in sink.of("error")] == ["7", "3"]
    with pytest.raises(ValueError, match="heartbeat_s"):
        Telemetry(sink, heartbeat_s=0)
