"""Every stored run, in every mode's database: what `coinswarm runs list|show|compare` shows.

Where runs are: the backtest's database (`coinswarm.db` in the data folder, or the one in
`COINSWARM_DATABASE_URL`, or `--db`) and, by default, one SQLite file per other mode beside it
(`paper.db`, `sandbox.db`, `live.db`); a URL given, or set in the environment, serves every
mode. A run's summary (its metrics) and explanations are kept in its folder under the runs
folder (`runs/<run id>/`), written when it ends; a paper, sandbox or live run's session
journals are under `sessions/` in the data folder.

A run's status is what its database says (running, finished, failed, interrupted), except that
a run still `running` which no live process holds (`infra.storage.run_lock`) is `killed`: its
process died (kill -9, a power cut) before it could say anything. Interrupted and killed runs
can be resumed, and so can failed sessions; `Resume` says how.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import URL

from coinswarm.backtest.defaults import STORE_FULL, store_level
from coinswarm.backtest.runs import REPORT_NOTE, RunNotFoundError
from coinswarm.data.timefmt import format_timestamp
from coinswarm.domain.errors import CoinswarmError
from coinswarm.infra.storage import RunRecord, RunStart, Store
from coinswarm.infra.storage.database import (
    MODES,
    describe,
    mode_url,
    resolve_url,
    sqlite_path,
)

__all__ = [
    "FAILED",
    "FINISHED",
    "INTERRUPTED",
    "KEY_METRICS",
    "KILLED",
    "RUNNING",
    "STATUSES",
    "AmbiguousRunError",
    "Place",
    "Resume",
    "RunDetails",
    "RunEntry",
    "details",
    "find_runs",
    "list_runs",
    "opened",
    "places",
    "read_entries",
    "session_resume_command",
    "status_of",
]

RUNNING, FINISHED, FAILED, INTERRUPTED, KILLED = (
    "running",
    "finished",
    "failed",
    "interrupted",
    "killed",
)
STATUSES = (RUNNING, FINISHED, FAILED, INTERRUPTED, KILLED)
SESSION_MODES = frozenset({"sandbox", "live"})
"""The modes whose runs are sessions on live data, stamped by the wall clock."""
KEY_METRICS = (
    "final_equity",
    "total_return",
    "cagr",
    "sharpe",
    "sortino",
    "max_drawdown",
    "win_rate",
    "profit_factor",
    "trades",
    "fees_paid",
    "exposure",
    "bars",
)


class AmbiguousRunError(CoinswarmError, LookupError):
    """The same run id is stored in more than one of the databases looked at."""


@dataclass(frozen=True, slots=True)
class Place:
    """A database the catalog reads, and the `--db` text that names it again (None: found
    without one, so a command run the same way finds it too)."""

    url: URL
    option: str | None = None

    @property
    def where(self) -> str:
        return describe(self.url)


def places(db: str | None = None, modes: Iterable[str] = MODES) -> list[Place]:
    """Return the databases that hold the runs of `modes`: `db` alone when given."""
    if db is not None:
        return [Place(resolve_url(db), db)]
    found: dict[str, Place] = {}
    for mode in modes:
        url = mode_url(mode)
        found.setdefault(url.render_as_string(hide_password=False), Place(url))
    return list(found.values())


@contextmanager
def opened(place: Place) -> Iterator[Store | None]:
    """Yield the store at `place`, or None for a SQLite file that does not exist (looking at
    runs never creates a database)."""
    path = sqlite_path(place.url)
    if path is not None and not path.exists():
        yield None
        return
    with Store.open(place.url, upgrade=path is not None) as store:
        yield store


def status_of(stored: str, held: bool) -> str:
    """Return a run's status: the stored one, but `killed` for a run left running by a
    process that is gone."""
    return KILLED if stored == RUNNING and not held else stored


@dataclass(frozen=True, slots=True)
class Resume:
    """How to continue a run that did not finish: the command, or why there is none."""

    command: str | None
    note: str | None = None


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class RunEntry:
    """One stored run, with what the catalog knows of it besides its row."""

    record: RunRecord
    status: str
    place: Place
    orders: int
    fills: int
    start: RunStart | None
    folder: Path | None
    summary: Mapping[str, Any] | None

    @property
    def run_id(self) -> str:
        return self.record.run_id

    @property
    def mode(self) -> str:
        return self.record.mode

    @property
    def strategy(self) -> str:
        return self.record.strategy

    def data(self) -> str:
        """Return what the run traded on, in a few words."""
        inputs = self.record.inputs
        if self.mode in SESSION_MODES:
            products = ", ".join(inputs.get("products", ())) or "?"
            return f"{products} on {inputs.get('url') or 'the local exchange'}"
        files = [Path(p).name for p in inputs.get("data", ())]
        synthetic = f"synthetic seed {inputs.get('seed')}, {inputs.get('synthetic_bars')} bars"
        what = ", ".join(files) if files else synthetic
        period = [
            f"{word} {format_timestamp(inputs[key])[:10]}"
            for key, word in (("start_ns", "from"), ("end_ns", "to"))
            if inputs.get(key) is not None
        ]
        return " ".join([what, *period])

    def final_equity(self) -> float | None:
        """Return the equity the run ended with (from its summary); None if it did not end."""
        value = (self.summary or {}).get("final_equity")
        return None if value is None else float(value)

    def metrics(self) -> dict[str, Any]:
        """Return the run's key figures: its summary's metrics, and its orders and fills."""
        summary = self.summary or {}
        figures = {key: summary.get(key) for key in KEY_METRICS}
        return {**figures, "orders": self.orders, "fills": self.fills}

    def started_ns(self) -> int | None:
        """Return when the run first started, by the wall clock, if anything recorded it.

        A backtest's own times are its data's: only the run lock's record (or, for a paper
        run, its inputs) says when it ran; a session's are the wall clock's. Without those,
        the time its summary was written.
        """
        if self.start is not None:
            return self.start.first_ns
        if self.mode in SESSION_MODES:
            return self.record.created_ts
        stamped = self.record.inputs.get("started_ns")
        if stamped is not None:
            return int(stamped)
        summary = None if self.folder is None else self.folder / "summary.json"
        if summary is not None and summary.is_file():
            return summary.stat().st_mtime_ns // 1_000 * 1_000
        return None

    def resume(self) -> Resume:
        """Return how to resume the run; no command for a running or finished one."""
        if self.status in (RUNNING, FINISHED):
            return Resume(None)
        if self.mode in SESSION_MODES:
            inputs = self.record.inputs
            if inputs.get("url") is None:
                note = "it ran on the default local exchange, which ended with it"
                return Resume(None, note)
            command = session_resume_command(
                self.mode,
                self.run_id,
                url=str(inputs["url"]),
                products=list(inputs.get("products", ())),
                strategy=self.strategy,
                parameters=self.record.parameters,
                phase=inputs.get("phase"),
                database=self.place.option,
                ws_url=inputs.get("ws_url"),
                ca_file=None if inputs.get("ca_file") is None else Path(inputs["ca_file"]),
            )
            unknown = self.mode == "live" and not inputs.get("phase")
            return Resume(command, "add the --phase it ran with" if unknown else None)
        kept = store_level(self.record.inputs)
        if kept != STORE_FULL:
            return Resume(None, f"it was stored with --store {kept}, which keeps no checkpoints")
        if self.mode == "paper" and "started_ns" not in self.record.inputs:
            return Resume(None, "it was stored before paper runs recorded their start")
        words = ["coinswarm", "resume", self.run_id]
        if self.place.option is not None:
            words += ["--db", self.place.option]
        return Resume(shlex.join(words))

    def to_json(self) -> dict[str, Any]:
        """Return the entry as JSON-safe values (`runs list --json`)."""
        started = self.started_ns()
        resume = self.resume()
        return {
            "run": self.run_id,
            "mode": self.mode,
            "strategy": self.strategy,
            "parameters": dict(self.record.parameters),
            "data": self.data(),
            "status": self.status,
            "database": self.place.where,
            "started": None if started is None else format_timestamp(started),
            "final_equity": self.final_equity(),
            "metrics": self.metrics(),
            "orders": self.orders,
            "fills": self.fills,
            "folder": None if self.folder is None else str(self.folder),
            "resume": resume.command,
            "resume_note": resume.note,
        }


def session_resume_command(
    mode: str,
    run_id: str,
    *,
    url: str,
    products: Sequence[str],
    strategy: str,
    parameters: Mapping[str, Any],
    phase: str | None = None,
    database: str | None = None,
    ws_url: str | None = None,
    ca_file: Path | None = None,
) -> str:
    """Return the command that resumes a sandbox or live session on the same exchange."""
    words = ["coinswarm", mode, "--url", url]
    if ws_url is not None:
        words += ["--ws-url", ws_url]
    for product in products:
        words += ["--product", product]
    words += ["--strategy", strategy]
    for key, value in parameters.items():
        words += ["--param", f"{key}={value}"]
    if phase is not None:
        words += ["--phase", str(phase)]
    if ca_file is not None:
        words += ["--ca-file", str(ca_file)]
    if database is not None:
        words += ["--db", database]
    return shlex.join([*words, "--resume", run_id])


def read_entries(store: Store, place: Place, runs_dir: Path) -> list[RunEntry]:
    """Return every run stored at `place`, with its status, counts and summary."""
    records = store.runs()
    counts = store.run_counts()
    locks = store.locks()
    alive = locks.running(r.run_id for r in records if r.status == RUNNING)
    entries = []
    for record in records:
        folder = runs_dir / record.run_id
        orders, fills = counts.get(record.run_id, (0, 0))
        status = status_of(record.status, record.run_id in alive)
        start = locks.started(record.run_id)
        entries.append(
            RunEntry(
                record=record,
                status=status,
                place=place,
                orders=orders,
                fills=fills,
                start=start,
                folder=folder if folder.is_dir() else None,
                summary=_summary(folder / "summary.json", status, start),
            )
        )
    return entries


def _summary(path: Path, status: str, start: RunStart | None) -> Mapping[str, Any] | None:
    """Return the run's summary if it tells of this run's latest start.

    The same inputs give the same run id, so a summary may be left from an earlier run of
    it: an unfinished run's summary counts only if it was written after the run last
    started (a session stopped by Ctrl-C writes one for what it did).
    """
    if not path.is_file():
        return None
    fresh = status == FINISHED or (start is not None and path.stat().st_mtime_ns >= start.last_ns)
    return _read_json(path) if fresh else None


def _all_entries(where: Sequence[Place], runs_dir: Path) -> list[RunEntry]:
    entries: list[RunEntry] = []
    for place in where:
        with opened(place) as store:
            if store is not None:
                entries += read_entries(store, place, runs_dir)
    return entries


def list_runs(
    where: Sequence[Place],
    runs_dir: Path,
    *,
    modes: Iterable[str] | None = None,
    strategy: str | None = None,
    statuses: Iterable[str] | None = None,
    limit: int | None = None,
) -> list[RunEntry]:
    """Return the runs stored at `where` that match, newest first (by when they started)."""
    wanted_modes = None if modes is None else frozenset(modes)
    wanted_statuses = None if statuses is None else frozenset(statuses)
    entries = [
        entry
        for entry in _all_entries(where, runs_dir)
        if (wanted_modes is None or entry.mode in wanted_modes)
        and (strategy is None or entry.strategy == strategy)
        and (wanted_statuses is None or entry.status in wanted_statuses)
    ]
    entries.sort(key=lambda e: (e.started_ns() or 0, e.record.created_ts, e.run_id), reverse=True)
    return entries if limit is None else entries[:limit]


def _looked(place: Place) -> str:
    path = sqlite_path(place.url)
    return place.where + (" (no such file)" if path is not None and not path.exists() else "")


def find_runs(where: Sequence[Place], run_ids: Sequence[str], runs_dir: Path) -> list[RunEntry]:
    """Return the stored runs `run_ids` name, in that order.

    RunNotFoundError names the databases looked in when one is missing; AmbiguousRunError the
    databases that both hold one (pass `--db` to choose).
    """
    entries = _all_entries(where, runs_dir)
    found = []
    for run_id in run_ids:
        matches = [entry for entry in entries if entry.run_id == run_id]
        if not matches:
            looked = " or ".join(_looked(place) for place in where)
            msg = f"no run {run_id!r} in {looked}"
            raise RunNotFoundError(msg)
        if len(matches) > 1:
            held = " and ".join(entry.place.where for entry in matches)
            msg = f"run {run_id} is stored in {held}; choose one with --db"
            raise AmbiguousRunError(msg)
        found.append(matches[0])
    return found


@dataclass(frozen=True, slots=True)
class RunDetails:
    """Everything known about one run (`runs show`)."""

    entry: RunEntry
    rows: Mapping[str, int]
    reason: str | None
    checkpoint_ts: int | None
    cash: Mapping[str, str]
    positions: Mapping[str, str]
    files: tuple[Path, ...]
    report: Path | None

    def to_json(self) -> dict[str, Any]:
        """Return the details as JSON-safe values (`runs show --json`)."""
        record = self.entry.record
        checkpoint = None
        if self.checkpoint_ts is not None:
            checkpoint = {
                "ts": format_timestamp(self.checkpoint_ts),
                "cash": dict(self.cash),
                "positions": dict(self.positions),
            }
        start = self.entry.start
        return {
            **self.entry.to_json(),
            "stored_status": record.status,
            "reason": self.reason,
            "venue": record.venue,
            "inputs": dict(record.inputs),
            "created": _time(record.created_ts),
            "updated": _time(record.updated_ts),
            "process": None if start is None else {"pid": start.pid, "host": start.host},
            "last_started": None if start is None else format_timestamp(start.last_ns),
            "rows": dict(self.rows),
            "last_checkpoint": checkpoint,
            "summary": None if self.entry.summary is None else dict(self.entry.summary),
            "files": [str(path) for path in self.files],
            "report": None if self.report is None else str(self.report),
        }


def _time(ts: int) -> str | int:
    try:
        return format_timestamp(ts)
    except ValueError:  # a time of nanosecond precision, as a test may store: shown raw
        return ts


def session_journals(run_id: str, folder: Path) -> list[Path]:
    """Return the session journals of `run_id` in `folder` (a rerun's get a number)."""
    if not folder.is_dir():
        return []
    return sorted(
        path
        for path in folder.iterdir()
        if path.name == f"{run_id}.jsonl"
        or (path.name.startswith(f"{run_id}.") and path.name.endswith(".jsonl"))
    )


def run_files(entry: RunEntry, sessions_dir: Path) -> list[Path]:
    """Return the files kept for a run outside its database: its folder's, its journals."""
    folder = (
        [] if entry.folder is None else sorted(p for p in entry.folder.rglob("*") if p.is_file())
    )
    return folder + session_journals(entry.run_id, sessions_dir)


def details(entry: RunEntry, sessions_dir: Path) -> RunDetails:
    """Return everything known about `entry`: its rows, last checkpoint, files and report."""
    with opened(entry.place) as store:
        assert store is not None  # the entry was read from it
        rows = store.row_counts(entry.run_id)
        # The reason of the latest status change that gave one: a failure or an interruption.
        stopped = entry.record.status in (FAILED, INTERRUPTED)
        reason = store.status_reason(entry.run_id) if stopped else None
        snapshot = store.latest_snapshot(entry.run_id)
    note = None if entry.folder is None else _read_json(entry.folder / REPORT_NOTE)
    report = Path(note["path"]) if isinstance(note, dict) and "path" in note else None
    state = None if snapshot is None else snapshot.state
    return RunDetails(
        entry=entry,
        rows=rows,
        reason=reason,
        checkpoint_ts=None if snapshot is None else snapshot.ts,
        cash={} if state is None else {currency: str(amount) for currency, amount in state.cash},
        positions={}
        if state is None
        else {p.instrument: str(p.quantity) for p in state.positions if p.quantity},
        files=tuple(run_files(entry, sessions_dir)),
        report=report,
    )
