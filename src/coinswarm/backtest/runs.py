"""Where finished runs are kept, so that `coinswarm explain RUN ORDER` can answer later.

A run's id is a digest of everything that determines its outcome (strategy, parameters, data,
fees, risk phase), so the same command gives the same id and writes the same files again.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from coinswarm.backtest.defaults import default_runs_dir
from coinswarm.backtest.explain import Explanation
from coinswarm.domain.errors import CoinswarmError

__all__ = [
    "REPORT_NOTE",
    "RunNotFoundError",
    "default_runs_dir",
    "find_explanation",
    "note_report",
    "run_id",
    "save_run",
]

REPORT_NOTE = "report.json"
"""A file in a run's folder naming the HTML report written for it elsewhere (`--report`)."""


class RunNotFoundError(CoinswarmError, LookupError):
    """No stored run, or no order in it, has the id asked for."""


def run_id(inputs: Mapping[str, Any]) -> str:
    """Return a short stable id for a run made from `inputs` (JSON-serialisable)."""
    canonical = json.dumps(inputs, sort_keys=True, default=str).encode()
    return "run-" + hashlib.sha256(canonical).hexdigest()[:12]


def file_digest(path: Path) -> str:
    """Return the SHA-256 of a file's bytes, so a run id changes when its data does."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _write(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def save_run(
    runs_dir: Path, identifier: str, summary: Mapping[str, Any], explained: Iterable[Explanation]
) -> Path:
    """Write a run's summary and explanations under `runs_dir/identifier` and return it."""
    folder = runs_dir / identifier
    folder.mkdir(parents=True, exist_ok=True)
    records = {
        e.order_id: {"client_order_id": e.client_order_id, "lines": e.render(), **e.to_dict()}
        for e in explained
    }
    _write(folder / "explanations.json", json.dumps(records, sort_keys=True, default=str))
    _write(folder / "summary.json", json.dumps(summary, sort_keys=True, default=str))
    return folder


def note_report(folder: Path, report: Path) -> None:
    """Record in a run's folder where its HTML report was written, for `coinswarm runs show`."""
    _write(folder / REPORT_NOTE, json.dumps({"path": str(report.resolve())}))


def find_explanation(runs_dir: Path, identifier: str, order_id: str) -> list[str]:
    """Return the explanation lines of `order_id` (exchange or client id) in run `identifier`."""
    path = runs_dir / identifier / "explanations.json"
    if not path.is_file():
        msg = f"no run {identifier!r} in {runs_dir}"
        raise RunNotFoundError(msg)
    records: dict[str, dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    record = records.get(order_id) or next(
        (r for r in records.values() if r["client_order_id"] == order_id), None
    )
    if record is None:
        msg = f"run {identifier} has no order {order_id!r} ({len(records)} orders in it)"
        raise RunNotFoundError(msg)
    return list(record["lines"])
