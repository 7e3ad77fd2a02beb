"""The one door to an exchange: oversight, then the circuit breaker and the kill switch, then
the execution agent. Nothing else holds the execution agent, so nothing else can trade."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from coinswarm.data.timefmt import format_timestamp
from coinswarm.domain.bar import Bar
from coinswarm.domain.clock import Clock
from coinswarm.domain.order import Order, OrderRequest, OrderSide, OrderStatus
from coinswarm.execution.agent import ExecutionAgent
from coinswarm.execution.journal import Journal, MemoryJournal
from coinswarm.orchestration.orchestrator import MasterOrchestrator
from coinswarm.risk.account import AccountSnapshot, AccountTracker
from coinswarm.risk.circuit_breaker import CircuitBreaker
from coinswarm.risk.events import RiskEvent, RiskNote
from coinswarm.risk.kill_switch import KillSwitch, KillSwitchEvent, KillSwitchEventKind, StopKind
from coinswarm.risk.oversight import OversightManager, Verdict
from coinswarm.risk.person import resume
from coinswarm.risk.trim import trim_for

__all__ = [
    "TRIM",
    "TRIM_ACTION",
    "Door",
    "RiskLayer",
    "describe_event",
    "describe_request",
]

ZERO = Decimal(0)


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


def describe_event(event: RiskEvent) -> str:
    """Return a risk event as one line of the log: when, what and why."""
    by = f" (by {event.by})" if event.by else ""
    return f"{format_timestamp(event.ts)} {event.kind}: {event.reason}{by}"


@dataclass(frozen=True, slots=True)
class RiskLayer:
    """The hard limits of one profile and the account they are judged against."""

    oversight: OversightManager
    breaker: CircuitBreaker
    kill_switch: KillSwitch
    account: Callable[[], AccountSnapshot]
    tracker: AccountTracker


class Door:
    """Judge every request, send what passes, and note what happened to each one.

    The order of judgement is the architecture's: oversight may shrink or reject; then the
    circuit breaker and the kill switch may block; only then does the execution agent send.
    Without a risk layer (research backtests only) requests go straight to execution.
    """

    def __init__(
        self,
        execution: ExecutionAgent,
        risk: RiskLayer | None = None,
        *,
        clock: Clock,
        flatten_on_stop: bool = True,
        journal: Journal | None = None,
    ) -> None:
        self._execution = execution
        self.risk = risk
        self._journal = journal or MemoryJournal()
        # Why the kill switch every process shares (Redis) blocks new orders, while it does.
        # The run's operator reads that switch and sets it here, so that the moment it takes
        # effect is a step of the run (journalled, replayed), never a read in the middle of one.
        self._shared_stop: str | None = None
        self._clock = clock
        # A loss limit is only a limit if the positions that breached it are closed too.
        self.flatten_on_stop = flatten_on_stop
        self.notes: dict[str, RiskNote] = {}
        self.events: list[RiskEvent] = []

    @property
    def clock(self) -> Clock:
        """Return the run's clock: the time every step of the door is judged at."""
        return self._clock

    def on_bar(self, bar: Bar) -> None:
        """Show the risk layer each bar before the strategy sees it; act on what trips, then
        trim the bar's instrument if its position has grown past its limit."""
        risk = self.risk
        if risk is None:
            return
        account = risk.account()
        ts = account.ts
        events: list[RiskEvent] = [
            *risk.breaker.on_bar(bar, ts_ns=ts),
            *risk.breaker.on_equity(ts, account.equity),
            *risk.kill_switch.on_mark(ts, account.equity),
        ]
        self._record(events)
        # What a stop cancelled or sold is in a fresh snapshot; without events this one holds.
        self._trim(bar.instrument, risk.account() if events else account)

    def _trim(self, symbol: str, account: AccountSnapshot) -> None:
        """Sell a position above its limit back under it: a risk-reducing order (risk.trim)."""
        risk = self.risk
        assert risk is not None
        limit = risk.oversight.profile.max_position_fraction
        trim = trim_for(self._execution.instrument(symbol), account, limit)
        # A halted kill switch or a person's shared stop lets nothing through; trying on every
        # bar would only fill the journal with refusals.
        if trim is None or not risk.kill_switch.allows_any_order(account.ts):
            return
        if self._shared_stop is not None:
            return
        request = OrderRequest(
            client_order_id=f"{TRIM}{account.ts}-{symbol}",
            instrument=symbol,
            side=OrderSide.SELL,
            quantity=trim.quantity,
        )
        self._judged(request, risk, risk_reducing=True, trim=trim.reason)

    def _record(self, events: Sequence[RiskEvent]) -> None:
        cancel = flatten = False
        for event in events:
            self.events.append(event)
            self._journal.risk_event(event)
            cancel = cancel or event.cancel_open_orders
            flatten = flatten or event.kind in _FLATTENING_STOPS
        if cancel:
            self.cancel_all()
        if flatten and self.flatten_on_stop:
            self.shutdown(flatten=True)
        elif cancel:
            self._retrim()

    def _retrim(self) -> None:
        """Work the trims out again once the strategy's exits they counted on are cancelled."""
        risk = self.risk
        assert risk is not None
        account = risk.account()
        for symbol in sorted(account.positions):
            self._trim(symbol, account)

    def shutdown(self, *, flatten: bool) -> list[Order]:
        """Cancel every open order and, if asked, sell every position: the emergency exit.

        The exits of a shutdown and the trims are never cancelled (they only take risk off),
        and what they already sell is not sold twice.
        """
        self.cancel_all()
        if not flatten or self.risk is None:
            return []
        account = self.risk.account()
        leaving: dict[str, Decimal] = {}
        for order in self._execution.open_orders():
            if _is_risk_exit(order):
                left = order.remaining_quantity or ZERO
                leaving[order.instrument] = leaving.get(order.instrument, ZERO) + left
        held = {s: q - leaving.get(s, ZERO) for s, q in account.positions.items()}
        exits = MasterOrchestrator.shutdown(
            held, flatten=True, client_order_id=f"{SHUTDOWN}{account.ts}"
        )
        return [self.submit(request, emergency=True) for request in exits]

    def submit(self, request: OrderRequest, *, emergency: bool = False) -> Order:
        """Pass `request` through the risk layer and, if it survives, to the exchange.

        `emergency` marks the door's own shutdown exits: they pass a tripped circuit breaker,
        since a loss limit must be able to close the positions that breached it.
        """
        stopped = self._shared(emergency=emergency)
        if stopped is not None:
            return self._refuse(request, "blocked", stopped, describe_request(request))
        risk = self.risk
        if risk is None:
            return self._execution.submit(request)
        return self._judged(request, risk, risk_reducing=emergency)

    def _judged(
        self,
        request: OrderRequest,
        risk: RiskLayer,
        *,
        risk_reducing: bool,
        trim: str | None = None,
    ) -> Order:
        """Review `request`, send what passes; `risk_reducing` orders pass a tripped breaker,
        and `trim` is the reason of a trim (its note says that, not the oversight's)."""
        account = risk.account()
        price = account.marks[request.instrument]
        decision = risk.oversight.review(request, account, price=price)
        requested = describe_request(request)
        if decision.request is None:
            return self._refuse(request, "rejected", decision.reason, requested)
        blocked = self._blocked(decision.request, account, risk_reducing=risk_reducing)
        if blocked is not None:
            return self._refuse(request, "blocked", blocked, requested)
        action = "shrunk" if decision.verdict is Verdict.SHRUNK else "approved"
        if trim is not None:
            action = TRIM_ACTION
        self._note(
            request,
            RiskNote(
                action, trim or decision.reason, requested, describe_request(decision.request)
            ),
        )
        order = self._execution.submit(decision.request)
        if order.status is not OrderStatus.REJECTED:
            risk.tracker.count_order()
        return order

    def _shared(self, *, emergency: bool) -> str | None:
        """Return why the shared kill switch stops this order, or None."""
        return None if emergency else self._shared_stop

    @property
    def shared_stop(self) -> str | None:
        """Return why the shared kill switch blocks new orders now, or None."""
        return self._shared_stop

    def follow_shared(self, ts: int, *, by: str | None, reason: str | None) -> None:
        """Obey the shared kill switch: `by` and `reason` while it is set, None when clear.

        Setting it cancels open orders (exits of a shutdown excepted) and blocks every new
        order until it is cleared; it flattens nothing, as the switch is a level that any
        process may raise for a moment. A change is a risk event of the run.
        """
        stop = None if by is None else f"shared kill switch set by {by}: {reason}"
        if stop == self._shared_stop:
            return
        self._shared_stop = stop
        if stop is None:
            event = KillSwitchEvent(
                ts=ts, kind=KillSwitchEventKind.SHARED_CLEARED, reason="shared kill switch clear"
            )
        else:
            event = KillSwitchEvent(
                ts=ts, kind=KillSwitchEventKind.SHARED_STOP, reason=reason or "", by=by
            )
        self._record([event])

    def _blocked(
        self, request: OrderRequest, account: AccountSnapshot, *, risk_reducing: bool
    ) -> str | None:
        risk = self.risk
        assert risk is not None
        ts = account.ts
        if not risk_reducing and not risk.breaker.allows_new_orders(ts):
            return f"circuit breaker: {risk.breaker.state().reason}"
        kill = risk.kill_switch
        if not kill.allows_any_order(ts):
            return f"kill switch halts every order: {_stops(kill)}"
        paused = kill.stops.get(StopKind.PAUSED)
        if paused is not None and not risk_reducing:
            # A pause keeps positions as they are: the strategy's exits wait too.
            return f"paused by a person: {paused}"
        held = account.positions.get(request.instrument, ZERO)
        exit_only = request.side is OrderSide.SELL and held > 0
        if not exit_only and not kill.allows_new_exposure(ts):
            return f"kill switch allows exits only: {_stops(kill) or 'daily loss stop'}"
        return None

    def _refuse(self, request: OrderRequest, action: str, reason: str, requested: str) -> Order:
        self._note(request, RiskNote(action, reason, requested, None))
        return self._execution.refuse(request, f"{action}: {reason}")

    def _note(self, request: OrderRequest, note: RiskNote) -> None:
        self.notes[request.client_order_id] = note
        self._journal.risk_note(request.client_order_id, note, self._clock.now_ns())

    def cancel(self, order_id: str) -> Order:
        return self._execution.cancel(order_id)

    def cancel_all(self) -> list[Order]:
        """Cancel every order that can still fill, except the exits of a shutdown and the
        trims: risk-reducing orders of the risk layer's own, which a stop must not undo."""
        return [
            self._execution.cancel(o.order_id)
            for o in self._execution.open_orders()
            if not _is_risk_exit(o)
        ]

    def stop(self, ts: int, *, by: str, reason: str) -> None:
        """Stop all trading as a person: kill switch and breaker, then cancel and flatten."""
        if self.risk is None:
            return
        self._record(
            [
                self.risk.kill_switch.manual_stop(ts, reason, by=by),
                self.risk.breaker.emergency_stop(ts, reason, by=by),
            ]
        )

    def pause(self, ts: int, *, by: str, reason: str) -> None:
        """Hold the strategy's orders as a person: cancel open ones, flatten nothing."""
        if self.risk is None:
            return
        self._record([self.risk.kill_switch.pause(ts, reason, by=by)])

    def resume(self, ts: int, *, by: str, reason: str) -> None:
        """Lift a person's pause or stop (`risk.person.resume`); a loss limit's stop holds."""
        if self.risk is None:
            return
        self._record(resume(self.risk.kill_switch, self.risk.breaker, ts, by=by, reason=reason))

    def reset_stops(self, ts: int, *, by: str, reason: str) -> None:
        """Clear the stops that wait for a person, as that person.

        A breaker cooling down after a trip is reopened too, as `coinswarm risk reset` does to
        the state file: a session must not keep blocking what the file says a person reset.
        """
        if self.risk is None:
            return
        events: list[RiskEvent] = []
        if self.risk.kill_switch.stops:
            events.append(self.risk.kill_switch.reset(ts, by=by, reason=reason))
            # The kill switch re-bases its peak on reset; oversight judges the same drawdown.
            self.risk.tracker.rebase_peak(self.risk.account().equity)
        if self.risk.breaker.tripped:
            events.append(self.risk.breaker.reset(ts, by=by, reason=reason))
        self._record(events)


_FLATTENING_STOPS = frozenset(
    {
        KillSwitchEventKind.DAILY_LOSS_STOP,
        KillSwitchEventKind.TOTAL_LOSS_STOP,
        KillSwitchEventKind.LOSING_DAYS_STOP,
        KillSwitchEventKind.MANUAL_STOP,
    }
)


SHUTDOWN = "shutdown-"
TRIM = "trim-"
"""The client order id prefix of the risk layer's trims (risk.trim)."""
TRIM_ACTION = "trim"


def _is_risk_exit(order: Order) -> bool:
    return order.client_order_id.startswith((SHUTDOWN, TRIM))


def _stops(kill: KillSwitch) -> str:
    return "; ".join(f"{kind}: {reason}" for kind, reason in sorted(kill.stops.items()))
