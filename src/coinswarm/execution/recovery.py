"""Restarting a session that died: rebuild its record, then let the exchange settle the rest.

A session writes each intent ahead (committed before its order is sent) and everything else at
every bar's checkpoint, so a SIGKILL can leave three kinds of loose ends, and a restart ties
each one:

- an intent saved but never answered (reliability scenario 5): looked up at the exchange by its
  client order id; adopted if the exchange has it, otherwise failed here. It is never sent
  again: the market it was decided on has moved, and a second send could trade twice;
- an order sent whose answer was never saved (scenario 6), or whose answer was lost and kept
  in flight as a placeholder: found the same way and adopted;
- fills that happened while the session was down or before their checkpoint: back-filled by
  reconciliation, by trade id, so none is booked twice.

Everything the restart learns is written to the store before trading resumes, and the
reconciliation report says whether trading may resume at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from coinswarm.domain.errors import CoinswarmError
from coinswarm.domain.instrument import Instrument
from coinswarm.domain.ledger import Ledger
from coinswarm.domain.order import Order, OrderRequest
from coinswarm.exchanges.base import ExchangeAdapter
from coinswarm.exchanges.remote import UNRESOLVED_PREFIX, FindsOrders
from coinswarm.execution.journal import Journal
from coinswarm.execution.reconcile import AccountHistory, ReconciliationReport, reconcile
from coinswarm.infra.storage import Store

__all__ = ["NOT_SENT_PREFIX", "Recovered", "journal_report", "recover"]

NOT_SENT_PREFIX = "NOT-SENT-"
"""The id of the record of an intent the exchange never received: failed at restart."""


class UnknownOrderFillError(CoinswarmError):
    """A fill was booked for an order that is neither ours nor adopted: a person must look."""


@dataclass(frozen=True, slots=True)
class Recovered:
    """A session's record after a restart: its ledger, its orders and what changed."""

    ledger: Ledger
    orders: tuple[Order, ...]
    adopted: tuple[Order, ...]
    failed: tuple[Order, ...]
    report: ReconciliationReport

    def lines(self) -> tuple[str, ...]:
        """Return one human line per intent settled and per reconciliation difference."""
        settled = [
            *(
                f"intent {o.client_order_id}: found at the exchange as {o.order_id} "
                f"({o.status}), adopted"
                for o in self.adopted
            ),
            *(f"intent {o.client_order_id}: not at the exchange, failed" for o in self.failed),
        ]
        return (*settled, *self.report.lines())


def recover(
    adapter: ExchangeAdapter,
    store: Store,
    run_id: str,
    *,
    instruments: Mapping[str, Instrument],
    account_currency: str,
    ts: int,
    journal: Journal,
    history: AccountHistory | None = None,
) -> Recovered:
    """Rebuild run `run_id` from `store`, settle it against `adapter`, and journal what changed.

    The journal gets every adopted, failed or updated order, every back-filled fill and outside
    deposit, and then a checkpoint, so the store holds the recovered record before trading.
    `history` is where the account's fills before the session end: they are not the run's.
    """
    ledger = store.restore_ledger(run_id, instruments, account_currency)
    stored = store.orders(run_id)
    # A placeholder stands for an order whose placing answer was lost: it is an intent too.
    lost = [o for o in stored if o.order_id.startswith(UNRESOLVED_PREFIX)]
    orders = {o.order_id: o for o in stored if o not in lost}
    intents = [*store.open_intents(run_id), *(o.request for o in lost)]
    adopted, missing = [], []
    for request in intents:
        found = _find(adapter, request)
        if found is None:
            missing.append(request)
        else:
            orders[found.order_id] = found
            adopted.append(found)
    ours = {r.client_order_id for r in intents}
    report = reconcile(
        adapter,
        ledger,
        orders,
        instruments=instruments,
        ts=ts,
        client_order_ids=ours,
        history=history,
    )
    # Reconciliation may still find one by its fills (an adapter without a lookup).
    found_later = {o.client_order_id for o in report.adopted}
    failed = [_failed(r, ts) for r in missing if r.client_order_id not in found_later]
    for order in (*adopted, *failed):
        journal.order(order)
    journal_report(journal, report, orders)
    journal.checkpoint(ts, ledger.state())
    return Recovered(
        ledger=ledger,
        orders=(*orders.values(), *failed),
        adopted=(*adopted, *report.adopted),
        failed=tuple(failed),
        report=report,
    )


def journal_report(
    journal: Journal, report: ReconciliationReport, orders: Mapping[str, Order]
) -> None:
    """Journal what a reconciliation changed in our record: orders, back-filled fills, deposits.

    `orders` (by order id) holds the orders the caller knew; a back-filled fill's order is
    there or among those the reconciliation adopted, updated or found to be a stranger's (an
    order left by an earlier session that filled during this one is recorded as what it is).
    """
    changed = (*report.adopted, *report.updated, *report.foreign)
    for each in changed:
        journal.order(each)
    known = {**orders, **{o.order_id: o for o in changed}}
    for fill in report.backfilled:
        order = known.get(fill.order_id)
        if order is None:
            msg = (
                f"reconciliation booked fill {fill.trade_id} of order {fill.order_id}, which "
                "is neither ours nor adopted: a person must look at the account"
            )
            raise UnknownOrderFillError(msg)
        journal.fill(fill, order)
    for deposit in report.deposits:
        journal.deposit(deposit)


def _find(adapter: ExchangeAdapter, request: OrderRequest) -> Order | None:
    if isinstance(adapter, FindsOrders):
        return adapter.find_order(request.client_order_id, request.instrument)
    # Without a lookup by client order id only an open order can be found; one that already
    # filled is adopted by reconciliation from its fills.
    return next(
        (o for o in adapter.open_orders() if o.client_order_id == request.client_order_id),
        None,
    )


def _failed(request: OrderRequest, ts: int) -> Order:
    order = Order(NOT_SENT_PREFIX + request.client_order_id, request, ts)
    order.reject("claimed before a restart and not at the exchange: not sent", ts)
    return order
