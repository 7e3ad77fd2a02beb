"""The live loop is the backtest's steps on a market that grows as the feed delivers bars."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from coinswarm.backtest.engine import (
    BacktestConfig,
    Book,
    opening_closes,
    run_backtest,
    run_live,
    simulated_venue,
)
from coinswarm.data import synthetic_market
from coinswarm.data.view import GrowingMarket
from coinswarm.domain.bar import Bar, BarSeries
from coinswarm.domain.clock import HistoricalClock
from coinswarm.domain.fill import Fill
from coinswarm.domain.instrument import instrument_from_symbol
from coinswarm.domain.ledger import Ledger
from coinswarm.domain.order import OrderSide
from coinswarm.risk.profiles import profile_for
from coinswarm.strategies.committee import CommitteeStrategy


def _bars(market: list[BarSeries]) -> Iterator[Bar]:
    """Bars in time order, instruments in listing order within a timestamp, like the backtest."""
    rows = sorted(
        (int(s.ts[i]), position, i) for position, s in enumerate(market) for i in range(len(s))
    )
    for _, position, i in rows:
        yield market[position].bar(i)


def test_the_committee_fed_bar_by_bar_trades_exactly_like_the_backtest() -> None:
    market = [
        synthetic_market(instrument="BTC-USDT", bars=900, seed=3),
        synthetic_market(instrument="ETH-USDT", bars=900, seed=4, start_price=1500.0),
    ]
    config = BacktestConfig(risk=profile_for(0))
    backtest = run_backtest(market, CommitteeStrategy(), config)
    start = min(int(s.ts[0]) for s in market)
    live = run_live(
        _bars(market),
        CommitteeStrategy(),
        config,
        instruments=[s.instrument for s in market],
        clock=HistoricalClock(start),
        venue=simulated_venue,
    )
    assert len(backtest.fills) > 10
    assert live.fills == backtest.fills
    assert live.final_equity == backtest.final_equity
    assert [o.client_order_id for o in live.orders] == [o.client_order_id for o in backtest.orders]
    assert np.array_equal(live.curve.equity, backtest.curve.equity)


def test_history_is_readable_from_the_first_live_bar() -> None:
    series = synthetic_market(instrument="BTC-USDT", bars=300, seed=1)
    history, later = series.between(None, int(series.ts[200])), series.between(int(series.ts[200]))
    growing = GrowingMarket(["BTC-USDT"], {"BTC-USDT": history})
    assert growing.view.count("BTC-USDT") == 200
    growing.append(later.bar(0))
    closes = growing.view.history("BTC-USDT", "close")
    assert np.array_equal(closes, series.close[:201])
    assert not closes.flags.writeable


@given(st.integers(min_value=1, max_value=3000), st.integers(min_value=0, max_value=50))
def test_a_growing_market_shows_every_bar_appended_and_nothing_else(
    n: int, read_every: int
) -> None:
    series = synthetic_market(instrument="X-USD", bars=n + 1, seed=n)
    growing = GrowingMarket(["X-USD"], {})
    for i in range(n):
        growing.append(series.bar(i))
        if read_every and i % read_every == 0:  # buffers made early must grow with the market
            assert np.array_equal(growing.view.history("X-USD", "high"), series.high[: i + 1])
    assert np.array_equal(growing.view.history("X-USD", "close"), series.close[:n])
    assert np.array_equal(growing.view.timestamps("X-USD"), series.ts[:n])
    assert np.array_equal(growing.series("X-USD", series.interval_ns).volume, series.volume[:n])


def test_a_bar_that_is_not_newer_or_of_an_unknown_instrument_is_refused() -> None:
    series = synthetic_market(instrument="X-USD", bars=3, seed=2)
    growing = GrowingMarket(["X-USD"], {})
    growing.append(series.bar(1))
    with pytest.raises(ValueError, match="expected a bar after"):
        growing.append(series.bar(0))
    with pytest.raises(KeyError, match="does not trade"):
        growing.append(Bar("Y-USD", 0, 1.0, 1.0, 1.0, 1.0, 1.0))


def test_a_position_is_valued_before_its_instrument_s_first_bar() -> None:
    """A restarted session holds ETH (adopted at restart) and the first bar is BTC's: the
    warm-up's last ETH close values the position, where it once raised KeyError."""
    btc = synthetic_market(instrument="BTC-USD", bars=40, seed=5)
    eth = synthetic_market(instrument="ETH-USD", bars=40, seed=6, start_price=1500.0)
    instruments = {s: instrument_from_symbol(s) for s in ("BTC-USD", "ETH-USD")}
    ledger = Ledger(instruments, "USD")
    ledger.deposit("USD", Decimal(100_000), 0, "initial cash")
    bought = Fill(
        trade_id="T1",
        order_id="O1",
        client_order_id="C1",
        instrument="ETH-USD",
        side=OrderSide.BUY,
        quantity=Decimal(2),
        price=Decimal(1400),
        fee=Decimal(0),
        fee_currency="USD",
        ts=int(eth.ts[29]),
    )
    ledger.record(bought)
    history = [btc.between(None, int(btc.ts[30])), eth.between(None, int(eth.ts[30]))]
    result = run_live(
        iter([btc.bar(30)]),  # BTC's bar only: ETH has none in the live feed
        CommitteeStrategy(),
        BacktestConfig(risk=profile_for(2), initial_cash=Decimal(100_000)),
        instruments=["BTC-USD", "ETH-USD"],
        history=history,
        clock=HistoricalClock(int(btc.ts[30])),
        venue=simulated_venue,
        book=Book(ledger),
    )
    last_eth_close = Decimal(repr(float(eth.close[29])))
    assert result.final_equity == Decimal(100_000) - 2 * 1400 + 2 * last_eth_close


def test_a_position_without_a_bar_or_history_is_valued_at_its_latest_fill() -> None:
    """The ETH order adopted at a restart fills on BTC's bar, with no ETH bar or warm-up."""
    btc = synthetic_market(instrument="BTC-USD", bars=3, seed=5)
    instruments = {s: instrument_from_symbol(s) for s in ("BTC-USD", "ETH-USD")}
    ledger = Ledger(instruments, "USD")
    ledger.deposit("USD", Decimal(100_000), 0, "initial cash")
    for n, price in enumerate(("1400", "1450")):
        ledger.record(
            Fill(
                trade_id=f"T{n}",
                order_id=f"O{n}",
                client_order_id=f"C{n}",
                instrument="ETH-USD",
                side=OrderSide.BUY,
                quantity=Decimal(1),
                price=Decimal(price),
                fee=Decimal(0),
                fee_currency="USD",
                ts=n,
            )
        )
    result = run_live(
        iter([btc.bar(0)]),
        CommitteeStrategy(),
        BacktestConfig(risk=profile_for(2), initial_cash=Decimal(100_000)),
        instruments=["BTC-USD", "ETH-USD"],
        clock=HistoricalClock(int(btc.ts[0])),
        venue=simulated_venue,
        book=Book(ledger),
    )
    assert result.final_equity == Decimal(100_000) - 1400 - 1450 + 2 * 1450
    assert opening_closes([btc]) == {"BTC-USD": float(btc.close[-1])}
