"""Streaming indicators equal the vectorised ones over years of real BTC/USDT hourly bars.

The file is read with the standard library on purpose: this test checks the indicator maths
only, independently of the project's loader.
"""

from __future__ import annotations

import csv
import gzip
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pytest

from coinswarm.data import indicators as ind

RTOL = 1e-9
ATOL_PER_SCALE = 1e-12


class Columns(NamedTuple):
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray


@pytest.fixture(scope="module")
def btc(btc_file: Path) -> Columns:
    with gzip.open(btc_file, "rt", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        assert header == ["timestamp", "open", "high", "low", "close", "volume"]
        rows = [(float(row[2]), float(row[3]), float(row[4])) for row in reader]
    high, low, close = (np.array(column, dtype=np.float64) for column in zip(*rows, strict=True))
    assert len(close) > 50_000
    return Columns(high, low, close)


def stream(indicator: Any, *columns: np.ndarray) -> np.ndarray:
    update = indicator.update
    rows = zip(*(column.tolist() for column in columns), strict=True)
    return np.array([update(*row) for row in rows], dtype=np.float64)


def assert_agree(actual: np.ndarray, expected: np.ndarray, scale: float) -> None:
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected))
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=ATOL_PER_SCALE * scale)


@pytest.mark.parametrize("period", [5, 20, 50, 200])
def test_moving_averages_agree(btc: Columns, period: int):
    scale = float(btc.close.max())
    assert_agree(stream(ind.SMA(period), btc.close), ind.sma(btc.close, period), scale)
    assert_agree(stream(ind.EMA(period), btc.close), ind.ema(btc.close, period), scale)


def test_sma_crossover_signals_agree(btc: Columns):
    """The live and research paths see the same fast-over-slow regime on every bar."""
    live = stream(ind.SMA(10), btc.close) - stream(ind.SMA(50), btc.close)
    research = ind.sma(btc.close, 10) - ind.sma(btc.close, 50)
    decided = np.abs(research) > 1e-9 * btc.close
    assert decided[49:].mean() > 0.99
    np.testing.assert_array_equal(np.sign(live[decided]), np.sign(research[decided]))


def test_rsi_agrees(btc: Columns):
    live = stream(ind.RSI(14), btc.close)
    np.testing.assert_array_equal(np.isnan(live), np.isnan(ind.rsi(btc.close, 14)))
    np.testing.assert_allclose(live, ind.rsi(btc.close, 14), rtol=RTOL, atol=1e-9)


def test_bollinger_bands_agree(btc: Columns):
    live = ind.BollingerBands(20, 2.0)
    rows = np.array([tuple(live.update(price)) for price in btc.close.tolist()])
    research = ind.bollinger_bands(btc.close, 20, 2.0)
    scale = float(btc.close.max())
    for column, expected in enumerate(research):
        assert_agree(rows[:, column], expected, scale)
    assert_agree(rows[:, 1] - rows[:, 0], research.upper - research.middle, scale)


def test_atr_agrees(btc: Columns):
    live = stream(ind.ATR(14), btc.high, btc.low, btc.close)
    research = ind.atr(btc.high, btc.low, btc.close, 14)
    assert_agree(live, research, float(btc.high.max()))


def test_macd_agrees(btc: Columns):
    live = ind.MACD()
    rows = np.array([tuple(live.update(price)) for price in btc.close.tolist()])
    for column, expected in enumerate(ind.macd(btc.close)):
        assert_agree(rows[:, column], expected, float(btc.close.max()))


def test_rolling_volatility_agrees(btc: Columns):
    live = stream(ind.RollingVolatility(20), btc.close)
    research = ind.rolling_volatility(btc.close, 20)
    returns = np.log(btc.close[1:] / btc.close[:-1])
    assert_agree(live, research, float(np.abs(returns).max()))
    hourly = np.nanmedian(research)
    assert 1e-3 < hourly < 3e-2, f"a median hourly BTC volatility of {hourly} is implausible"
