"""Where finished runs are kept, so that `coinswarm explain RUN ORDER` can answer later.

A run's id is a digest of everything that determines its outcome (strategy, parameters, data,
fees, risk phase), so the same command gives the same id and writes the same files again.

A run's folder holds `summary.json` (its metrics) and `explanations.jsonl.gz`: one JSON line
per order, gzipped. A six-year committee backtest refuses thousands of orders with the same
few reasons, so the lines compress about tenfold (11.8 MB of JSON to 1.2 MB). Folders written
before hold `explanations.json`, one JSON object, which is still read.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from coinswarm.backtest.defaults import default_runs_dir
from coinswarm.backtest.explain import Explanation
from coinswarm.domain.errors import CoinswarmError

__all__ = [
    "EXPLANATIONS",
    "REPORT_NOTE",
    "RunNotFoundError",
    "default_runs_dir",
    "find_explanation",
    "note_report",
    "read_explanations",
    "run_id",
    "save_run",
]

EXPLANATIONS = "explanations.jsonl.gz"
_OLD_EXPLANATIONS = "explanations.json"
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


def _write(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        temporary.write_bytes(data)
        os.replace(temporary, path)
    except OSError as error:  # about `path`: the temporary name means nothing to a person
        raise OSError(error.errno, error.strerror, str(path)) from None


def _record(explanation: Explanation) -> dict[str, Any]:
    return {"lines": explanation.render(), **explanation.to_dict()}


def save_run(
    runs_dir: Path, identifier: str, summary: Mapping[str, Any], explained: Iterable[Explanation]
) -> Path:
    """Write a run's summary and explanations under `runs_dir/identifier` and return it."""
    folder = runs_dir / identifier
    folder.mkdir(parents=True, exist_ok=True)
    lines = "".join(json.dumps(_record(e), sort_keys=True, default=str) + "\n" for e in explained)
    # mtime=0: the same run writes the same bytes.
    _write(folder / EXPLANATIONS, gzip.compress(lines.encode("utf-8"), compresslevel=6, mtime=0))
    (folder / _OLD_EXPLANATIONS).unlink(missing_ok=True)  # a rerun of a run kept before
    _write(folder / "summary.json", json.dumps(summary, sort_keys=True, default=str).encode())
    return folder


def note_report(folder: Path, report: Path) -> None:
    """Record in a run's folder where its HTML report was written, for `coinswarm runs show`."""
    _write(folder / REPORT_NOTE, json.dumps({"path": str(report.resolve())}).encode())


def _records(runs_dir: Path, identifier: str) -> Iterator[dict[str, Any]]:
    folder = runs_dir / identifier
    path = folder / EXPLANATIONS
    if path.is_file():
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            for line in handle:
                yield json.loads(line)
        return
    old = folder / _OLD_EXPLANATIONS
    if not old.is_file():
        msg = f"no run {identifier!r} in {runs_dir}"
        raise RunNotFoundError(msg)
    records: dict[str, dict[str, Any]] = json.loads(old.read_text(encoding="utf-8"))
    yield from records.values()


def read_explanations(runs_dir: Path, identifier: str) -> dict[str, dict[str, Any]]:
    """Return every kept explanation of run `identifier`, by exchange order id, in order.

    Each is the explanation's fields (`Explanation.to_dict`) and `lines`, its rendered text.
    """
    return {record["order_id"]: record for record in _records(runs_dir, identifier)}


def find_explanation(runs_dir: Path, identifier: str, order_id: str) -> list[str]:
    """Return the explanation lines of `order_id` (exchange or client id) in run `identifier`."""
    count, by_client_id = 0, None
    for record in _records(runs_dir, identifier):
        count += 1
        if record["order_id"] == order_id:  # an exchange id wins over a client id
            return list(record["lines"])
        if by_client_id is None and record["client_order_id"] == order_id:
            by_client_id = record
    if by_client_id is None:
        msg = f"run {identifier} has no order {order_id!r} ({count} orders in it)"
        raise RunNotFoundError(msg)
    return list(by_client_id["lines"])
