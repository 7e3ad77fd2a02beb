"""UTC timestamps and bar intervals as text: the one place that turns them into integers.

Timestamps are integers of UTC nanoseconds since the epoch everywhere in Coinswarm; text only
appears at the edges (files, reports). A timestamp without a zone is refused rather than
guessed, because a naive local time silently shifts every bar by hours.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from coinswarm.domain.bar import NS_PER_HOUR, NS_PER_SECOND

__all__ = [
    "INTERVALS",
    "format_interval",
    "format_timestamp",
    "parse_interval",
    "parse_timestamp",
    "to_ns",
]

NS_PER_MINUTE = 60 * NS_PER_SECOND
NS_PER_DAY = 24 * NS_PER_HOUR

INTERVALS: dict[str, int] = {
    "1m": NS_PER_MINUTE,
    "5m": 5 * NS_PER_MINUTE,
    "15m": 15 * NS_PER_MINUTE,
    "1h": NS_PER_HOUR,
    "4h": 4 * NS_PER_HOUR,
    "1d": NS_PER_DAY,
}
"""Bar intervals named in file names, label -> nanoseconds."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NS_PER_US = 1000
_UNITS = (("d", NS_PER_DAY), ("h", NS_PER_HOUR), ("m", NS_PER_MINUTE), ("s", NS_PER_SECOND))


def parse_interval(label: str) -> int:
    """Return the length in nanoseconds of an interval label such as '1h' or '15m'."""
    try:
        return INTERVALS[label]
    except KeyError:
        known = ", ".join(INTERVALS)
        msg = f"expected a bar interval ({known}), found {label!r}"
        raise ValueError(msg) from None


def format_interval(interval_ns: int) -> str:
    """Return a short label for an interval: '1h', '4h', '90m', '1d', '30s' or '<n>ns'."""
    for unit, size in _UNITS:
        if interval_ns > 0 and interval_ns % size == 0:
            return f"{interval_ns // size}{unit}"
    return f"{interval_ns}ns"


def to_ns(moment: datetime) -> int:
    """Return an aware datetime as integer UTC nanoseconds since the epoch (microsecond exact)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        msg = f"expected a timezone-aware datetime, found naive {moment.isoformat()}"
        raise ValueError(msg)
    delta = moment - _EPOCH
    # Integer arithmetic on the timedelta parts: a float timestamp would lose microseconds.
    seconds = delta.days * 86_400 + delta.seconds
    return seconds * NS_PER_SECOND + delta.microseconds * _NS_PER_US


def parse_timestamp(text: str) -> int:
    """Return UTC nanoseconds for an ISO 8601 UTC timestamp ('...Z' or '...+00:00').

    Raise ValueError, saying what was expected, for text that is not ISO 8601, has no zone,
    or is in a zone other than UTC.
    """
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        msg = f"expected an ISO 8601 UTC timestamp like 2018-01-01T00:00:00Z, found {text!r}"
        raise ValueError(msg) from None
    offset = moment.utcoffset()
    if offset is None:
        msg = f"expected a UTC timestamp ending in Z or +00:00, found naive {text!r}"
        raise ValueError(msg)
    if offset != timedelta(0):
        msg = f"expected a UTC timestamp (Z or +00:00), found offset {text!r}"
        raise ValueError(msg)
    return to_ns(moment)


def format_timestamp(ts_ns: int) -> str:
    """Return ISO 8601 UTC text ending in Z, with microseconds only when they are not zero.

    Raise ValueError for a timestamp with a sub-microsecond part, which the text form (and
    `parse_timestamp`) cannot carry.
    """
    whole_us, rest_ns = divmod(int(ts_ns), _NS_PER_US)
    if rest_ns:
        msg = f"expected a timestamp in whole microseconds, found {ts_ns} ns"
        raise ValueError(msg)
    moment = _EPOCH + timedelta(microseconds=whole_us)
    spec = "seconds" if moment.microsecond == 0 else "microseconds"
    return moment.isoformat(timespec=spec).replace("+00:00", "Z")
