"""Record a session into its journal from the wiring, without touching the engine.

`RecordingClock` journals every wall-clock reading the engine takes; `RecordingVenue` journals
every answer the venue gives the engine (instruments, order acknowledgements, open orders,
whether orders rest, the fills each bar brought) and each bar as the engine hands it to the
venue, which is the first thing the engine does with a bar. `Recorder` writes the `start`
record, wraps the clock and the venue factory, and seals the journal with the run's digest.

The digest is the sha256 over the canonical JSON of every order the engine asked for (its
request and what became of it), every fill it booked and every risk event, in order: two runs
with equal digests decided and traded the same, byte for byte.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from decimal import Decimal
from pathlib import Path
from typing import Any

from coinswarm.backtest.engine import BacktestConfig, VenueFactory
from coinswarm.backtest.result import BacktestResult
from coinswarm.domain.bar import Bar, BarSeries
from coinswarm.domain.clock import Clock
from coinswarm.domain.fill import Fill
from coinswarm.domain.instrument import Instrument, instrument_from_symbol
from coinswarm.domain.ledger import Deposit
from coinswarm.domain.order import Order, OrderRequest
from coinswarm.exchanges.base import Venue
from coinswarm.infra.session_codec import (
    bar_to_json,
    deposit_to_json,
    fill_to_json,
    instrument_to_json,
    order_to_json,
    request_to_json,
)
from coinswarm.infra.session_journal import JournalWriter, canonical
from coinswarm.infra.state import KillSwitchFlag
from coinswarm.infra.storage import default_sqlite_path
from coinswarm.orchestration.door import describe_event
from coinswarm.risk.state_file import PersonAction

__all__ = [
    "HISTORICAL",
    "HISTORY",
    "JOURNAL_SUFFIX",
    "PERSON",
    "RECONCILED",
    "SHARED",
    "WALL",
    "Recorder",
    "RecordingClock",
    "RecordingVenue",
    "decisions",
    "digest",
    "journal_path",
]

WALL = "wall"
HISTORICAL = "historical"
"""The engine's clock in a recorded run: readings journalled (wall) or the bars' times."""


JOURNAL_SUFFIX = ".jsonl"
HISTORY = "history"
"""The record of the warm-up bars a session started with, right after `start`."""
PERSON = "person"
"""A person's stop or reset a session applied (through the risk state file)."""
SHARED = "shared"
"""A change of the kill switch every process shares, as the session's operator saw it."""
RECONCILED = "reconciled"
"""What a session's periodic reconciliation booked in the ledger between two bars."""


def journal_path(run_id: str, folder: Path | None = None) -> Path:
    """Return a new journal file for `run_id`; a rerun gets the next free name.

    The folder is by default `sessions/` beside the embedded database, in the data folder.
    """
    folder = folder or default_sqlite_path().parent / "sessions"
    path = folder / f"{run_id}{JOURNAL_SUFFIX}"
    number = 1
    while path.exists():
        number += 1
        path = folder / f"{run_id}.{number}{JOURNAL_SUFFIX}"
    return path


class RecordingClock:
    """Return the inner clock's reading, journalled first."""

    __slots__ = ("_journal", "inner")

    def __init__(self, inner: Clock, journal: JournalWriter) -> None:
        self.inner = inner
        self._journal = journal

    def now_ns(self) -> int:
        ts = self.inner.now_ns()
        self._journal.write("clock", {"ts": ts})
        return ts


class RecordingVenue:
    """Delegate to a venue and journal each answer it gives the engine."""

    def __init__(self, venue: Venue, journal: JournalWriter, *, sync_every: int = 1) -> None:
        self.name = venue.name
        self._venue = venue
        self._journal = journal
        self._sync_every = max(1, sync_every)
        self._bars = 0
        journal.write("venue", {"name": venue.name})

    def instruments(self) -> Mapping[str, Instrument]:
        found = self._venue.instruments()
        listed = {s: instrument_to_json(i) for s, i in found.items()}
        self._journal.write("instruments", {"instruments": listed})
        return found

    def place_order(self, request: OrderRequest) -> Order:
        order = self._venue.place_order(request)
        return self._ack("place_order", {"request": request_to_json(request)}, order)

    def cancel_order(self, order_id: str) -> Order:
        return self._ack("cancel_order", {"order_id": order_id}, self._venue.cancel_order(order_id))

    def get_order(self, order_id: str) -> Order:
        return self._ack("get_order", {"order_id": order_id}, self._venue.get_order(order_id))

    def open_orders(self, instrument: str | None = None) -> Sequence[Order]:
        orders = self._venue.open_orders(instrument)
        listed = [order_to_json(o) for o in orders]
        self._journal.write("open", {"instrument": instrument, "orders": listed})
        return orders

    def list_fills(self, *, since_ts: int | None = None) -> Sequence[Fill]:
        fills = self._venue.list_fills(since_ts=since_ts)
        listed = [fill_to_json(f) for f in fills]
        self._journal.write("listed", {"since_ts": since_ts, "fills": listed})
        return fills

    def balances(self) -> Mapping[str, Decimal]:
        found = self._venue.balances()
        self._journal.write("balances", {"balances": {c: str(a) for c, a in found.items()}})
        return found

    def on_bar(self, bar: Bar) -> Sequence[Fill]:
        self._journal.write("bar", bar_to_json(bar))
        fills = self._venue.on_bar(bar)
        listed = [fill_to_json(f) for f in fills]
        self._bars += 1
        # Durable every `sync_every` bars: a crash loses at most what a checkpoint would.
        sync = self._bars % self._sync_every == 0
        self._journal.write("fills", {"fills": listed}, sync=sync)
        return fills

    def settle(self) -> Sequence[Fill]:
        fills = self._venue.settle()
        self._journal.write("settle", {"fills": [fill_to_json(f) for f in fills]}, sync=True)
        return fills

    def open_order_count(self) -> int:
        count = self._venue.open_order_count()
        self._journal.write("open_count", {"count": count})
        return count

    def has_resting(self, instrument: str) -> bool:
        resting = self._venue.has_resting(instrument)
        self._journal.write("resting", {"instrument": instrument, "resting": resting})
        return resting

    def _ack(self, call: str, asked: dict[str, Any], order: Order) -> Order:
        self._journal.write("ack", {"call": call, **asked, "order": order_to_json(order)})
        return order


def decisions(result: BacktestResult) -> list[str]:
    """Return, as canonical JSON lines, every order (request and outcome), fill and risk event."""
    entries = [canonical({"order": order_to_json(o)}) for o in result.orders]
    entries += [canonical({"fill": fill_to_json(f)}) for f in result.fills]
    entries += [canonical({"risk_event": describe_event(e)}) for e in result.risk_events]
    return entries


def digest(entries: Sequence[str]) -> str:
    """Return the sha256 of `decisions`' lines."""
    hasher = hashlib.sha256()
    for entry in entries:
        hasher.update(entry.encode())
        hasher.update(b"\n")
    return hasher.hexdigest()


class Recorder:
    """Write one run's journal: `start` now, then every input, then `end` with the digest."""

    def __init__(
        self,
        path: Path,
        *,
        mode: str,
        strategy: str,
        config: BacktestConfig,
        instruments: Sequence[str],
        interval_ns: int,
        clock: str,
        run_id: str,
        resumed: bool = False,
        book: bool = False,
    ) -> None:
        """`resumed`: the run continues a session that died, from a book this journal lacks.

        `book`: the caller keeps the run's ledger (`run_live(book=...)`) and made the opening
        deposit itself, so the engine takes no clock reading for it.
        """
        self.path = path
        self.journal = JournalWriter(path)
        self.journal.write(
            "start",
            _start(
                mode=mode,
                strategy=strategy,
                config=config,
                instruments=instruments,
                interval_ns=interval_ns,
                clock=clock,
                run_id=run_id,
                resumed=resumed,
                book=book,
            ),
            sync=True,
        )

    def clock(self, clock: Clock) -> RecordingClock:
        """Return `clock` with each reading journalled."""
        return RecordingClock(clock, self.journal)

    def venue(self, factory: VenueFactory) -> VenueFactory:
        """Return `factory` with the venue it builds journalled.

        The venue gets the unrecorded clock: only the engine's own readings are the session's.
        """

        def build(
            instruments: Mapping[str, Instrument], clock: Clock, config: BacktestConfig
        ) -> Venue:
            inner = clock.inner if isinstance(clock, RecordingClock) else clock
            venue = factory(instruments, inner, config)
            return RecordingVenue(venue, self.journal, sync_every=config.checkpoint_every)

        return build

    def history(self, market: Sequence[BarSeries]) -> None:
        """Journal the warm-up bars the strategy may read from the start (one record)."""
        bars = [bar_to_json(s.bar(i)) for s in market for i in range(len(s))]
        self.journal.write(HISTORY, {"bars": bars}, sync=True)

    def person(self, action: PersonAction) -> None:
        """Journal a person's stop or reset, just before the session applies it."""
        self.journal.write(PERSON, {"action": asdict(action)}, sync=True)

    def shared(self, flag: KillSwitchFlag | None) -> None:
        """Journal a change of the shared kill switch, just before the session follows it."""
        self.journal.write(SHARED, {"flag": shared_to_json(flag)}, sync=True)

    def reconciled(self, deposits: Sequence[Deposit], fills: Sequence[Fill]) -> None:
        """Journal what a reconciliation booked between two bars: deposits, back-filled fills."""
        if deposits or fills:
            self.journal.write(
                RECONCILED,
                {
                    "deposits": [deposit_to_json(d) for d in deposits],
                    "fills": [fill_to_json(f) for f in fills],
                },
                sync=True,
            )

    def finish(self, result: BacktestResult) -> str:
        """Seal the journal with the run's decisions and their digest; return the digest."""
        entries = decisions(result)
        value = digest(entries)
        self.journal.write("end", {"digest": value, "decisions": entries}, sync=True)
        self.journal.close()
        return value

    def close(self) -> None:
        """Close the journal (without an `end` record if the run did not finish)."""
        self.journal.close()


def _start(
    *,
    mode: str,
    strategy: str,
    config: BacktestConfig,
    instruments: Sequence[str],
    interval_ns: int,
    clock: str,
    run_id: str,
    resumed: bool,
    book: bool,
) -> dict[str, Any]:
    risk = config.risk
    saved = config.risk_state
    model = config.fill_model
    increments = {
        s: instrument_to_json(config.instruments.get(s) or instrument_from_symbol(s))
        for s in instruments
    }
    return {
        "run_id": run_id,
        "mode": mode,
        "clock": clock,
        "strategy": strategy,
        "parameters": dict(config.parameters),
        "risk_phase": None if risk is None else risk.phase,
        "risk": repr(risk),
        "breaker": None if risk is None else risk.breaker.to_dict(),
        "initial_cash": str(config.initial_cash),
        "maker_bps": str(model.fees.maker_bps),
        "taker_bps": str(model.fees.taker_bps),
        "slippage": model.slippage.to_json(),
        "max_volume_share": None if model.max_volume_share is None else str(model.max_volume_share),
        "operator_reset_after_ns": config.operator_reset_after_ns,
        "shared_stop": shared_to_json(config.shared_stop),
        "instruments": list(instruments),
        "increments": increments,
        "interval_ns": interval_ns,
        "risk_state": None
        if saved is None
        else {"kill_switch": saved.kill_switch.to_dict(), "breaker": saved.breaker.to_dict()},
        "resumed": resumed,
        "book": book,
    }


def shared_to_json(flag: KillSwitchFlag | None) -> dict[str, Any] | None:
    """Return a shared kill switch flag as plain values (None: clear)."""
    return None if flag is None else {"by": flag.by, "reason": flag.reason, "ts_ns": flag.ts_ns}
