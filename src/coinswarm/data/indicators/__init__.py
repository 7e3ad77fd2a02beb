"""Technical indicators in two equal forms: vectorised for research, streaming for trading.

`vectorized` holds functions over whole float64 series (NaN while warming up); `streaming`
holds one small class per indicator whose `update` takes one bar in O(1). Tests hold the two to
the same values, so a strategy researched on arrays behaves the same when it trades bar by bar.
"""

from __future__ import annotations

from coinswarm.data.indicators.streaming import (
    ATR,
    EMA,
    MACD,
    RSI,
    SMA,
    BollingerBands,
    BollingerValue,
    MACDValue,
    RollingVolatility,
)
from coinswarm.data.indicators.vectorized import (
    BollingerSeries,
    MACDSeries,
    annualise,
    atr,
    bollinger_bands,
    ema,
    macd,
    rolling_volatility,
    rsi,
    sma,
)

__all__ = [
    "ATR",
    "EMA",
    "MACD",
    "RSI",
    "SMA",
    "BollingerBands",
    "BollingerSeries",
    "BollingerValue",
    "MACDSeries",
    "MACDValue",
    "RollingVolatility",
    "annualise",
    "atr",
    "bollinger_bands",
    "ema",
    "macd",
    "rolling_volatility",
    "rsi",
    "sma",
]
