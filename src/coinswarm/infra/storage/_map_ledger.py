"""Map a ledger state to snapshot rows and back."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from coinswarm.domain.ledger import LedgerState
from coinswarm.domain.position import Position, RoundTrip
from coinswarm.infra.storage.models import (
    SnapshotBalanceRow,
    SnapshotPositionRow,
    SnapshotRoundTripRow,
)

__all__ = ["CASH", "FEE", "snapshot_children", "state_from_rows"]

CASH = "cash"
FEE = "fee"

SnapshotChild = SnapshotBalanceRow | SnapshotPositionRow | SnapshotRoundTripRow
Rows = list[dict[str, Any]]


def snapshot_children(
    snapshot_id: int, state: LedgerState
) -> list[tuple[type[Any], list[dict[str, Any]]]]:
    """Return, per child table, the column values of the rows that hold `state`.

    A snapshot repeats every round trip so far, so they go in as plain values, one statement
    per table, rather than as thousands of ORM objects.
    """
    balances = [
        {"snapshot_id": snapshot_id, "kind": kind, "currency": currency, "amount": amount}
        for kind, balances in ((CASH, state.cash), (FEE, state.fees))
        for currency, amount in balances
    ]
    positions = [
        {
            "snapshot_id": snapshot_id,
            "instrument": p.instrument,
            "quantity": p.quantity,
            "average_cost": p.average_cost,
            "realised_pnl": p.realised_pnl,
            "fees": p.fees,
        }
        for p in state.positions
    ]
    trips = [
        {
            "snapshot_id": snapshot_id,
            "seq": seq,
            "instrument": t.instrument,
            "entry_ts": t.entry_ts,
            "exit_ts": t.exit_ts,
            "quantity": t.quantity,
            "entry_price": t.entry_price,
            "exit_price": t.exit_price,
            "pnl": t.pnl,
            "fees": t.fees,
        }
        for seq, t in enumerate(state.round_trips)
    ]
    return [
        (SnapshotBalanceRow, balances),
        (SnapshotPositionRow, positions),
        (SnapshotRoundTripRow, trips),
    ]


def _balances(rows: Sequence[SnapshotBalanceRow], kind: str) -> tuple[tuple[str, Decimal], ...]:
    return tuple(sorted((b.currency, b.amount) for b in rows if b.kind == kind))


def state_from_rows(
    event_count: int,
    balances: Sequence[SnapshotBalanceRow],
    positions: Sequence[SnapshotPositionRow],
    trips: Sequence[SnapshotRoundTripRow],
) -> LedgerState:
    """Return the ledger state held by a snapshot's rows, in the order `Ledger.state` uses."""
    return LedgerState(
        cash=_balances(balances, CASH),
        positions=tuple(
            Position(p.instrument, p.quantity, p.average_cost, p.realised_pnl, p.fees)
            for p in sorted(positions, key=lambda p: p.instrument)
        ),
        fees=_balances(balances, FEE),
        round_trips=tuple(
            RoundTrip(
                instrument=t.instrument,
                entry_ts=t.entry_ts,
                exit_ts=t.exit_ts,
                quantity=t.quantity,
                entry_price=t.entry_price,
                exit_price=t.exit_price,
                pnl=t.pnl,
                fees=t.fees,
            )
            for t in sorted(trips, key=lambda t: t.seq)
        ),
        event_count=event_count,
    )
