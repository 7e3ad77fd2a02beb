"""The vectorised `sma-cross` agrees with the plain-Python reference, trade for trade."""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coinswarm.backtest.vectorized import SweepSlippage, sma_cross_sweep, sma_cross_trades
from coinswarm.domain.bar import NS_PER_HOUR, BarSeries
from coinswarm.domain.errors import DataError, NonFiniteValueError
from coinswarm.domain.slippage import SlippageModel
from reference_sma_cross import ReferenceResult, reference_sma_cross

FEES = st.sampled_from([0.0, 0.0005, 0.001, 0.0025])


@st.composite
def random_walks(draw):
    """Draw (open, close) from a multiplicative random walk with gaps between close and open."""
    n = draw(st.integers(min_value=1, max_value=240))
    price = draw(st.floats(min_value=0.5, max_value=1e5))
    step = st.floats(min_value=-0.04, max_value=0.04, allow_nan=False)
    opens, closes = [], []
    for _ in range(n):
        opens.append(price * (1 + draw(step) / 4))
        price *= 1 + draw(step)
        closes.append(price)
    return opens, closes


@st.composite
def tied_paths(draw):
    """Draw prices from a few cent-ticks, so that averages often tie or nearly tie."""
    ticks = st.sampled_from([99.97, 99.98, 99.99, 100.0, 100.01, 100.02, 100.03])
    n = draw(st.integers(min_value=1, max_value=160))
    closes = draw(st.lists(ticks, min_size=n, max_size=n))
    opens = draw(st.lists(ticks, min_size=n, max_size=n))
    return opens, closes


@st.composite
def windows(draw):
    slow = draw(st.integers(min_value=2, max_value=40))
    fast = draw(st.integers(min_value=1, max_value=slow - 1))
    return fast, slow


def assert_same_run(vectorised, reference: ReferenceResult) -> None:
    closed = reference.closed
    entries = [trade.entry_index for trade in reference.trades]
    assert vectorised.entry_index.tolist() == entries
    assert vectorised.exit_index.tolist() == [trade.exit_index for trade in closed]
    assert vectorised.entry_price.tolist() == [trade.entry_price for trade in reference.trades]
    assert vectorised.exit_price.tolist() == [trade.exit_price for trade in closed]
    assert vectorised.round_trips == reference.round_trips
    assert vectorised.is_open_at_end == (reference.open_trade is not None)
    assert math.isclose(vectorised.final_equity, reference.final_equity, rel_tol=1e-9)


@settings(max_examples=300, deadline=None)
@given(path=random_walks(), combo=windows(), fee=FEES)
def test_random_walks_trade_like_the_reference(path, combo, fee):
    opens, closes = path
    fast, slow = combo
    result = sma_cross_trades(opens, closes, fast, slow, fee)
    assert_same_run(result, reference_sma_cross(opens, closes, fast, slow, fee))


@settings(max_examples=300, deadline=None)
@given(path=tied_paths(), combo=windows(), fee=FEES)
def test_tied_averages_are_decided_like_the_reference(path, combo, fee):
    opens, closes = path
    fast, slow = combo
    result = sma_cross_trades(opens, closes, fast, slow, fee)
    assert_same_run(result, reference_sma_cross(opens, closes, fast, slow, fee))


@settings(max_examples=50, deadline=None)
@given(path=random_walks(), fee=FEES)
def test_every_sweep_row_equals_a_single_run(path, fee):
    opens, closes = path
    sweep = sma_cross_sweep(opens, closes, [1, 3, 5], [2, 4, 8, 13], fee_rate=fee, initial_cash=500)
    assert len(sweep) == 9  # fast < slow only
    for row in range(len(sweep)):
        fast, slow = int(sweep.fast[row]), int(sweep.slow[row])
        single = sma_cross_trades(opens, closes, fast, slow, fee, initial_cash=500)
        assert sweep.final_equity[row] == single.final_equity
        assert sweep.round_trips[row] == single.round_trips


# fast=1, slow=2: the gap between the averages is half the last price change, so its sign is
# the direction of close: -, +, 0, +, -, 0, -, + on bars 1..8.
DIRECTION_CLOSES = [5.0, 4.0, 5.0, 5.0, 6.0, 5.0, 5.0, 4.0, 6.0]
DIRECTION_OPENS = [5.0, 5.0, 4.0, 4.5, 5.5, 6.5, 5.5, 5.0, 4.5]


def test_ties_neither_cross_nor_repeat_a_position():
    # Bar 2 crosses above -> buy at open[3]. Bar 4 crosses above again after a tie while long:
    # ignored. Bar 5 crosses below -> sell at open[6]. Bar 7 crosses below after a tie while
    # flat: ignored. Bar 8 crosses above on the last bar: no next open, no fill.
    result = sma_cross_trades(DIRECTION_OPENS, DIRECTION_CLOSES, 1, 2, 0.0)
    assert result.entry_index.tolist() == [3]
    assert result.exit_index.tolist() == [6]
    assert result.final_equity == pytest.approx(10_000 * 5.5 / 4.5, rel=1e-12)


def test_a_known_series_gives_its_known_answer():
    closes = [10, 10, 10, 10, 13, 16, 16, 10, 4, 4, 4]
    opens = [10, 10, 10, 10, 10, 12.5, 16, 16, 8, 4, 4]
    # fast(2) - slow(3) from bar 2: 0, 0, +0.5, +1.5, +1, -1, -3, -2, 0. Cross above on the
    # close of bar 4 (buy at open[5] = 12.5), cross below on bar 7 (sell at open[8] = 8).
    result = sma_cross_trades(opens, closes, 2, 3, 0.001)
    assert result.entry_index.tolist() == [5]
    assert result.exit_index.tolist() == [8]
    assert result.final_equity == pytest.approx(10_000 * 8 * 0.999 / (12.5 * 1.001), rel=1e-12)


def test_an_open_position_is_valued_at_the_last_close_without_exit_fee():
    closes = [10, 10, 10, 12, 14, 16, 18]
    opens = [10, 10, 10, 10, 13, 15, 17]
    # fast(2) - slow(3): 0 on bar 2, then positive: a cross above on bar 3, buy at open[4].
    result = sma_cross_trades(opens, closes, 2, 3, 0.001)
    assert result.is_open_at_end
    assert result.round_trips == 0
    assert result.final_equity == pytest.approx(10_000 / (13 * 1.001) * 18, rel=1e-12)


def test_too_few_bars_never_trade():
    result = sma_cross_trades([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], 2, 3, 0.001)
    assert result.round_trips == 0
    assert not result.is_open_at_end
    assert result.final_equity == 10_000


def test_the_sweep_skips_combinations_where_fast_is_not_below_slow():
    sweep = sma_cross_sweep(
        DIRECTION_OPENS,
        DIRECTION_CLOSES,
        iter([1, 2, 3]),
        (w for w in [2, 3]),
        fee_rate=0.0,
    )
    assert list(zip(sweep.fast.tolist(), sweep.slow.tolist(), strict=True)) == [
        (1, 2),
        (1, 3),
        (2, 3),
    ]
    assert sweep.row(1, 2) == 0
    with pytest.raises(KeyError, match="fast=3, slow=2"):
        sweep.row(3, 2)


def test_bad_inputs_say_what_was_expected():
    with pytest.raises(NonFiniteValueError, match="finite close"):
        sma_cross_trades([1.0, 2.0], [1.0, np.nan], 1, 2, 0.0)
    with pytest.raises(DataError, match="positive open"):
        sma_cross_trades([0.0, 2.0], [1.0, 2.0], 1, 2, 0.0)
    with pytest.raises(DataError, match="one length"):
        sma_cross_trades([1.0], [1.0, 2.0], 1, 2, 0.0)
    with pytest.raises(ValueError, match="fast < slow"):
        sma_cross_trades([1.0, 2.0], [1.0, 2.0], 2, 2, 0.0)
    with pytest.raises(ValueError, match="fee rate"):
        sma_cross_trades([1.0, 2.0], [1.0, 2.0], 1, 2, 1.5)


def _series(opens, closes, volume=50.0):
    n = len(opens)
    high = np.maximum(opens, closes) * 1.01
    low = np.minimum(opens, closes) * 0.99
    ts = np.arange(n, dtype=np.int64) * NS_PER_HOUR
    return BarSeries("X-USDT", NS_PER_HOUR, ts, np.array(opens), high, low, np.array(closes),
                     np.full(n, volume))  # fmt: skip


@settings(max_examples=50, deadline=None)
@given(path=random_walks(), fee=FEES)
def test_with_the_slippage_model_every_fill_is_worse_and_the_sweep_agrees(path, fee):
    opens, closes = path
    slippage = SweepSlippage.of(_series(opens, closes))
    sweep = sma_cross_sweep(opens, closes, [1, 3], [2, 5], fee_rate=fee, slippage=slippage)
    for row in range(len(sweep)):
        fast, slow = int(sweep.fast[row]), int(sweep.slow[row])
        slipped = sma_cross_trades(opens, closes, fast, slow, fee, slippage=slippage)
        plain = sma_cross_trades(opens, closes, fast, slow, fee)
        assert sweep.final_equity[row] == slipped.final_equity
        assert slipped.entry_index.tolist() == plain.entry_index.tolist()
        # At least the 10 bps floor on every fill, always against us.
        assert (slipped.entry_price >= plain.entry_price * 1.001 * (1 - 1e-12)).all()
        assert (slipped.exit_price <= plain.exit_price * 0.999 * (1 + 1e-12)).all()
        if len(plain.entry_index):
            assert slipped.final_equity < plain.final_equity


def test_a_model_of_no_slippage_gives_the_plain_answer():
    closes = DIRECTION_CLOSES
    none = SlippageModel(floor_bps=Decimal(0), range_share=Decimal(0), impact_bps=Decimal(0))
    slippage = SweepSlippage.of(_series(DIRECTION_OPENS, closes), none)
    slipped = sma_cross_trades(DIRECTION_OPENS, closes, 1, 2, 0.001, slippage=slippage)
    plain = sma_cross_trades(DIRECTION_OPENS, closes, 1, 2, 0.001)
    assert slipped.final_equity == pytest.approx(plain.final_equity, rel=1e-12)
    assert slipped.entry_price.tolist() == plain.entry_price.tolist()


def test_slippage_over_other_bars_is_refused():
    slippage = SweepSlippage.of(_series([1.0, 2.0], [1.0, 2.0]))
    with pytest.raises(DataError, match="slippage over the 3 bars"):
        sma_cross_trades([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], 1, 2, 0.0, slippage=slippage)
