"""Where `coinswarm optimize` keeps its trials: the store's trial ledger, beside discovery's.

A search is an evolution run of its own (`optimize-<digest>-<n>`): its configuration, one
committed cycle per fold holding that fold's trials (refused ones too), and a last cycle
holding the closing report. So a person, or a later deflated Sharpe ratio, can count every
trial ever run on a strategy and its data, however many times the same search was repeated
(n counts the repeats).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from coinswarm.backtest.runs import file_digest
from coinswarm.bootstrap import BacktestRequest
from coinswarm.evolution.optimize.search import OptimizeSettings
from coinswarm.infra.storage import Store, Trial
from coinswarm.strategies import pin_strategy

__all__ = ["RUN_PREFIX", "StoreTrials", "search_config", "start_run"]

RUN_PREFIX = "optimize-"


class StoreTrials:
    """Commit a search's folds, then its report, to the run `run_id` (see `start_run`)."""

    def __init__(self, store: Store, run_id: str) -> None:
        self.store = store
        self.run_id = run_id

    def commit(self, cycle: int, trials: Sequence[Trial], state_json: str) -> None:
        self.store.commit_cycle(self.run_id, cycle, trials=trials, state_json=state_json)


def start_run(store: Store, config: Mapping[str, Any], created_ns: int) -> str:
    """Store a new running search with `config`; return its id.

    The id names the configuration (a digest of its canonical JSON) and how many searches
    of it the store already holds, plus one.
    """
    config_json = json.dumps(config, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(config_json.encode()).hexdigest()[:12]
    prefix = f"{RUN_PREFIX}{digest}-"
    repeats = sum(1 for run in store.evolution_runs() if run.run_id.startswith(prefix))
    run_id = f"{prefix}{repeats + 1}"
    store.create_evolution_run(run_id, config_json, created_ns)
    return run_id


def search_config(settings: OptimizeSettings, request: BacktestRequest) -> dict[str, Any]:
    """Return what identifies a search: its settings, the strategy's code, the data's bytes
    and the costs it was backtested with."""
    return {
        **settings.to_json(),
        "strategy": pin_strategy(settings.strategy),
        "data": [file_digest(path) for path in request.data],
        "timeframe": request.timeframe,
        "fee_bps": str(request.fee_bps),
        "slippage": request.slippage.identity(),
        "phase": request.phase,
    }
