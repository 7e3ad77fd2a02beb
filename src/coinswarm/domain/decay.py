"""Has a proven pattern stopped working? Sequential tests on its live or paper trade outcomes.

A pattern is proven on out-of-sample data, where its trade outcomes (net returns, as
fractions) had mean mu and standard deviation sigma. Once it trades, two tests watch its
outcomes one at a time and say when to demote it:

* `Cusum`: Page's one-sided CUSUM for a fall in the mean ("Continuous Inspection Schemes",
  Biometrika 41, 1954). With z = (x - mu) / sigma, S_i = max(0, S_{i-1} - z_i - k); demote
  once S_i > h. The drift k (in sigmas) is half the fall it is tuned to catch; h sets how
  rarely it fires by chance (k = 0.5, h = 5: after about 1,000 trades of an unchanged
  pattern on average, and after about 22 once the mean falls by 0.65 sigma).
* `Sprt`: Wald's sequential probability ratio test ("Sequential Tests of Statistical
  Hypotheses", Annals of Mathematical Statistics 16(2), 1945) of H0: mean = mu against H1:
  mean = `h1_mean` (0 by default), outcomes normal with sigma. The log likelihood ratio of H1
  to H0 adds (h1 - mu) / sigma^2 * (x - (mu + h1) / 2) per outcome; demote once it reaches
  log((1 - beta) / alpha). When it falls to log(beta / (1 - alpha)) the test accepts H0 (the
  pattern still works) and, since a live pattern must go on being watched, starts again from
  0 at the next outcome. alpha is the chance that one run demotes a pattern that still works,
  beta that it accepts one whose mean fell to h1. Runs repeat, so chances of a false demotion
  add up over time: the default alpha = 0.01 demotes an unchanged pattern after about 2,000
  trades on average (mu = 0.9%, sigma = 2%), and one whose mean fell to -0.4% after about 24.

Each test is a frozen specification with `run(outcomes)` over a whole array (vectorised:
running sums) and `monitor()`, a state fed one outcome at a time; both sum in the same order,
and the tests hold them equal to the last bit. A demotion is final: later outcomes change
neither the verdict nor where it crossed.

The tests live in `domain`, beside the pattern they judge, because the pattern agent runs them
while it trades and agents import only `domain` and `data`; they are plain statistics over
floats and need nothing else.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
import numpy.typing as npt

__all__ = ["Cusum", "CusumMonitor", "DecayDecision", "Sprt", "SprtMonitor", "Verdict"]


class Verdict(StrEnum):
    """What to do with the pattern."""

    KEEP = "keep"
    DEMOTE = "demote"


@dataclass(frozen=True, slots=True)
class DecayDecision:
    """A sequential test's verdict after `trades` outcomes, and why."""

    test: str  # "cusum" or "sprt"
    verdict: Verdict
    statistic: float  # at the demotion if there was one, else after the last outcome
    trades: int  # outcomes seen
    crossed_at: int | None  # index (from 0) of the outcome at which the test demoted
    mean_outcome: float  # over the outcomes up to the demotion (all of them without one)
    reason: str
    accepted: int = 0  # SPRT: runs that accepted H0 and restarted (CUSUM: always 0)


def _outcomes(outcomes: npt.ArrayLike) -> npt.NDArray[np.float64]:
    values = np.asarray(outcomes, dtype=np.float64)
    if values.ndim != 1 or not np.isfinite(values).all():
        raise ValueError("expected a 1-D array of finite trade outcomes")
    return values


def _check_distribution(oos_mean: float, oos_std: float) -> None:
    if not math.isfinite(oos_mean):
        raise ValueError(f"oos_mean must be finite, found {oos_mean}")
    if not (math.isfinite(oos_std) and oos_std > 0):
        raise ValueError(f"oos_std must be finite and positive, found {oos_std}")


def _mean(values: npt.NDArray[np.float64], seen: int) -> float:
    # Summed in order, as a monitor sums, so both report the same mean to the last bit.
    return float(np.cumsum(values[:seen])[-1]) / seen


def _first(crossed: npt.NDArray[np.bool_]) -> int | None:
    return int(np.argmax(crossed)) if crossed.any() else None


@dataclass(frozen=True, slots=True)
class Cusum:
    """One-sided CUSUM for a fall of a pattern's mean outcome below its out-of-sample mean."""

    oos_mean: float
    oos_std: float
    drift: float = 0.5  # k, in out-of-sample standard deviations
    threshold: float = 5.0  # h

    def __post_init__(self) -> None:
        _check_distribution(self.oos_mean, self.oos_std)
        if not (math.isfinite(self.drift) and self.drift >= 0):
            raise ValueError(f"drift k must be finite and >= 0, found {self.drift}")
        if not (math.isfinite(self.threshold) and self.threshold > 0):
            raise ValueError(f"threshold h must be finite and positive, found {self.threshold}")

    def monitor(self) -> CusumMonitor:
        """Return a monitor that has seen no outcome yet."""
        return CusumMonitor(self)

    def run(self, outcomes: npt.ArrayLike) -> DecayDecision:
        """Return the decision after every outcome of `outcomes`, in order."""
        values = _outcomes(outcomes)
        if values.size == 0:
            return self.decide(0.0, 0, None, 0.0)
        steps = -(values - self.oos_mean) / self.oos_std - self.drift
        # The recursion max(0, S + step) is the running sum less its running minimum (or 0).
        running = np.cumsum(steps)
        statistics = running - np.minimum(np.minimum.accumulate(running), 0.0)
        crossed = _first(statistics > self.threshold)
        seen = values.size if crossed is None else crossed + 1
        statistic = float(statistics[seen - 1])
        return self.decide(statistic, values.size, crossed, _mean(values, seen))

    def decide(
        self, statistic: float, trades: int, crossed_at: int | None, mean_outcome: float
    ) -> DecayDecision:
        """Return the decision for a statistic; `run` and the monitor share it."""
        count = trades if crossed_at is None else crossed_at + 1
        comparison = ">" if crossed_at is not None else "<="
        reason = (
            f"CUSUM {statistic:.1f} {comparison} h={float(self.threshold)} after {count} trades:"
            f" mean outcome {mean_outcome:+.1%} vs {self.oos_mean:+.1%} out-of-sample"
        )
        return DecayDecision(
            test="cusum",
            verdict=Verdict.KEEP if crossed_at is None else Verdict.DEMOTE,
            statistic=statistic,
            trades=trades,
            crossed_at=crossed_at,
            mean_outcome=mean_outcome,
            reason=reason,
        )


@dataclass(slots=True)
class CusumMonitor:
    """A CUSUM fed one outcome at a time; equal to `Cusum.run` over the same outcomes."""

    spec: Cusum
    statistic: float = 0.0
    trades: int = 0
    crossed_at: int | None = None
    _running: float = field(default=0.0, repr=False)
    _low: float = field(default=0.0, repr=False)
    _total: float = field(default=0.0, repr=False)

    def update(self, outcome: float) -> DecayDecision:
        """Take the next trade outcome and return the decision after it."""
        if not math.isfinite(outcome):
            raise ValueError(f"expected a finite trade outcome, found {outcome}")
        index = self.trades
        self.trades += 1
        if self.crossed_at is None:
            self._total += outcome
            step = -(outcome - self.spec.oos_mean) / self.spec.oos_std - self.spec.drift
            # Same arithmetic as `Cusum.run`, so the two agree to the last bit.
            self._running += step
            self._low = min(self._low, self._running)
            self.statistic = self._running - self._low
            if self.statistic > self.spec.threshold:
                self.crossed_at = index
        return self.decision()

    def decision(self) -> DecayDecision:
        """Return the decision after the outcomes seen so far."""
        seen = self.trades if self.crossed_at is None else self.crossed_at + 1
        mean = self._total / seen if seen else 0.0
        return self.spec.decide(self.statistic, self.trades, self.crossed_at, mean)


@dataclass(frozen=True, slots=True)
class Sprt:
    """Wald's SPRT of a pattern's mean outcome, its out-of-sample mean or `h1_mean`, restarted
    each time it accepts the out-of-sample mean."""

    oos_mean: float
    oos_std: float
    h1_mean: float = 0.0
    alpha: float = 0.01  # chance that a run demotes a pattern whose mean is still oos_mean
    beta: float = 0.10  # chance that a run accepts a pattern whose mean fell to h1_mean

    def __post_init__(self) -> None:
        _check_distribution(self.oos_mean, self.oos_std)
        if not (math.isfinite(self.h1_mean) and self.h1_mean < self.oos_mean):
            raise ValueError(
                f"h1_mean must lie below oos_mean={self.oos_mean}, found {self.h1_mean}"
            )
        for name, value in (("alpha", self.alpha), ("beta", self.beta)):
            if not 0 < value < 0.5:
                raise ValueError(f"{name} must lie in (0, 0.5), found {value}")

    @property
    def demote_at(self) -> float:
        """The upper boundary, log((1 - beta) / alpha)."""
        return math.log((1 - self.beta) / self.alpha)

    @property
    def keep_at(self) -> float:
        """The lower boundary, log(beta / (1 - alpha)): H0 accepted, the test restarts."""
        return math.log(self.beta / (1 - self.alpha))

    def step(self, outcomes: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Return each outcome's log likelihood ratio of H1 to H0."""
        scale = (self.h1_mean - self.oos_mean) / (self.oos_std * self.oos_std)
        return scale * (outcomes - (self.oos_mean + self.h1_mean) / 2)

    def monitor(self) -> SprtMonitor:
        """Return a monitor that has seen no outcome yet."""
        return SprtMonitor(self)

    def run(self, outcomes: npt.ArrayLike) -> DecayDecision:
        """Return the decision after every outcome of `outcomes`, in order."""
        values = _outcomes(outcomes)
        steps = self.step(values)
        start, accepted, statistic = 0, 0, 0.0
        # One running sum per run of the test: a run ends where it accepts H0 or demotes.
        while start < values.size:
            statistics = np.cumsum(steps[start:])
            end = _first((statistics >= self.demote_at) | (statistics <= self.keep_at))
            if end is None:
                statistic = float(statistics[-1])
                break
            statistic = float(statistics[end])
            if statistic >= self.demote_at:
                crossed = start + end
                return self.decide(
                    statistic, values.size, crossed, _mean(values, crossed + 1), accepted
                )
            accepted += 1
            start += end + 1
        mean = _mean(values, values.size) if values.size else 0.0
        return self.decide(statistic, values.size, None, mean, accepted)

    def decide(
        self,
        statistic: float,
        trades: int,
        crossed_at: int | None,
        mean_outcome: float,
        accepted: int,
    ) -> DecayDecision:
        """Return the decision for a statistic; `run` and the monitor share it."""
        count = trades if crossed_at is None else crossed_at + 1
        if crossed_at is not None:
            verdict, where = Verdict.DEMOTE, f">= {self.demote_at:.2f}"
        elif statistic <= self.keep_at:
            verdict, where = Verdict.KEEP, f"<= {self.keep_at:.2f} (H0 accepted, restarting)"
        else:
            verdict, where = Verdict.KEEP, f"within ({self.keep_at:.2f}, {self.demote_at:.2f})"
        reason = (
            f"SPRT log-LR {statistic:.2f} {where} after {count} trades: mean outcome"
            f" {mean_outcome:+.1%} vs {self.oos_mean:+.1%} out-of-sample (H1 {self.h1_mean:+.1%})"
        )
        if accepted:
            reason += f"; runs that accepted H0: {accepted}"
        return DecayDecision(
            test="sprt",
            verdict=verdict,
            statistic=statistic,
            trades=trades,
            crossed_at=crossed_at,
            mean_outcome=mean_outcome,
            reason=reason,
            accepted=accepted,
        )


@dataclass(slots=True)
class SprtMonitor:
    """An SPRT fed one outcome at a time; equal to `Sprt.run` over the same outcomes."""

    spec: Sprt
    statistic: float = 0.0
    trades: int = 0
    crossed_at: int | None = None
    accepted: int = 0
    _total: float = field(default=0.0, repr=False)

    def update(self, outcome: float) -> DecayDecision:
        """Take the next trade outcome and return the decision after it."""
        if not math.isfinite(outcome):
            raise ValueError(f"expected a finite trade outcome, found {outcome}")
        index = self.trades
        self.trades += 1
        if self.crossed_at is None:
            self._total += outcome
            if self.statistic <= self.spec.keep_at:  # the last run accepted H0: a new one
                self.statistic = 0.0
            self.statistic += float(self.spec.step(np.array([outcome]))[0])
            if self.statistic >= self.spec.demote_at:
                self.crossed_at = index
            elif self.statistic <= self.spec.keep_at:
                self.accepted += 1
        return self.decision()

    def decision(self) -> DecayDecision:
        """Return the decision after the outcomes seen so far."""
        seen = self.trades if self.crossed_at is None else self.crossed_at + 1
        mean = self._total / seen if seen else 0.0
        return self.spec.decide(self.statistic, self.trades, self.crossed_at, mean, self.accepted)
