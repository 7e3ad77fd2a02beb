"""The one door to an exchange: oversight, then the circuit breaker and the kill switch, then
the execution agent. Nothing else holds the execution agent, so nothing else can trade."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from coinswarm.domain.bar import Bar
from coinswarm.domain.order import Order, OrderRequest, OrderStatus
from coinswarm.execution.agent import ExecutionAgent
from coinswarm.risk.account import AccountSnapshot, AccountTracker
from coinswarm.risk.oversight import OversightManager, Verdict

__all__ = ["Door", "RiskNote", "describe_request"]


@dataclass(frozen=True, slots=True)
class RiskNote:
    """What the risk layer did with a request: approved, shrunk, rejected or blocked, and why."""

    action: str
    reason: str
    requested: str
    sent: str | None


def describe_request(request: OrderRequest) -> str:
    """Return a one-line description of an order request."""
    base, _, quote = request.instrument.partition("-")
    size = (
        f"{request.quantity} {base}"
        if request.quantity is not None
        else f"{request.quote_quantity} {quote} worth"
    )
    prices = "".join(
        f" {name} {value}"
        for name, value in (("limit", request.limit_price), ("stop", request.stop_price))
        if value is not None
    )
    return f"{request.side} {request.type} {size}{prices} {request.time_in_force}"


class Door:
    """Judge every request, send what passes, and note what happened to each one."""

    def __init__(
        self,
        execution: ExecutionAgent,
        *,
        oversight: OversightManager | None = None,
        account: Callable[[], AccountSnapshot] | None = None,
        tracker: AccountTracker | None = None,
    ) -> None:
        if oversight is not None and (account is None or tracker is None):
            msg = "a door with oversight needs the account and its tracker"
            raise ValueError(msg)
        self._execution = execution
        self._oversight = oversight
        self._account = account
        self._tracker = tracker
        self.notes: dict[str, RiskNote] = {}
        self.events: list[str] = []

    @property
    def guarded(self) -> bool:
        """Return True when a risk profile stands in this door."""
        return self._oversight is not None

    def on_bar(self, bar: Bar) -> None:
        """Let the risk layer see each bar before the strategy does."""
        if self._account is not None:
            self._account()  # marks the day's opening equity and the peak

    def submit(self, request: OrderRequest) -> Order:
        """Pass `request` through the risk layer and, if it survives, to the exchange."""
        if self._oversight is None or self._account is None:
            return self._execution.submit(request)
        account = self._account()
        price = account.marks[request.instrument]
        decision = self._oversight.review(request, account, price=price)
        requested = describe_request(request)
        if decision.request is None:
            self.notes[request.client_order_id] = RiskNote(
                "rejected", decision.reason, requested, None
            )
            return self._execution.refuse(request, f"oversight: {decision.reason}")
        action = "shrunk" if decision.verdict is Verdict.SHRUNK else "approved"
        self.notes[request.client_order_id] = RiskNote(
            action, decision.reason, requested, describe_request(decision.request)
        )
        return self._send(decision.request)

    def _send(self, request: OrderRequest) -> Order:
        order = self._execution.submit(request)
        if self._tracker is not None and order.status is not OrderStatus.REJECTED:
            self._tracker.count_order()
        return order

    def cancel(self, order_id: str) -> Order:
        return self._execution.cancel(order_id)

    def cancel_all(self) -> list[Order]:
        """Cancel every order that can still fill."""
        return [self._execution.cancel(o.order_id) for o in self._execution.open_orders()]
