"""Hypothesis strategies shared by every test: instruments, fills, bars and markets."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
from hypothesis import strategies as st

from coinswarm.domain.bar import NS_PER_HOUR, Bar, BarSeries
from coinswarm.domain.fill import Fill, Liquidity
from coinswarm.domain.instrument import Instrument
from coinswarm.domain.order import OrderSide

BTC = Instrument(
    symbol="BTC-USDT",
    base="BTC",
    quote="USDT",
    price_increment=Decimal("0.01"),
    size_increment=Decimal("0.00001"),
    min_size=Decimal("0.00001"),
    min_notional=Decimal(5),
)
ETH = Instrument(
    symbol="ETH-USDT",
    base="ETH",
    quote="USDT",
    price_increment=Decimal("0.01"),
    size_increment=Decimal("0.0001"),
    min_size=Decimal("0.0001"),
    min_notional=Decimal(5),
)
INSTRUMENTS = {BTC.symbol: BTC, ETH.symbol: ETH}
START_NS = 1_577_836_800 * 1_000_000_000  # 2020-01-01T00:00:00Z


def decimals(low: str, high: str, places: int) -> st.SearchStrategy[Decimal]:
    return st.decimals(
        Decimal(low), Decimal(high), places=places, allow_nan=False, allow_infinity=False
    )


FEE_IN_QUOTE = "quote"
FEE_IN_BASE = "base"
THIRD_FEE_CURRENCY = "BNB"


@st.composite
def fill_sequences(
    draw: st.DrawFn, max_size: int = 30, fee_in: tuple[str, ...] = (FEE_IN_QUOTE,)
) -> list[Fill]:
    """Draw fills on BTC and ETH in time order, buys and sells, longs and shorts.

    `fee_in` lists where fees may be charged: FEE_IN_QUOTE, FEE_IN_BASE (the exchange keeps
    part of the coin), or a third currency's code such as THIRD_FEE_CURRENCY.
    """
    count = draw(st.integers(0, max_size))
    fills = []
    for n in range(count):
        instrument = draw(st.sampled_from([BTC, ETH]))
        price = draw(decimals("1", "100000", 2))
        quantity = draw(decimals("0.0001", "5", 4))
        rate = Decimal(draw(st.sampled_from([0, 10, 60]))) / 10_000
        where = draw(st.sampled_from(fee_in)) if len(fee_in) > 1 else fee_in[0]
        fee, fee_currency = quantity * price * rate, instrument.quote
        if where == FEE_IN_BASE:
            fee, fee_currency = quantity * rate, instrument.base
        elif where != FEE_IN_QUOTE:
            fee, fee_currency = quantity * rate * 7, where  # a made-up price of the third coin
        fills.append(
            Fill(
                trade_id=f"T{n}",
                order_id=f"O{n}",
                client_order_id=f"C{n}",
                instrument=instrument.symbol,
                side=draw(st.sampled_from(list(OrderSide))),
                quantity=quantity,
                price=price,
                fee=fee,
                fee_currency=fee_currency,
                ts=START_NS + n * NS_PER_HOUR,
                liquidity=draw(st.sampled_from(list(Liquidity))),
            )
        )
    return fills


@st.composite
def bar_series(
    draw: st.DrawFn, instrument: str = "BTC-USDT", min_bars: int = 2, max_bars: int = 200
) -> BarSeries:
    """Draw a valid hourly series: a random walk with consistent OHLC and positive volume."""
    n = draw(st.integers(min_bars, max_bars))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    start = draw(st.sampled_from([100.0, 5_000.0, 40_000.0]))
    returns = rng.normal(0, draw(st.sampled_from([0.002, 0.01, 0.05])), n)
    close = np.round(start * np.exp(np.cumsum(returns)), 2)
    close = np.maximum(close, 0.01)
    open_ = np.round(np.concatenate([[start], close[:-1]]), 2)
    spread = np.abs(rng.normal(0, 0.01, n)) * close
    high = np.round(np.maximum(open_, close) + spread, 2)
    low = np.maximum(np.round(np.minimum(open_, close) - spread, 2), 0.01)
    volume = np.round(rng.uniform(0.5, 50, n), 4)
    ts = START_NS + np.arange(n, dtype=np.int64) * NS_PER_HOUR
    return BarSeries(instrument, NS_PER_HOUR, ts, open_, high, low, close, volume)


def coin(base: str) -> Instrument:
    """Return a USDT instrument with the same increments and minimums as ETH above."""
    return Instrument(
        symbol=f"{base}-USDT",
        base=base,
        quote="USDT",
        price_increment=Decimal("0.01"),
        size_increment=Decimal("0.0001"),
        min_size=Decimal("0.0001"),
        min_notional=Decimal(5),
    )


COINS = tuple(coin(base) for base in ("AAA", "BBB", "CCC", "DDD", "EEE", "FFF"))


@st.composite
def markets(
    draw: st.DrawFn, min_instruments: int = 2, max_instruments: int = 6, max_bars: int = 80
) -> tuple[dict[str, Instrument], list[BarSeries]]:
    """Draw several instruments trading over the same hours, each its own random walk."""
    count = draw(st.integers(min_instruments, max_instruments))
    bars = draw(st.integers(10, max_bars))
    chosen = COINS[:count]
    series = [draw(bar_series(instrument=c.symbol, min_bars=bars, max_bars=bars)) for c in chosen]
    return {c.symbol: c for c in chosen}, series


@st.composite
def bars(draw: st.DrawFn, instrument: str = "BTC-USDT") -> Bar:
    """Draw one valid hourly bar of two-decimal prices: calm or wild, thin or deep."""
    cents = draw(st.integers(100, 10_000_000))
    below = draw(st.integers(0, cents - 1))
    above = draw(st.integers(0, cents))
    low, high = cents - below, cents + above
    close = draw(st.integers(low, high))
    volume = draw(decimals("0", "100000", 4))
    return Bar(
        instrument,
        START_NS + draw(st.integers(1, 1000)) * NS_PER_HOUR,
        cents / 100,
        high / 100,
        low / 100,
        close / 100,
        float(volume),
    )
