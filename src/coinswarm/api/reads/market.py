"""The bars a run traded on, rebuilt from what it stored, and the risk profile it obeyed.

The store keeps no prices but the fills': a backtest or paper run stores its whole request
instead (`bootstrap.request_to_json`), which names its data files or its synthetic market, so
its bars are loaded again exactly as it loaded them. A sandbox or live session's bars came from
an exchange and are not rebuilt here (None): the equity curve is then marked at the fills'
prices, and agents' hit rates are unknown. A data file moved or deleted since gives None too.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from coinswarm import bootstrap
from coinswarm.domain.bar import BarSeries
from coinswarm.domain.errors import CoinswarmError
from coinswarm.infra.storage import RunRecord
from coinswarm.risk.profiles import RiskProfile, profile_for

__all__ = ["MarketCache", "profile_of", "rebuild_market"]

logger = logging.getLogger(__name__)

REBUILT_MODES = frozenset({"backtest", "paper"})
DEFAULT_PHASES = {"backtest": 0, "paper": 1, "sandbox": 2, "live": 3}
"""The phase a run is taken to obey when it stored none (each mode's default)."""
_UNREADABLE = (CoinswarmError, OSError, KeyError, TypeError, ValueError, AttributeError)


def _request(record: RunRecord) -> bootstrap.BacktestRequest | None:
    if record.mode not in REBUILT_MODES:
        return None
    try:
        return bootstrap.request_from_json(record.inputs)
    except _UNREADABLE:
        return None  # stored by an older Coinswarm, or not by `bootstrap.run`


def rebuild_market(record: RunRecord) -> dict[str, BarSeries] | None:
    """Return the run's bars by instrument, or None when they cannot be had again."""
    request = _request(record)
    if request is None:
        return None
    try:
        return {series.instrument: series for series in bootstrap.load_market(request)}
    except _UNREADABLE as error:
        logger.info("the bars of run %s cannot be loaded again: %s", record.run_id, error)
        return None


def profile_of(record: RunRecord) -> RiskProfile | None:
    """Return the risk profile the run obeyed; None for a run without limits."""
    request = _request(record)
    if request is not None:
        try:
            return bootstrap.resolve_risk(request)
        except _UNREADABLE:
            pass
    phase: Any = record.inputs.get("phase")
    try:
        return profile_for(int(phase))
    except _UNREADABLE:  # none stored, or "default": the mode's own phase
        return profile_for(DEFAULT_PHASES.get(record.mode, 0))


class MarketCache:
    """The rebuilt bars of the few runs looked at last (a six-year file loads in a blink, but
    not on every request)."""

    def __init__(self, size: int = 4) -> None:
        self._size = size
        self._kept: OrderedDict[str, Mapping[str, BarSeries] | None] = OrderedDict()
        self._lock = threading.Lock()

    def market(self, key: str, record: RunRecord) -> Mapping[str, BarSeries] | None:
        """Return the bars of the run named `key` (see `Located.key`)."""
        with self._lock:
            if key in self._kept:
                self._kept.move_to_end(key)
                return self._kept[key]
        market = rebuild_market(record)
        with self._lock:
            self._kept[key] = market
            while len(self._kept) > self._size:
                self._kept.popitem(last=False)
        return market
