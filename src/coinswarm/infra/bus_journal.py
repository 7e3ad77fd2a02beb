"""Publish what a run does to the event bus, checkpoint by checkpoint.

Orders, fills and risk events go out on `run.<run id>.order|fill|risk` with ids derived from
what they are (an order and its status, a trade id, an event's time and kind), so a resumed
run that publishes a checkpoint again is stored once by JetStream and handled once by an
idempotent consumer. The engine is synchronous; the bus is asyncio: the journal drives its
own event loop, one `publish_many` per checkpoint.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from coinswarm.infra.bus import Bus, Event

if TYPE_CHECKING:
    from coinswarm.agents.committee import Verdict
    from coinswarm.domain.fill import Fill
    from coinswarm.domain.ledger import Deposit, LedgerState
    from coinswarm.domain.order import Order, OrderRequest
    from coinswarm.execution.journal import Journal
    from coinswarm.risk.events import RiskEvent, RiskNote

__all__ = ["BusJournal", "FanoutJournal"]


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v if isinstance(v, (int, float, bool, type(None))) else str(v) for k, v in values.items()
    }


class BusJournal:
    """Buffer a run's orders, fills and risk events; publish them at each checkpoint."""

    def __init__(self, bus: Bus, loop: asyncio.AbstractEventLoop, run_id: str) -> None:
        self._bus = bus
        self._loop = loop
        self._subject = f"run.{run_id}"
        self._events: list[Event] = []

    def _add(self, kind: str, data: dict[str, Any], *, ts: int, key: str) -> None:
        subject = f"{self._subject}.{kind}"
        self._events.append(Event.from_json(subject, _plain(data), ts_ns=ts, key=key))

    def claim(self, request: OrderRequest, ts: int) -> bool:
        return True  # the bus keeps no claims: the store's journal does

    def order(self, order: Order) -> None:
        data = {
            "order_id": order.order_id,
            "client_order_id": order.client_order_id,
            "instrument": order.instrument,
            "side": order.side,
            "status": order.status,
            "filled_quantity": order.filled_quantity,
            "reject_reason": order.reject_reason,
        }
        key = f"{order.client_order_id}:{order.status}:{order.filled_quantity}"
        self._add("order", data, ts=order.updated_ts, key=key)

    def fill(self, fill: Fill, order: Order) -> None:
        self._add("fill", asdict(fill), ts=fill.ts, key=fill.trade_id)

    def deposit(self, deposit: Deposit) -> None:
        return  # the account's cash stays in the store

    def risk_note(self, client_order_id: str, note: RiskNote, ts: int) -> None:
        return  # decisions on single orders stay in the store; events go out below

    def risk_event(self, event: RiskEvent) -> None:
        data = {"ts": event.ts, "kind": event.kind, "reason": event.reason, "by": event.by}
        self._add("risk", data, ts=event.ts, key=f"{event.ts}:{event.kind}")

    def verdict(self, verdict: Verdict) -> None:
        return  # tens of thousands per run: the store keeps them, the bus does not carry them

    def checkpoint(self, ts: int, state: LedgerState) -> None:
        events, self._events = self._events, []
        if events:
            self._loop.run_until_complete(self._bus.publish_many(events))


class FanoutJournal:
    """Tell several journals the same things; only the first one decides claims."""

    def __init__(self, journals: Sequence[Journal]) -> None:
        self._journals = tuple(journals)

    def claim(self, request: OrderRequest, ts: int) -> bool:
        first, *rest = self._journals
        claimed = first.claim(request, ts)
        if claimed:
            for journal in rest:
                journal.claim(request, ts)
        return claimed

    def order(self, order: Order) -> None:
        for journal in self._journals:
            journal.order(order)

    def fill(self, fill: Fill, order: Order) -> None:
        for journal in self._journals:
            journal.fill(fill, order)

    def deposit(self, deposit: Deposit) -> None:
        for journal in self._journals:
            journal.deposit(deposit)

    def risk_note(self, client_order_id: str, note: RiskNote, ts: int) -> None:
        for journal in self._journals:
            journal.risk_note(client_order_id, note, ts)

    def risk_event(self, event: RiskEvent) -> None:
        for journal in self._journals:
            journal.risk_event(event)

    def verdict(self, verdict: Verdict) -> None:
        for journal in self._journals:
            journal.verdict(verdict)

    def checkpoint(self, ts: int, state: LedgerState) -> None:
        for journal in self._journals:
            journal.checkpoint(ts, state)
