"""The names and figures the command line shows before anything heavy loads.

`coinswarm --help` prints these as option defaults, and `coinswarm risk status` needs the data
folder: both must answer without importing numpy, polars or the database, so this module
imports nothing but the standard library (platformdirs only when COINSWARM_HOME is unset).
`bootstrap`, the engine and `backtest.runs` take their defaults from here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_CHECKPOINT_EVERY",
    "EXCHANGES",
    "LOCAL",
    "LOCAL_CCXT",
    "PERSON_MODES",
    "SIMULATED",
    "STORE_FULL",
    "STORE_LEVELS",
    "STORE_NONE",
    "STORE_SUMMARY",
    "SYNTHETIC_BARS",
    "SYNTHETIC_SEED",
    "data_home",
    "default_runs_dir",
    "risk_state_path",
    "store_level",
]

SYNTHETIC_SEED = 7
SYNTHETIC_BARS = 2 * 365 * 24
DEFAULT_CHECKPOINT_EVERY = 4096
SIMULATED = "simulated"
LOCAL = "local"
LOCAL_CCXT = "local-ccxt"
EXCHANGES = (SIMULATED, LOCAL, LOCAL_CCXT)
PERSON_MODES = ("paper", "sandbox", "live")
"""The modes a person watches: each obeys `coinswarm risk stop` through its risk state file."""
STORE_FULL = "full"
STORE_SUMMARY = "summary"
STORE_NONE = "none"
STORE_LEVELS = (STORE_FULL, STORE_SUMMARY, STORE_NONE)
"""What a backtest keeps (`--store`). full: everything, in checkpoints a killed run resumes
from. summary: the run with its inputs, orders (with their history), fills and deposits, the
final ledger, and its folder (metrics, explanations), written once at the end; it cannot be
resumed. none: nothing at all."""


def store_level(inputs: Mapping[str, Any]) -> str:
    """Return what a stored run keeps, from its stored inputs (runs stored before `--store`
    existed kept everything)."""
    return str(inputs.get("store", STORE_FULL))


def data_home() -> Path:
    """Return `$COINSWARM_HOME`, or the user's data directory for Coinswarm."""
    home = os.environ.get("COINSWARM_HOME")
    if home:
        return Path(home)
    from platformdirs import user_data_path  # noqa: PLC0415 - only without COINSWARM_HOME

    return user_data_path("coinswarm", appauthor=False)


def default_runs_dir() -> Path:
    """Return `$COINSWARM_HOME/runs`, or `runs` in the user's data directory for Coinswarm."""
    return data_home() / "runs"


def risk_state_path(mode: str) -> Path:
    """Return the risk state file `mode` obeys and saves: each mode keeps its own stops, so a
    sandbox's breaker trip cannot block live trading (`coinswarm risk stop` sets them all)."""
    name = "risk-state.json" if mode == "live" else f"risk-state-{mode}.json"
    return data_home() / name
