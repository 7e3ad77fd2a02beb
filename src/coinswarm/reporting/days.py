"""UTC days: the one a person names, its edges in nanoseconds, the next midnight.

Standard library only, so `coinswarm report daily` refuses a bad `--date` before it loads the
stores (and a mistake costs no wait).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from coinswarm.domain.errors import CoinswarmError

__all__ = [
    "NS_PER_DAY",
    "BadDateError",
    "day_before",
    "day_bounds",
    "next_midnight_ns",
    "parse_day",
]

NS_PER_S = 1_000_000_000
NS_PER_DAY = 86_400 * NS_PER_S


class BadDateError(CoinswarmError, ValueError):
    """The day asked for is not a date (YYYY-MM-DD)."""


def parse_day(text: str) -> date:
    """Return the UTC day `text` names (YYYY-MM-DD); BadDateError says what was wrong."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        msg = f"--date: expected a day as YYYY-MM-DD (for example 2026-12-06), found {text!r}"
        raise BadDateError(msg) from None


def day_bounds(day: date) -> tuple[int, int]:
    """Return the day's start and end (exclusive) in UTC nanoseconds."""
    start = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * NS_PER_S
    return start, start + NS_PER_DAY


def next_midnight_ns(now_ns: int) -> int:
    """Return the first UTC midnight strictly after `now_ns`."""
    return (now_ns // NS_PER_DAY + 1) * NS_PER_DAY


def day_before(midnight_ns: int) -> date:
    """Return the UTC day that ends at `midnight_ns`."""
    return datetime.fromtimestamp((midnight_ns - NS_PER_DAY) // NS_PER_S, tz=UTC).date()
