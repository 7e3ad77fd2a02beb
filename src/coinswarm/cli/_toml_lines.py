"""Where each key of a TOML text is written: the line a configuration error points at.

`tomllib` gives positions only for syntax errors, so a value it parsed but that we refuse (a
wrong type, an unknown key) would leave the person searching their file. This reads the text
once more, line by line, and records the line of every table header and every `key = value`
under the table it belongs to. It only has to be right for text `tomllib` has already
accepted, and a key it cannot place is reported without a line rather than with a wrong one.
"""

from __future__ import annotations

import re
import tomllib

__all__ = ["key_lines"]

_BARE = r"[A-Za-z0-9_-]+"
_QUOTED = r'"(?:[^"\\]|\\.)*"|\'[^\']*\''
_PART = rf"\s*(?:{_BARE}|{_QUOTED})\s*"
_DOTTED = rf"{_PART}(?:\.{_PART})*"
_HEADER = re.compile(rf"^\s*(\[\[?)({_DOTTED})\]\]?\s*(?:#.*)?$")
_KEY = re.compile(rf"^({_DOTTED})=")
_SPLIT = re.compile(rf"\s*({_BARE}|{_QUOTED})\s*(?:\.|$)")


def key_lines(text: str) -> dict[tuple[str, ...], int]:
    """Return the 1-based line of every table and key, by its full dotted path."""
    lines: dict[tuple[str, ...], int] = {}
    table: tuple[str, ...] = ()
    in_string: str | None = None  # the delimiter of a multi-line string being skipped
    for number, line in enumerate(text.splitlines(), start=1):
        if in_string is not None:
            if line.count(in_string) % 2 == 1:
                in_string = None
            continue
        header = _HEADER.match(line)
        if header is not None:
            table = _parts(header.group(2))
            lines.setdefault(table, number)
            continue
        key = _KEY.match(line)
        if key is None:
            continue
        path = (*table, *_parts(key.group(1)))
        for end in range(len(table) + 1, len(path) + 1):
            lines.setdefault(path[:end], number)
        in_string = _opens_multiline(line[key.end() :])
    return lines


def _parts(dotted: str) -> tuple[str, ...]:
    return tuple(_unquote(found.group(1)) for found in _SPLIT.finditer(dotted))


def _unquote(part: str) -> str:
    if part[:1] in "\"'":
        # A quoted key is a TOML string: let the parser undo its escapes exactly.
        return str(tomllib.loads(f"key = {part}")["key"])
    return part


def _opens_multiline(value: str) -> str | None:
    for delimiter in ('"""', "'''"):
        if value.lstrip().startswith(delimiter) and value.count(delimiter) % 2 == 1:
            return delimiter
    return None
