"""A discovery run's settings: its cadence, its windows and the bar a pattern must clear.

Every number here is part of a run's identity (stored with it, refused if changed on resume),
and the proof thresholds are printed beside the leaderboard, so a reader knows what "proven"
meant for that run.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from coinswarm.evolution.evaluate import DEFAULT_FEE_RATE

__all__ = ["Cadence", "EvolutionConfig", "ProofThresholds"]


class Cadence(BaseModel):
    """How often each source of candidates runs, in cycles (the project roadmap's defaults).

    A chaos batch runs every cycle; the rest on cycles divisible by their period, cycle 0
    included, so a run starts with the libraries already in the population.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    chaos_trades: int = Field(50, ge=1, description="random trades per cycle")
    head_to_head: int = Field(3, ge=1)
    agent_competition: int = Field(10, ge=1)
    technical: int = Field(15, ge=1)
    academic: int = Field(20, ge=1)


class ProofThresholds(BaseModel):
    """What a pattern must show out of sample, after fees, to be called proven.

    Each is checked on the pattern's walk-forward out-of-sample record (every fold it was
    scored on, concatenated). The search-wide checks (PBO and the reality check) hold for the
    whole run: when the search as a whole is overfit, nothing it found is proven.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_trades: int = Field(30, ge=1, description="out-of-sample trades")
    min_sharpe: float = Field(0.5, description="annualised out-of-sample Sharpe")
    min_deflated_sharpe: float = Field(0.95, ge=0, le=1, description="DSR for the trials run")
    max_random_entry_p: float = Field(0.05, gt=0, le=1)
    max_pbo: float = Field(0.5, gt=0, le=1, description="probability of backtest overfitting")
    max_reality_check_p: float = Field(0.10, gt=0, le=1, description="Hansen SPA, best vs hold")
    min_holdout_return: float = Field(0.0, description="net return on the final holdout")


class EvolutionConfig(BaseModel):
    """Everything that decides what a discovery run does, given its data and seed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seed: int = 0
    cycles: int = Field(30, ge=1)
    population: int = Field(200, ge=4, description="the most patterns kept alive")
    children: int = Field(40, ge=0, description="mutants and crossovers per cycle")
    extracted: int = Field(8, ge=0, description="candidates extracted from chaos per cycle")
    timeframes: tuple[str, ...] = ("1h", "4h", "1d")
    fee_rate: float = Field(DEFAULT_FEE_RATE, ge=0, lt=1)
    folds: int = Field(3, ge=1)
    holdout_share: float = Field(0.2, gt=0, lt=0.5)
    purge_bars: int = Field(168, ge=1, description="gap after each in-sample window")
    embargo_bars: int = Field(24, ge=0, description="gap after each out-of-sample window")
    min_in_sample_trades: int = Field(10, ge=1, description="fewer scores no fitness")
    cadence: Cadence = Cadence()
    proof: ProofThresholds = ProofThresholds()

    @model_validator(mode="after")
    def _enough_cycles(self) -> EvolutionConfig:
        if self.cycles < self.folds:
            msg = f"expected at least one cycle per fold ({self.folds}), found {self.cycles}"
            raise ValueError(msg)
        return self

    def fold_of(self, cycle: int) -> int:
        """Return the walk-forward fold (0-based) that `cycle` selects on."""
        return cycle * self.folds // self.cycles

    def ends_fold(self, cycle: int) -> bool:
        """Whether `cycle` is its fold's last: its survivors are then scored out of sample."""
        return cycle + 1 == self.cycles or self.fold_of(cycle + 1) != self.fold_of(cycle)
