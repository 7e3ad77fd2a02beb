"""What a market-data file name says: `BTC_USDT-1h.csv.gz` is BTC-USDT in hourly bars."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from coinswarm.data.timefmt import INTERVALS

__all__ = ["DATA_SUFFIXES", "FileName", "data_file_name", "parse_file_name"]

DATA_SUFFIXES = (".csv", ".csv.gz", ".parquet")
"""File suffixes the loader reads and the writer writes, the format chosen by suffix."""

_NAME = re.compile(
    r"^(?P<base>[A-Za-z0-9]+)[_-](?P<quote>[A-Za-z0-9]+)(?:-(?P<interval>[0-9]+[a-z]))?$",
)


@dataclass(frozen=True, slots=True)
class FileName:
    """The parts of a data file name: instrument (or None) and interval label (or None)."""

    instrument: str | None
    interval: str | None


def _stem(path: Path) -> str:
    name = path.name
    for suffix in sorted(DATA_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def parse_file_name(path: str | Path) -> FileName:
    """Return the instrument ('BTC-USDT') and interval label ('1h') a file name carries.

    Either part is None when the name does not follow `BASE_QUOTE[-interval].suffix`; an
    interval label that is not one of `INTERVALS` counts as absent.
    """
    match = _NAME.match(_stem(Path(path)))
    if match is None:
        return FileName(None, None)
    instrument = f"{match['base']}-{match['quote']}".upper()
    label = match["interval"]
    return FileName(instrument, label if label in INTERVALS else None)


def data_file_name(instrument: str, interval: str, suffix: str = ".csv.gz") -> str:
    """Return the conventional file name: ('BTC-USDT', '1h') -> 'BTC_USDT-1h.csv.gz'."""
    return f"{instrument.replace('-', '_')}-{interval}{suffix}"
