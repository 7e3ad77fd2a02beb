"""The journal that writes a run to the database, in checkpoints that a crash cannot split.

Everything a run does between two checkpoints is held in memory and written at the checkpoint
in ONE transaction, together with the ledger state of that moment: the database always holds
the run up to some checkpoint, never half of one. Resuming a killed run replays it from the
start (a backtest is deterministic): every checkpoint the database already holds is compared
with the replay instead of written again, and writing starts with the first checkpoint it does
not hold. Nothing is lost and nothing is written twice.

A backtest may batch many bars per checkpoint because its exchange lives in the same process
and is rebuilt by the replay. A session against a real exchange cannot be replayed, so it
writes each intent ahead (`write_ahead=True`): the claim is committed before its order is sent,
and a restart finds every intent that may have reached the exchange (`Store.open_intents`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from coinswarm.domain.errors import CoinswarmError
from coinswarm.infra.crash import crash_point
from coinswarm.infra.storage.batch import (
    Claimed,
    Deposited,
    Entry,
    Filled,
    Happened,
    Noted,
    Ordered,
)

if TYPE_CHECKING:
    from coinswarm.agents.committee import Verdict
    from coinswarm.domain.fill import Fill
    from coinswarm.domain.ledger import Deposit, LedgerState
    from coinswarm.domain.order import Order, OrderRequest
    from coinswarm.infra.storage import Store
    from coinswarm.risk.events import RiskEvent, RiskNote

__all__ = ["DivergenceError", "StoreJournal"]


class DivergenceError(CoinswarmError):
    """A replay did not reproduce what the database holds: the inputs or the code changed."""


class StoreJournal:
    """Buffer a run's events and write them at each checkpoint, or check them on a replay.

    A checkpoint is written in bulk (`Store.write_batch`: a few statements per table) unless
    `bulk` is False, when each event goes through its own store method as it did before; both
    write the same rows, ids and audit hashes. A session's journal (`write_ahead`) writes one
    bar's few events at a time, and per row: its fills may also reach the store by another
    path (reconciliation), which the per-row methods settle in the database itself.

    With `summary`, the journal keeps only the run's orders, fills and deposits (no verdicts,
    risk decisions or events) and writes nothing until `finish`, which writes them with the
    last checkpoint's ledger and the run's end in one transaction: a summary run is stored
    whole or not at all, and has no checkpoints to resume from.
    """

    def __init__(
        self,
        store: Store,
        run_id: str,
        *,
        resume_after_ts: int | None = None,
        write_ahead: bool = False,
        bulk: bool | None = None,
        summary: bool = False,
    ) -> None:
        self._store = store
        self._run = run_id
        self._resume_after = resume_after_ts
        self._write_ahead = write_ahead
        self._bulk = not write_ahead if bulk is None else bulk
        self._summary = summary
        self._last: tuple[int, LedgerState] | None = None
        self._claimed: set[str] = set()
        self._entries: list[Entry] = []
        self._verdicts: list[Verdict] = []
        self.checkpoints_written = 0
        self.checkpoints_replayed = 0

    def claim(self, request: OrderRequest, ts: int) -> bool:
        if request.client_order_id in self._claimed:
            return False
        self._claimed.add(request.client_order_id)
        if self._write_ahead:
            # Its own transaction, committed before the order leaves: see the module's note.
            # False: an earlier life of the session claimed it, and may have sent it.
            claimed = self._store.claim_intent(self._run, request, ts)
            crash_point("intent_saved", request.instrument)
            return claimed
        self._entries.append(Claimed(request, ts))
        return True

    def order(self, order: Order) -> None:
        self._entries.append(Ordered(order))

    def fill(self, fill: Fill, order: Order) -> None:
        self._entries.append(Filled(fill, order))

    def deposit(self, deposit: Deposit) -> None:
        self._entries.append(Deposited(deposit))

    def risk_note(self, client_order_id: str, note: RiskNote, ts: int) -> None:
        if not self._summary:
            self._entries.append(Noted(client_order_id, note, ts))

    def risk_event(self, event: RiskEvent) -> None:
        if not self._summary:
            self._entries.append(Happened(event))

    def verdict(self, verdict: Verdict) -> None:
        if not self._summary:
            self._verdicts.append(verdict)

    def checkpoint(self, ts: int, state: LedgerState) -> None:
        """Write what happened since the last checkpoint, or, on a replay, check it."""
        if self._summary:
            self._last = (ts, state)
            return
        entries, verdicts = self._entries, self._verdicts
        self._entries, self._verdicts = [], []
        if self._resume_after is not None and ts <= self._resume_after:
            self._check(ts, state)
            return
        with self._store.transaction():
            if self._bulk:
                self._store.write_batch(self._run, entries, verdicts)
            else:
                self._write_each(entries, verdicts)
            crash_point("checkpoint_before_snapshot")
            self._store.save_snapshot(self._run, ts, state)
            self._store.anchor_run(self._run)
        self.checkpoints_written += 1
        crash_point("after_checkpoint")

    def finish(self, ts: int, *, status: str = "finished") -> None:
        """Mark the run `status` (finished, or interrupted by a person) at `ts`; a summary run
        first writes all it kept, at once."""
        with self._store.transaction():
            if self._summary:
                self._store.write_batch(self._run, self._entries)
                self._entries = []
                if self._last is not None:
                    self._store.save_snapshot(self._run, *self._last)
            self._store.set_run_status(self._run, status, ts)

    def _write_each(self, entries: list[Entry], verdicts: list[Verdict]) -> None:
        store, run = self._store, self._run
        for entry in entries:
            if isinstance(entry, Ordered):
                store.record_order(run, entry.order)
            elif isinstance(entry, Filled):
                store.record_fill(run, entry.fill, entry.order)
            elif isinstance(entry, Claimed):
                store.claim_intent(run, entry.request, entry.ts)
            elif isinstance(entry, Noted):
                store.record_risk_note(
                    run, entry.note, ts=entry.ts, client_order_id=entry.client_order_id
                )
            elif isinstance(entry, Happened):
                store.record_risk_event(run, entry.event)
            else:
                store.record_deposit(run, entry.deposit)
        if verdicts:
            store.record_verdicts(run, verdicts)

    def _check(self, ts: int, state: LedgerState) -> None:
        stored = self._store.snapshot_at(self._run, ts)
        if stored is not None and stored.state != state:
            msg = (
                f"run {self._run}: the replay's ledger at checkpoint {ts} differs from the "
                "stored one; the data, the code or the settings changed since the run began "
                "(to run it afresh, give another --db)"
            )
            raise DivergenceError(msg)
        self.checkpoints_replayed += 1
