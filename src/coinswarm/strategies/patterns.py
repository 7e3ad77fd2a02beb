"""The patterns file a committee trades (`--patterns FILE`), read before any work and pinned
to its content, so a run, its resume and its replay trade the same patterns.

A patterns spec is a path, or a pinned one: the file's absolute path and the SHA-256 of its
bytes (`/abs/proven.jsonl@sha256:<hex>`), as a strategy file is pinned. The pinned spec is the
committee's `patterns` parameter, so it is part of the run's identity, its stored inputs and
its session journal; a pinned spec whose file has changed since is refused, naming both
digests. A file is refused whole, naming its line and field, when it is corrupt, names an
unknown feature, holds no proven pattern, or holds a proven one the agent cannot trade.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from coinswarm.agents.pattern import PROVEN, pattern_interval, walk_forward_score
from coinswarm.data.pattern_file import ExportedPattern, read_patterns_file
from coinswarm.domain.errors import DataError
from coinswarm.domain.pattern import InvalidPatternError

__all__ = ["LoadedPatterns", "load_patterns", "pin_patterns"]

_DIGEST_MARK = "@sha256:"
_FIRST_PATTERN_LINE = 2  # line 1 is the header


@dataclass(frozen=True, slots=True)
class LoadedPatterns:
    """The proven patterns of a file, and the pinned spec that names exactly that file."""

    pinned: str
    proven: tuple[ExportedPattern, ...]


def pin_patterns(spec: str) -> str:
    """Return `spec` pinned to the file's absolute path and content digest, once it reads."""
    return load_patterns(spec).pinned


def load_patterns(spec: str) -> LoadedPatterns:
    """Read the patterns file `spec` names (optionally pinned) and return its proven patterns.

    Raise DataError naming the file (and the line and field where there is one).
    """
    text, _, pinned_digest = spec.partition(_DIGEST_MARK)
    read = read_patterns_file(Path(text).expanduser())
    path = read.path.resolve()
    if pinned_digest and read.sha256 != pinned_digest:
        msg = (
            f"patterns file changed since the run: its sha256 is now {read.sha256}, the run "
            f"used {pinned_digest}; restore that file to resume or replay the run"
        )
        raise DataError(msg, path=str(path))
    proven = []
    for line, item in enumerate(read.patterns, start=_FIRST_PATTERN_LINE):
        if item.status != PROVEN:
            continue
        for field, check in (("scores", walk_forward_score), ("timeframe", pattern_interval)):
            try:
                check(item.pattern)
            except InvalidPatternError as error:
                raise DataError(str(error), path=text, line=line, field=field) from None
        proven.append(item)
    if not proven:
        statuses = Counter(item.status for item in read.patterns)
        found = ", ".join(f"{n} {status}" for status, n in sorted(statuses.items())) or "none"
        msg = f"holds no proven pattern to trade (its patterns: {found})"
        raise DataError(msg, path=text)
    return LoadedPatterns(f"{path}{_DIGEST_MARK}{read.sha256}", tuple(proven))
