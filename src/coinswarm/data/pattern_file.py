"""The patterns file: what `patterns export` writes and `backtest --patterns` and
`patterns import` read.

JSON Lines, so an error can name its line: a header line, then one pattern per line in its
canonical form (scores included), each with the status the exporting run gave it. The header
holds a SHA-256 of the pattern lines, so a file cut short or edited by hand is refused as
corrupt rather than traded. Every feature a pattern names is checked against the catalogue
before anything is used.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from coinswarm.data._atomic import atomic_writer
from coinswarm.data.features import FeatureError, parse_feature
from coinswarm.domain.errors import DataError
from coinswarm.domain.pattern import InvalidPatternError, Pattern

__all__ = [
    "FORMAT",
    "ExportedPattern",
    "PatternsFile",
    "read_patterns",
    "read_patterns_file",
    "write_patterns",
]

FORMAT = "coinswarm-patterns"
VERSION = 1


@dataclass(frozen=True, slots=True)
class ExportedPattern:
    """A pattern as a run left it: the rule with its scores, and its status and reason."""

    pattern: Pattern
    status: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class PatternsFile:
    """A patterns file as read: its patterns, and the SHA-256 of the bytes they were read from
    (what a run that trades them pins, so that an edited file is not taken for the same one)."""

    path: Path
    sha256: str
    patterns: tuple[ExportedPattern, ...]


def write_patterns(path: Path, patterns: Sequence[ExportedPattern], *, source: str) -> None:
    """Write `patterns` to `path` atomically (a reader sees the old file or the new one)."""
    lines = [
        json.dumps(
            {**item.pattern.to_dict(), "status": item.status, "reason": item.reason},
            sort_keys=True,
            separators=(",", ":"),
            allow_nan=False,
        )
        for item in patterns
    ]
    header = {
        "format": FORMAT,
        "version": VERSION,
        "source": source,
        "count": len(lines),
        "sha256": _digest(lines),
    }
    text = "\n".join([json.dumps(header, sort_keys=True), *lines]) + "\n"
    with atomic_writer(path) as stream:
        stream.write(text.encode())


def read_patterns(path: Path) -> tuple[ExportedPattern, ...]:
    """Read a patterns file; raise DataError naming the file, line and field of any fault."""
    return read_patterns_file(path).patterns


def read_patterns_file(path: Path) -> PatternsFile:
    """Read a patterns file with the digest of its bytes; faults as `read_patterns`."""
    where = str(path)
    try:
        raw = path.read_bytes()
        text = raw.decode("utf-8")
    except FileNotFoundError:
        raise DataError("no such patterns file", path=where) from None
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"cannot read it as a patterns file: {error}", path=where) from None
    patterns = _parse(text, where)
    return PatternsFile(path, hashlib.sha256(raw).hexdigest(), patterns)


def _parse(text: str, where: str) -> tuple[ExportedPattern, ...]:
    lines = text.splitlines()
    header = _header(lines[0] if lines else "", where)
    body = lines[1:]
    if len(body) != header["count"] or _digest(body) != header["sha256"]:
        msg = (
            f"corrupt: its header promises {header['count']} patterns with digest "
            f"{str(header['sha256'])[:12]}…, the file holds {len(body)} lines that do not match"
        )
        raise DataError(msg, path=where)
    return tuple(_pattern(line, where, number) for number, line in enumerate(body, start=2))


def _header(line: str, where: str) -> dict[str, object]:
    try:
        header = json.loads(line)
    except json.JSONDecodeError:
        header = None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        msg = f"not a patterns file (expected a first line with format {FORMAT!r})"
        raise DataError(msg, path=where, line=1)
    if header.get("version") != VERSION:
        msg = f"expected version {VERSION}, found {header.get('version')!r}"
        raise DataError(msg, path=where, line=1, field="version")
    if not isinstance(header.get("count"), int) or not isinstance(header.get("sha256"), str):
        raise DataError("the header lacks its count or sha256", path=where, line=1)
    return header


def _pattern(line: str, where: str, number: int) -> ExportedPattern:
    try:
        data = json.loads(line)
        if not isinstance(data, dict):
            raise InvalidPatternError("expected a pattern object")
        status = str(data.pop("status", "candidate"))
        reason = str(data.pop("reason", ""))
        pattern = Pattern.from_dict(data)
    except json.JSONDecodeError as error:
        raise DataError(f"not JSON: {error.msg}", path=where, line=number) from None
    except InvalidPatternError as error:
        raise DataError(str(error), path=where, line=number) from None
    for feature in pattern.features:
        try:
            parse_feature(feature)
        except FeatureError as error:
            raise DataError(str(error), path=where, line=number, field="feature") from None
    return ExportedPattern(pattern, status, reason)


def _digest(lines: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()
