"""The session journal: an append-only JSON-lines file of everything a session took in.

One JSON object a line: `seq` (the line number, from 1), `prev` (the sha256 of the previous
line's bytes; 64 zeros on the first) and `kind`, beside the record's own fields. The chain makes
an edited, reordered or cut-off journal detectable, and the reader names the file, line and
field of the first problem. A journal opens with a `start` record and is complete only with its
`end` record. Lines are flushed as written and made durable (fsync) whenever the writer is
asked to sync: once per bar, and at the end.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from coinswarm.domain.errors import CoinswarmError

__all__ = [
    "GENESIS",
    "JournalError",
    "JournalWriter",
    "Record",
    "canonical",
    "read_journal",
]

GENESIS = "0" * 64
START = "start"
END = "end"
_RESERVED = ("seq", "prev", "kind")


class JournalError(CoinswarmError, ValueError):
    """A journal that cannot be trusted or replayed: names the file, the line and the field."""

    def __init__(self, path: Path, line: int | None, problem: str) -> None:
        self.path = path
        self.line = line
        where = str(path) if line is None else f"{path}:{line}"
        super().__init__(f"{where}: {problem}")


def canonical(value: Any) -> str:
    """Return `value` as canonical JSON: sorted keys, no spaces, the same bytes every time."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


@dataclass(frozen=True, slots=True)
class Record:
    """One line of a journal: its number, its kind and its own fields."""

    line: int
    kind: str
    data: Mapping[str, Any]


class JournalWriter:
    """Append records to a new journal file; refuse to overwrite an existing one."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[bytes] = path.open("xb")
        self._seq = 0
        self._prev = GENESIS

    @property
    def lines(self) -> int:
        """Return how many records were written."""
        return self._seq

    def write(self, kind: str, data: Mapping[str, Any], *, sync: bool = False) -> int:
        """Append one record and return its line number; `sync` makes it durable now."""
        clash = [name for name in _RESERVED if name in data]
        if clash:
            msg = f"record {kind}: field names {clash} are the journal's own"
            raise ValueError(msg)
        self._seq += 1
        line = canonical({**data, "seq": self._seq, "prev": self._prev, "kind": kind}).encode()
        self._file.write(line + b"\n")
        self._file.flush()
        if sync:
            os.fsync(self._file.fileno())
        self._prev = hashlib.sha256(line).hexdigest()
        return self._seq

    def close(self) -> None:
        """Make everything durable and close the file."""
        if not self._file.closed:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()

    def __enter__(self) -> JournalWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def read_journal(path: Path) -> list[Record]:
    """Read and check a whole journal: chain intact, `start` first, `end` last."""
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise JournalError(path, None, f"cannot read the journal: {error.strerror}") from None
    records = list(_records(path, raw))
    if not records:
        raise JournalError(path, None, "empty: expected a 'start' record on line 1")
    if records[0].kind != START:
        raise JournalError(path, 1, f"field 'kind': expected 'start', found {records[0].kind!r}")
    last = records[-1]
    if last.kind != END:
        problem = (
            f"the journal ends without an 'end' record (last: {last.kind!r}): it was cut off, "
            "or the session did not finish"
        )
        raise JournalError(path, last.line, problem)
    return records


def _records(path: Path, raw: bytes) -> Iterator[Record]:
    prev = GENESIS
    lines = raw.split(b"\n")
    if lines[-1]:
        problem = "truncated: the last line has no end of line (the journal was cut off)"
        raise JournalError(path, len(lines), problem)
    for number, line in enumerate(lines[:-1], start=1):
        data = _parse(path, number, line)
        if data.get("seq") != number:
            problem = f"field 'seq': expected {number}, found {data.get('seq')!r}"
            raise JournalError(path, number, problem)
        if data.get("prev") != prev:
            problem = (
                "field 'prev': does not match the sha256 of the line before: "
                f"line {number - 1} was edited, or lines were removed or reordered"
            )
            raise JournalError(path, number, problem)
        kind = data.get("kind")
        if not isinstance(kind, str):
            raise JournalError(path, number, f"field 'kind': expected a string, found {kind!r}")
        prev = hashlib.sha256(line).hexdigest()
        fields = {k: v for k, v in data.items() if k not in _RESERVED}
        yield Record(number, kind, fields)


def _parse(path: Path, number: int, line: bytes) -> dict[str, Any]:
    try:
        data = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise JournalError(path, number, f"not a JSON object: {error}") from None
    if not isinstance(data, dict):
        found = type(data).__name__
        raise JournalError(path, number, f"expected a JSON object, found {found}")
    return data
