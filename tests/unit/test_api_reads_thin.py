"""Thinning an equity curve for a chart keeps what a person looks for: the ends, the peak, the
deepest drawdown, and never more points than asked for."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from coinswarm.api.reads.account import Curve, thin


def _curve(values: list[float]) -> Curve:
    equity = np.array(values, dtype=np.float64)
    peak = np.maximum.accumulate(equity)
    return Curve(
        ts=np.arange(len(values), dtype=np.int64),
        equity=equity,
        drawdown=equity / peak - 1.0,
        marked="fill",
        initial_cash=Decimal(1),
        currency="USD",
    )


@given(
    values=st.lists(st.floats(1.0, 1e6, allow_nan=False), min_size=1, max_size=3000),
    most=st.integers(2, 2000),
)
def test_thinning_keeps_the_ends_the_peak_and_the_trough(values, most):
    curve = _curve(values)
    kept = thin(curve, most)
    assert len(kept) <= most
    assert kept == sorted(set(kept))
    assert kept[0] == 0
    assert kept[-1] == len(values) - 1
    if len(values) <= most:
        assert kept == list(range(len(values)))
    elif most >= 4:
        assert curve.equity[kept].max() == curve.equity.max()
        assert curve.drawdown[kept].min() == curve.drawdown.min()


def test_a_limit_says_what_it_is_measured_from_without_printing_none():
    from decimal import Decimal  # noqa: PLC0415

    from coinswarm.api.reads.risk import _Figures, _measured  # noqa: PLC0415

    known = _Figures(None, Decimal("98307.64082462"), Decimal(100000), None, "the curve")
    unknown = _Figures(None, None, None, None, "no equity yet")
    peak = _measured("the peak equity", known.peak, known)
    assert peak == "the peak equity 100,000.00 (the curve)"
    assert _measured("the peak equity", unknown.peak, unknown) == "the peak equity (no equity yet)"
    assert "None" not in _measured("the UTC day's opening equity", None, unknown)
