"""Runs, one run, and runs side by side: `coinswarm runs list|show|compare` as JSON.

The catalog (`backtest.catalog`) does the reading; this module turns its entries into the API's
models, with money as strings and no local path or password in them.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from coinswarm.api.errors import NotFoundError
from coinswarm.api.reads.account import latest_snapshot
from coinswarm.api.reads.models import Checkpoint, RunComparison, RunDetail, RunSummary
from coinswarm.api.reads.stores import Databases
from coinswarm.backtest.catalog import FAILED, INTERRUPTED, KEY_METRICS, RunEntry, read_entries
from coinswarm.backtest.runs import EXPLANATIONS, REPORT_NOTE
from coinswarm.data.timefmt import format_timestamp

__all__ = ["MONEY_METRICS", "compare_runs", "list_runs", "run_detail"]

MONEY_METRICS = frozenset({"final_equity", "fees_paid", "initial_cash", "average_trade_pnl"})
"""The summary's figures that are money: strings in the API, as every amount is."""


def _metric(name: str, value: Any) -> str | float | int | None:
    if value is None or isinstance(value, bool):
        return None if value is None else int(value)
    if name in MONEY_METRICS:
        return str(value)
    return value if isinstance(value, int | float) else str(value)


def _metrics(entry: RunEntry) -> dict[str, str | float | int | None]:
    return {name: _metric(name, value) for name, value in entry.metrics().items()}


def _resume(entry: RunEntry) -> str | None:
    command = entry.resume().command
    option = entry.place.option
    if command is None or option is None:
        return command
    # `--db` as given may hold a password: the command names the database as `where` does.
    return command.replace(shlex.quote(option), shlex.quote(entry.place.where))


def summary_of(entry: RunEntry) -> RunSummary:
    """Return the API's view of one catalog entry."""
    started = entry.started_ns()
    final = (entry.summary or {}).get("final_equity")
    return RunSummary(
        run=entry.run_id,
        mode=entry.mode,
        strategy=entry.strategy,
        parameters=dict(entry.record.parameters),
        data=entry.data(),
        status=entry.status,
        database=entry.place.where,
        started=None if started is None else format_timestamp(started),
        started_ns=started,
        final_equity=None if final is None else str(final),
        orders=entry.orders,
        fills=entry.fills,
        metrics=_metrics(entry),
        resume=_resume(entry),
        resume_note=entry.resume().note,
    )


def _entries(databases: Databases) -> list[RunEntry]:
    entries: list[RunEntry] = []
    for place, store in databases.stores():
        entries += read_entries(store, place, databases.runs_dir)
    return entries


def list_runs(
    databases: Databases,
    *,
    modes: Iterable[str] | None = None,
    statuses: Iterable[str] | None = None,
    strategy: str | None = None,
    limit: int | None = None,
) -> list[RunSummary]:
    """Return the runs that match, newest first (by when they started), as `runs list` does."""
    wanted_modes = None if modes is None else frozenset(modes)
    wanted_statuses = None if statuses is None else frozenset(statuses)
    entries = [
        entry
        for entry in _entries(databases)
        if (wanted_modes is None or entry.mode in wanted_modes)
        and (wanted_statuses is None or entry.status in wanted_statuses)
        and (strategy is None or entry.strategy == strategy)
    ]
    entries.sort(key=lambda e: (e.started_ns() or 0, e.record.created_ts, e.run_id), reverse=True)
    return [summary_of(entry) for entry in entries[:limit]]


def _entry(databases: Databases, run_id: str) -> RunEntry:
    located = databases.locate(run_id)
    with databases.store(located.place) as store:
        assert store is not None  # the run was just read from it
        entries = read_entries(store, located.place, databases.runs_dir)
    for entry in entries:
        if entry.run_id == run_id:
            return entry
    raise NotFoundError(f"no run {run_id!r}")  # deleted between the two reads


def _plain(value: Any) -> Any:
    """Return JSON-safe values for a run's inputs and summary (a Decimal as text)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _kept(entry: RunEntry, *names: str) -> bool:
    return entry.folder is not None and any((entry.folder / name).is_file() for name in names)


def run_detail(databases: Databases, run_id: str) -> RunDetail:
    """Return everything known about one run (`coinswarm runs show` reads the same, but
    through the store's writing transactions); NotFoundError if no database holds it."""
    entry = _entry(databases, run_id)
    record, start = entry.record, entry.start
    with databases.store(entry.place) as store:
        if store is None:
            raise NotFoundError(f"no run {run_id!r}")
        rows = store.row_counts(run_id)
        stopped = record.status in (FAILED, INTERRUPTED)
        reason = store.status_reason(run_id) if stopped else None
        snapshot = latest_snapshot(store, run_id)
    checkpoint = None
    if snapshot is not None:
        checkpoint = Checkpoint(
            ts=snapshot.ts,
            cash={currency: str(amount) for currency, amount in snapshot.cash.items()},
            positions={p.instrument: str(p.quantity) for p in snapshot.positions if p.quantity},
        )
    return RunDetail(
        **summary_of(entry).model_dump(),
        stored_status=record.status,
        reason=reason,
        venue=record.venue,
        inputs=_plain(dict(record.inputs)),
        created_ts=record.created_ts,
        updated_ts=record.updated_ts,
        last_started=None if start is None else format_timestamp(start.last_ns),
        rows=dict(rows),
        last_checkpoint=checkpoint,
        summary=None if entry.summary is None else _plain(dict(entry.summary)),
        explained=_kept(entry, EXPLANATIONS, "explanations.json"),
        report=_kept(entry, REPORT_NOTE),
    )


def compare_runs(databases: Databases, run_ids: Sequence[str]) -> RunComparison:
    """Return the runs side by side, each key figure in one row; NotFoundError names the first
    run no database holds."""
    entries = [_entry(databases, run_id) for run_id in run_ids]
    summaries = [summary_of(entry) for entry in entries]
    names = [*KEY_METRICS, "orders", "fills"]
    return RunComparison(
        runs=summaries,
        metrics={name: [s.metrics.get(name) for s in summaries] for name in names},
    )
