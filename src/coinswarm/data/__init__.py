"""Market data: load and validate bar files, find gaps, resample, synthesise, inspect.

The public surface is re-exported here; `coinswarm.data.indicators` is a separate subpackage
and is imported on its own.
"""

from __future__ import annotations

from coinswarm.data.gaps import Gap, find_gaps
from coinswarm.data.inspect import Inspection, Move, inspect_series
from coinswarm.data.loader import LoadResult, load_bars, load_bars_with_quarantine, write_bars
from coinswarm.data.naming import FileName, data_file_name, parse_file_name
from coinswarm.data.resample import Resampled, resample, to_timeframe
from coinswarm.data.synthetic import MarketModel, synthetic_market, synthetic_universe
from coinswarm.data.timefmt import (
    INTERVALS,
    format_interval,
    format_timestamp,
    parse_interval,
    parse_timestamp,
)
from coinswarm.data.validation import QuarantinedRow

__all__ = [
    "INTERVALS",
    "FileName",
    "Gap",
    "Inspection",
    "LoadResult",
    "MarketModel",
    "Move",
    "QuarantinedRow",
    "Resampled",
    "data_file_name",
    "find_gaps",
    "format_interval",
    "format_timestamp",
    "inspect_series",
    "load_bars",
    "load_bars_with_quarantine",
    "parse_file_name",
    "parse_interval",
    "parse_timestamp",
    "resample",
    "synthetic_market",
    "synthetic_universe",
    "to_timeframe",
    "write_bars",
]
