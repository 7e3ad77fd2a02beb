"""The mean-reversion agent on hand-made markets, checked against the vectorised indicators."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from pydantic import ValidationError

from agent_harness import series_from_closes, votes_of
from coinswarm.agents.base import Direction
from coinswarm.agents.mean_reversion import MeanReversionAgent, MeanReversionConfig
from coinswarm.data.indicators import vectorized as vec
from generators import bar_series

CALM = [100.0 if i % 2 == 0 else 101.0 for i in range(40)]  # RSI near 50, bands 99.5 to 101.5
# A V-shaped dip after the calm: oversold at 90 (bar 43), back to the middle band at 100
# (bar 47), then a run up that closes above the upper band (bar 51).
DIP = [*CALM, 99.0, 97.0, 94.0, 90.0, 92.0, 95.0, 98.0, 100.0, 101.5, 103.0, 106.0, 110.0]


def directions(votes):
    return [None if vote is None else vote.direction for vote in votes]


def test_abstains_until_the_bands_are_warm():
    votes = votes_of(MeanReversionAgent(), series_from_closes(CALM))
    assert votes[:19] == [None] * 19
    assert all(vote is not None for vote in votes[19:])


def test_holds_in_a_calm_market():
    votes = votes_of(MeanReversionAgent(), series_from_closes(CALM))
    assert set(directions(votes[19:])) == {Direction.HOLD}
    assert votes[-1].reason == (
        "neither oversold nor overbought: close 101, bands 99.5/100.5/101.5, RSI 52.1"
    )
    assert (votes[-1].confidence, votes[-1].size_hint) == (0.0, 0.0)


def test_buys_the_dip_exits_at_the_middle_band_and_sells_the_overshoot():
    votes = votes_of(MeanReversionAgent(), series_from_closes(DIP))
    hold, buy, sell = Direction.HOLD, Direction.BUY, Direction.SELL
    assert directions(votes[40:48]) == [hold, hold, hold, buy, hold, hold, hold, sell]
    assert directions(votes[48:]) == [hold, hold, hold, sell]
    assert votes[43].reason.startswith("oversold: close 90, bands 93.9815/99.4/104.818, RSI 26.4")
    assert votes[43].reason.endswith("; 1.47 deviations beyond the band")
    assert votes[44].reason.endswith("; waiting for the middle band")
    assert votes[47].reason.startswith("reverted to the middle band after an oversold entry")
    assert (votes[47].confidence, votes[47].size_hint) == (0.5, 0.5)
    assert votes[51].reason.startswith("overbought: close 110")


def test_confidence_is_the_stronger_of_rsi_extremity_and_band_excess():
    config = MeanReversionConfig(full_confidence_excess=4.0)
    series = series_from_closes(DIP)
    votes = votes_of(MeanReversionAgent(config), series)
    close = np.asarray(series.close)
    rsi = vec.rsi(close, 14)
    bands = vec.bollinger_bands(close, 20, 2.0)
    deviation = (bands.upper - bands.middle) / 2.0
    buy_part = max((30 - rsi[43]) / 30, (bands.lower[43] - close[43]) / deviation[43] / 4.0)
    assert votes[43].confidence == pytest.approx(buy_part, rel=1e-9)
    assert votes[43].confidence == pytest.approx(0.3675, abs=1e-3)
    sell_part = max((rsi[51] - 70) / 30, (close[51] - bands.upper[51]) / deviation[51] / 4.0)
    assert votes[51].confidence == pytest.approx(sell_part, rel=1e-9)
    assert votes[51].size_hint == votes[51].confidence


def test_without_exit_at_middle_it_holds_the_reversion():
    votes = votes_of(
        MeanReversionAgent(MeanReversionConfig(exit_at_middle=False)), series_from_closes(DIP)
    )
    assert directions(votes[43:48]) == [Direction.BUY] + [Direction.HOLD] * 4
    assert not votes[44].reason.endswith("waiting for the middle band")


def test_sells_a_steady_rise_on_rsi_alone():
    votes = votes_of(MeanReversionAgent(), series_from_closes([100.0 + i for i in range(40)]))
    assert set(directions(votes[19:])) == {Direction.SELL}  # RSI 100, close inside the bands
    assert votes[-1].confidence == 1.0
    assert votes[-1].reason.endswith("RSI 100.0; inside the bands")


def test_does_not_buy_a_steady_fall_that_stays_inside_the_bands():
    votes = votes_of(MeanReversionAgent(), series_from_closes([200.0 - i for i in range(40)]))
    assert set(directions(votes[19:])) == {Direction.HOLD}  # RSI 0, but no close below the band


def test_an_overbought_exit_disarms_the_middle_band_exit():
    # Oversold entry, then a jump straight past the upper band, then back to the middle.
    closes = [*DIP[:44], 112.0, 100.0]
    votes = votes_of(MeanReversionAgent(), series_from_closes(closes))
    assert directions(votes[43:]) == [Direction.BUY, Direction.SELL, Direction.HOLD]


def test_flat_bands_of_zero_width_count_any_excess_as_full_confidence():
    votes = votes_of(MeanReversionAgent(), series_from_closes([100.0] * 30 + [101.0]))
    assert votes[-1].direction is Direction.SELL
    assert votes[-1].confidence == 1.0


@pytest.mark.parametrize(
    "fields",
    [
        {"oversold": 80},
        {"band_width": 0},
        {"band_period": 1},
        {"exit_confidence": 1.5},
        {"rsi_period": 0},
        {"band": 20},
    ],
)
def test_config_refuses_bad_values(fields):
    with pytest.raises(ValidationError):
        MeanReversionConfig(**fields)


SMALL = MeanReversionConfig(rsi_period=5, band_period=8)


@settings(max_examples=60, deadline=None)
@given(bar_series(min_bars=5, max_bars=150))
def test_entries_and_exits_follow_the_rules_on_any_market(series):
    votes = votes_of(MeanReversionAgent(SMALL), series)
    close = np.asarray(series.close)
    rsi = vec.rsi(close, SMALL.rsi_period)
    bands = vec.bollinger_bands(close, SMALL.band_period, SMALL.band_width)
    armed = False
    for i, vote in enumerate(votes):
        if i < SMALL.band_period - 1:
            assert vote is None
            continue
        tolerance = 1e-9 * close[i]
        if vote.direction is Direction.BUY:
            assert rsi[i] < SMALL.oversold + 1e-9
            assert close[i] < bands.lower[i] + tolerance
            armed = True
        elif vote.direction is Direction.SELL:
            overbought = rsi[i] > SMALL.overbought - 1e-9 or close[i] > bands.upper[i] - tolerance
            assert overbought or (armed and close[i] >= bands.middle[i] - tolerance)
            armed = False
