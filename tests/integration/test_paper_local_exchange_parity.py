"""Parity: the committee through a local Coinbase-compatible exchange trades like the backtest.

`exchange="local"` sends every order over HTTPS with a fresh JWT to the local exchange, which
replays the same bars in lockstep and lists fills back by `trade_id`. With the same fill model,
the orders, the fills and the ledger must be those of the in-process backtest.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path

from coinswarm import bootstrap
from coinswarm.bootstrap import BacktestOutcome, BacktestRequest


def _orders(outcome: BacktestOutcome) -> list[tuple[str, str, Decimal, Decimal]]:
    return [
        (o.client_order_id, o.status.value, o.filled_quantity, o.fees)
        for o in outcome.result.orders
    ]


def _assert_same_trading(backtest: BacktestOutcome, paper: BacktestOutcome) -> None:
    assert paper.result.fills == backtest.result.fills
    assert _orders(paper) == _orders(backtest)
    assert paper.result.final_equity == backtest.result.final_equity
    assert paper.result.fees_paid == backtest.result.fees_paid
    assert paper.result.trades == backtest.result.trades


def test_committee_on_two_real_instruments_through_the_local_exchange_equals_the_backtest(
    shared_data: Path,
) -> None:
    request = BacktestRequest(
        data=(shared_data / "BTC_USDT-1h.csv.gz", shared_data / "ETH_USDT-1h.csv.gz"),
        start_ns=1_615_000_000 * 10**9,  # 2021-03-06: a volatile stretch, so the committee trades
        end_ns=1_615_000_000 * 10**9 + 45 * 86_400 * 10**9,
        strategy="committee",
        cash=Decimal(100_000),
        phase="1",
        store="none",
    )
    backtest = bootstrap.run(request)
    paper = bootstrap.run(replace(request, mode="paper", exchange="local"))
    assert len(backtest.result.fills) >= 10, "the window should make the committee trade"
    assert {f.instrument for f in backtest.result.fills} == {"BTC-USDT", "ETH-USDT"}
    _assert_same_trading(backtest, paper)


def test_quote_sized_market_orders_through_the_local_exchange_equal_the_backtest() -> None:
    """sma-cross sizes its buys in quote currency: a quote-sized market order over the wire."""
    request = BacktestRequest(
        strategy="sma-cross",
        parameters={"fast": "5", "slow": "20"},
        synthetic_bars=800,
        fee_bps=Decimal(10),
        store="none",
    )
    backtest = bootstrap.run(request)
    paper = bootstrap.run(replace(request, exchange="local"))
    assert len(backtest.result.fills) >= 20
    _assert_same_trading(backtest, paper)
