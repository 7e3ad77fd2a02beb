"""The bars a run traded on, rebuilt from what it kept, and the risk profile it obeyed.

The store keeps no prices but the fills'. A backtest or paper run stores its whole request
(`bootstrap.request_to_json`), which names its data files or its synthetic market: its bars
are loaded again exactly as it loaded them. A sandbox or live session's bars came from an
exchange; its session journal (`sessions/<run>.jsonl`, for `coinswarm replay`) keeps every bar
it took in, one JSON line each, and those are read back (a running session's journal grows:
it is read again when its size changed). Without either (a data file moved, a journal deleted)
the answer is None: the equity curve is then marked at the fills' prices, and agents' hit
rates are unknown.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path

from coinswarm import bootstrap
from coinswarm.backtest.catalog import session_journals
from coinswarm.backtest.defaults import data_home
from coinswarm.domain.bar import Bar, BarSeries
from coinswarm.domain.errors import CoinswarmError
from coinswarm.infra.session_codec import bar_from_json
from coinswarm.infra.storage import RunRecord

__all__ = ["MarketCache", "journal_market", "rebuild_market"]

logger = logging.getLogger(__name__)

_UNREADABLE = (CoinswarmError, OSError, KeyError, TypeError, ValueError, AttributeError)


def _journal_bars(path: Path, bars: dict[str, dict[int, Bar]]) -> int | None:
    """Add the bars of one journal to `bars`; return its bar interval (from its start).

    A line that does not parse (the last one, half written by a session killed mid-write) is
    passed over: the bars before it are as good as they were.
    """
    interval = None
    try:
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                # Canonical JSON (`session_journal.canonical`): the kind shows without parsing.
                try:
                    if '"kind":"bar"' in line:
                        bar = bar_from_json(json.loads(line))
                        bars.setdefault(bar.instrument, {})[bar.ts] = bar
                    elif interval is None and '"kind":"start"' in line:
                        interval = json.loads(line).get("interval_ns")
                except _UNREADABLE:
                    continue
    except OSError as error:
        logger.info("a session journal cannot be read: %s", error)
    return interval if isinstance(interval, int) and interval > 0 else None


def journal_market(paths: Sequence[Path]) -> dict[str, BarSeries] | None:
    """Return the bars the session journals at `paths` hold, by instrument (None: none)."""
    bars: dict[str, dict[int, Bar]] = {}
    intervals = [_journal_bars(path, bars) for path in paths]
    interval = next((i for i in intervals if i is not None), None)
    if not bars or interval is None:
        return None
    return {
        symbol: BarSeries.from_bars(symbol, interval, [by_ts[ts] for ts in sorted(by_ts)])
        for symbol, by_ts in bars.items()
    }


def _journals(record: RunRecord) -> list[Path]:
    if record.mode in bootstrap.REBUILT_MODES:
        return []
    return session_journals(record.run_id, data_home() / "sessions")


def rebuild_market(record: RunRecord) -> dict[str, BarSeries] | None:
    """Return the run's bars by instrument, or None when they cannot be had again."""
    request = bootstrap.stored_request(record)
    if request is None:
        return journal_market(_journals(record))
    try:
        return {series.instrument: series for series in bootstrap.load_market(request)}
    except _UNREADABLE as error:
        logger.info("the bars of run %s cannot be loaded again: %s", record.run_id, error)
        return None


Stamp = tuple[tuple[str, int], ...]


def _stamp(record: RunRecord) -> Stamp:
    """Return what the run's bars are read from, as it stands: its journals and their sizes
    (none for a run whose request names them)."""
    stamped = []
    for path in _journals(record):
        try:
            stamped.append((str(path), path.stat().st_size))
        except OSError:
            continue
    return tuple(stamped)


class MarketCache:
    """The rebuilt bars of the few runs looked at last (a six-year file loads in a blink, but
    not on every request), read again when a session's journal grew."""

    def __init__(self, size: int = 4) -> None:
        self._size = size
        self._kept: OrderedDict[str, tuple[Stamp, Mapping[str, BarSeries] | None]] = OrderedDict()
        self._lock = threading.Lock()

    def market(self, key: str, record: RunRecord) -> Mapping[str, BarSeries] | None:
        """Return the bars of the run named `key` (see `Located.key`)."""
        stamp = _stamp(record)
        with self._lock:
            kept = self._kept.get(key)
            if kept is not None and kept[0] == stamp:
                self._kept.move_to_end(key)
                return kept[1]
        market = rebuild_market(record)
        with self._lock:
            self._kept[key] = (stamp, market)
            self._kept.move_to_end(key)
            while len(self._kept) > self._size:
                self._kept.popitem(last=False)
        return market
