"""The venue's I/O thread tells a session's telemetry of every failed exchange call, then
raises as before: the session's behaviour is the same, the operator sees the error."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import pytest

from coinswarm import sessions
from coinswarm.domain.errors import CoinswarmError
from coinswarm.exchanges.coinbase.errors import ExchangeUnavailableError
from coinswarm.exchanges.io_worker import IoWorker, VenueTimeoutError
from coinswarm.infra.telemetry import Telemetry


class Sink:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def put(self, event: dict[str, Any]) -> bool:
        self.events.append(event)
        return True


def test_every_failed_call_is_heard_and_still_raised() -> None:
    heard: list[tuple[str, str]] = []
    worker = IoWorker(
        timeout_s=0.2, on_error=lambda what, e: heard.append((what, type(e).__name__))
    )

    def down() -> None:
        raise ExchangeUnavailableError("HTTP 503 after 5 tries")

    try:
        with pytest.raises(ExchangeUnavailableError):
            worker.call("list_fills", down)
        assert worker.call("balances", lambda: 42) == 42
        with pytest.raises(ZeroDivisionError):  # not ours: a bug, not an exchange error
            worker.call("bug", lambda: 1 / 0)
        with pytest.raises(VenueTimeoutError):
            worker.call("get_order 1", lambda: time.sleep(0.4))
    finally:
        worker.close()
    assert heard == [
        ("list_fills", "ExchangeUnavailableError"),
        ("get_order 1", "VenueTimeoutError"),
    ]


class Adapter:
    name = "coinbase"


def test_a_session_s_venue_reports_exchange_errors_as_error_events() -> None:
    sink = Sink()
    reporter = Telemetry(sink).session(
        run_id="sandbox-1", mode="sandbox", initial_equity=Decimal(1), wall=True
    )
    worker = sessions._worker(Adapter(), reporter)  # type: ignore[arg-type]
    assert worker is not None

    def refused() -> None:
        raise CoinswarmError("HTTP 400 INVALID_ARGUMENT: bad product\nmore detail")

    try:
        with pytest.raises(CoinswarmError):
            worker.call("place_order", refused)
    finally:
        worker.close()
    (event,) = sink.events
    assert event == event | {
        "kind": "error",
        "source": "exchange",
        "code": "CoinswarmError",
        "message": "place_order: HTTP 400 INVALID_ARGUMENT: bad product",
        "run_id": "sandbox-1",
        "mode": "sandbox",
    }
    assert sessions._worker(Adapter(), None) is None  # type: ignore[arg-type]
