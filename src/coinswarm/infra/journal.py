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

from collections.abc import Callable
from typing import TYPE_CHECKING

from coinswarm.domain.errors import CoinswarmError
from coinswarm.infra.crash import crash_point

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
    """Buffer a run's events and write them at each checkpoint, or check them on a replay."""

    def __init__(
        self,
        store: Store,
        run_id: str,
        *,
        resume_after_ts: int | None = None,
        write_ahead: bool = False,
    ) -> None:
        self._store = store
        self._run = run_id
        self._resume_after = resume_after_ts
        self._write_ahead = write_ahead
        self._claimed: set[str] = set()
        self._writes: list[Callable[[], object]] = []
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
        self._writes.append(lambda: self._store.claim_intent(self._run, request, ts))
        return True

    def order(self, order: Order) -> None:
        self._writes.append(lambda: self._store.record_order(self._run, order))

    def fill(self, fill: Fill, order: Order) -> None:
        self._writes.append(lambda: self._store.record_fill(self._run, fill, order))

    def deposit(self, deposit: Deposit) -> None:
        self._writes.append(lambda: self._store.record_deposit(self._run, deposit))

    def risk_note(self, client_order_id: str, note: RiskNote, ts: int) -> None:
        self._writes.append(
            lambda: self._store.record_risk_note(
                self._run, note, ts=ts, client_order_id=client_order_id
            )
        )

    def risk_event(self, event: RiskEvent) -> None:
        self._writes.append(lambda: self._store.record_risk_event(self._run, event))

    def verdict(self, verdict: Verdict) -> None:
        self._verdicts.append(verdict)

    def checkpoint(self, ts: int, state: LedgerState) -> None:
        """Write what happened since the last checkpoint, or, on a replay, check it."""
        writes, verdicts = self._writes, self._verdicts
        self._writes, self._verdicts = [], []
        if self._resume_after is not None and ts <= self._resume_after:
            self._check(ts, state)
            return
        with self._store.transaction():
            for write in writes:
                write()
            if verdicts:
                self._store.record_verdicts(self._run, verdicts)
            crash_point("checkpoint_before_snapshot")
            self._store.save_snapshot(self._run, ts, state)
            self._store.anchor_run(self._run)
        self.checkpoints_written += 1
        crash_point("after_checkpoint")

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
