"""Sharpe ratios that account for how they were found: PSR and the Deflated Sharpe Ratio.

A pattern found by searching many candidates has a Sharpe ratio inflated by the search itself:
the best of N noise strategies has a positive Sharpe ratio. Bailey & Lopez de Prado, "The
Deflated Sharpe Ratio: Correcting for Selection Bias, Backtest Overfitting and Non-Normality"
(Journal of Portfolio Management 40(5), 2014), correct for it in two steps:

* the Probabilistic Sharpe Ratio, PSR(SR*) = Phi((SR - SR*) sqrt(n - 1) /
  sqrt(1 - skew SR + (kurtosis - 1) / 4 SR^2)): the probability that the true Sharpe ratio
  exceeds SR*, given n observations and the returns' skewness and (non-excess) kurtosis;
* the False Strategy theorem: the expected maximum Sharpe ratio of N trials with true Sharpe
  ratio 0 is SR0 = sqrt(V) ((1 - g) Phi^-1(1 - 1/N) + g Phi^-1(1 - 1/(N e))), V the variance of
  the trials' Sharpe ratios and g the Euler-Mascheroni constant; DSR = PSR(SR0).

Every Sharpe ratio here is per period (per bar, per trade: whatever one return is), not
annualised: the paper's formulas hold only in the returns' own period. `annualised_sharpe_ratio`
is for display. Skewness and kurtosis are the population (biased) standardised moments the
paper uses, kurtosis not in excess (3 for a normal).

A series whose sum of squared deviations is at most `CONSTANT_VARIANCE_SHARE` of its sum of
squares counts as constant and has Sharpe ratio 0: the share is far above float64 rounding of
a constant series and far below any real series (it would need a per-period Sharpe ratio near
1e5), so the rule decides alike however the variance is summed (`pbo` computes it from sums).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

__all__ = [
    "CONSTANT_VARIANCE_SHARE",
    "EULER_MASCHERONI",
    "DeflatedSharpe",
    "FloatArray",
    "annualised_sharpe_ratio",
    "deflated_sharpe_ratio",
    "expected_max_sharpe",
    "kurtosis",
    "probabilistic_sharpe_ratio",
    "sharpe_ratio",
    "sharpe_ratios",
    "skewness",
]

FloatArray = npt.NDArray[np.float64]

EULER_MASCHERONI = 0.5772156649015329
CONSTANT_VARIANCE_SHARE = 1e-10

_STANDARD_NORMAL = NormalDist()
# Pearson's inequality (kurtosis >= 1 + skew^2) holds exactly for sample moments; this slack
# only absorbs rounding on two-valued series, where it holds with equality.
_PEARSON_SLACK = 1e-9


@dataclass(frozen=True, slots=True)
class DeflatedSharpe:
    """The Deflated Sharpe Ratio of one return series, with what it was computed from."""

    dsr: float  # probability that the true per-period Sharpe ratio exceeds sr0
    sr0: float  # the benchmark: expected maximum per-period Sharpe ratio of the trials
    sr: float  # the series' per-period Sharpe ratio
    n: int  # observations (returns) in the series
    skew: float
    kurtosis: float  # non-excess: 3 for a normal


def _series(returns: npt.ArrayLike) -> FloatArray:
    values = np.asarray(returns, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"expected a 1-D series of returns, found shape {values.shape}")
    if values.size == 0:
        raise ValueError("expected at least one return, found none")
    if not np.isfinite(values).all():
        raise ValueError("expected finite returns, found NaN or infinity")
    return values


def sharpe_ratios(returns: FloatArray) -> FloatArray:
    """Return each column's per-period Sharpe ratio, mean / std (ddof=1), of a T x N matrix.

    Fewer than two rows, or a constant column (see the module's note), give 0.
    """
    rows = returns.shape[0]
    if rows < 2:
        return np.zeros(returns.shape[1], dtype=np.float64)
    mean = returns.mean(axis=0)
    deviations = returns - mean
    squared_deviations = np.einsum("ij,ij->j", deviations, deviations)
    squares = np.einsum("ij,ij->j", returns, returns)
    constant = squared_deviations <= CONSTANT_VARIANCE_SHARE * squares
    std = np.sqrt(np.where(constant, 1.0, squared_deviations / (rows - 1)))
    return np.where(constant, 0.0, mean / std)


def sharpe_ratio(returns: npt.ArrayLike) -> float:
    """Return the per-period Sharpe ratio of `returns`: mean / std (ddof=1), 0 if constant."""
    values = _series(returns)
    return float(sharpe_ratios(values[:, np.newaxis])[0])


def annualised_sharpe_ratio(returns: npt.ArrayLike, periods_per_year: float) -> float:
    """Return the per-period Sharpe ratio scaled by sqrt(periods_per_year) (8760 for 1h bars)."""
    if not periods_per_year > 0:
        raise ValueError(f"periods_per_year must be positive, found {periods_per_year}")
    return sharpe_ratio(returns) * math.sqrt(periods_per_year)


def _standardised_moment(values: FloatArray, order: int, constant_value: float) -> float:
    centred = values - values.mean()
    variance = float(np.mean(centred * centred))
    if variance <= CONSTANT_VARIANCE_SHARE * float(np.mean(values * values)):
        return constant_value
    return float(np.mean(centred**order)) / math.sqrt(variance) ** order


def skewness(returns: npt.ArrayLike) -> float:
    """Return the population skewness E[(x - mu)^3] / sigma^3; 0 for a constant series."""
    return _standardised_moment(_series(returns), 3, 0.0)


def kurtosis(returns: npt.ArrayLike) -> float:
    """Return the population kurtosis E[(x - mu)^4] / sigma^4, not in excess (3 for a normal).

    A constant series has no defined kurtosis; it gets a normal's 3.
    """
    return _standardised_moment(_series(returns), 4, 3.0)


def probabilistic_sharpe_ratio(
    sr: float, n: int, skew: float, kurtosis: float, benchmark_sr: float = 0.0
) -> float:
    """Return PSR: the probability that the true Sharpe ratio exceeds `benchmark_sr`.

    Bailey & Lopez de Prado (2014), eq. 2 of "The Deflated Sharpe Ratio" (first in "The Sharpe
    Ratio Efficient Frontier", 2012). `sr` and `benchmark_sr` are per period, estimated from
    `n` returns with skewness `skew` and non-excess `kurtosis` (3 for a normal).
    """
    if n < 2:
        raise ValueError(f"PSR needs at least 2 observations, found n={n}")
    if not all(math.isfinite(x) for x in (sr, skew, kurtosis, benchmark_sr)):
        raise ValueError("PSR needs finite sr, skew, kurtosis and benchmark_sr")
    if kurtosis < (1 + skew * skew) * (1 - _PEARSON_SLACK):
        raise ValueError(
            f"kurtosis must be the non-excess fourth moment (3 for a normal), at least"
            f" 1 + skew^2 = {1 + skew * skew:.6g}; found {kurtosis:.6g}"
        )
    variance_term = 1.0 - skew * sr + (kurtosis - 1.0) / 4.0 * sr * sr
    if variance_term <= 0.0:
        # Only a two-valued series at one particular Sharpe ratio gets here: the estimate has
        # no spread, so the answer is certain.
        return 1.0 if sr > benchmark_sr else 0.0 if sr < benchmark_sr else 0.5
    z = (sr - benchmark_sr) * math.sqrt(n - 1) / math.sqrt(variance_term)
    return _STANDARD_NORMAL.cdf(z)


def expected_max_sharpe(n_trials: int, trial_sharpe_variance: float) -> float:
    """Return SR0, the expected maximum Sharpe ratio of `n_trials` trials whose true one is 0.

    The False Strategy theorem (Bailey & Lopez de Prado 2014, eq. 4 of "The Deflated Sharpe
    Ratio"): sqrt(V) ((1 - g) Phi^-1(1 - 1/N) + g Phi^-1(1 - 1/(N e))), with V =
    `trial_sharpe_variance`, the variance across trials of their per-period Sharpe ratios, and
    g the Euler-Mascheroni constant. One trial has nothing to select from: SR0 = 0.
    """
    if n_trials < 1:
        raise ValueError(f"n_trials must be at least 1, found {n_trials}")
    if not (math.isfinite(trial_sharpe_variance) and trial_sharpe_variance >= 0):
        raise ValueError(
            f"trial_sharpe_variance must be finite and >= 0, found {trial_sharpe_variance}"
        )
    if n_trials == 1:
        return 0.0
    inverse = _STANDARD_NORMAL.inv_cdf
    quantiles = (1 - EULER_MASCHERONI) * inverse(1 - 1 / n_trials) + EULER_MASCHERONI * inverse(
        1 - 1 / (n_trials * math.e)
    )
    return math.sqrt(trial_sharpe_variance) * quantiles


def deflated_sharpe_ratio(
    returns: npt.ArrayLike, n_trials: int, trial_sharpe_variance: float
) -> DeflatedSharpe:
    """Return the Deflated Sharpe Ratio of `returns`, the best of `n_trials` trials.

    Bailey & Lopez de Prado (2014), eq. 5: DSR = PSR(SR0) with SR0 from `expected_max_sharpe`.
    `trial_sharpe_variance` is the variance of the trials' per-period Sharpe ratios, in the same
    period as `returns`. With one trial this is PSR against 0.
    """
    values = _series(returns)
    if values.size < 2:
        raise ValueError(f"DSR needs at least 2 returns, found {values.size}")
    sr = sharpe_ratio(values)
    skew = _standardised_moment(values, 3, 0.0)
    kurt = _standardised_moment(values, 4, 3.0)
    sr0 = expected_max_sharpe(n_trials, trial_sharpe_variance)
    dsr = probabilistic_sharpe_ratio(sr, values.size, skew, kurt, benchmark_sr=sr0)
    return DeflatedSharpe(dsr=dsr, sr0=sr0, sr=sr, n=int(values.size), skew=skew, kurtosis=kurt)
