"""Parity: a paper run that reaches its exchange only through ccxt trades like the backtest.

`exchange="local-ccxt"` serves the same lockstep local exchange as `exchange="local"`, but the
engine reaches it through our CCXT adapter over ccxt's own `coinbase` class: orders, cancels,
order reads, balances and the fill listing are ccxt's requests and ccxt's parsing. With the
same fill model, the orders, the fills and the ledger must be those of the in-process backtest.

Where ccxt could not say exactly what the backtest did, the adapter makes it exact or refuses:
ccxt parses numbers as text (`number = str`), so fees of more than 15 digits arrive whole;
amounts are rounded in `Decimal` to the market's increments before ccxt sees them (a quote
amount down to the price tick, which ccxt would cut there anyway), and only amounts a float
holds exactly are sent. What remains, and is the same through our own Coinbase adapter: the
exchange writes numbers without trailing zeros, so a fee may come back as 9.990009903776
where the backtest holds 9.9900099037760 (equal as `Decimal`, different as text); and a
quote-sized buy spends its amount cut to the price tick, which changes the bought size only
if the cut part (under 1e-8 of the quote here) crossed a size increment; it does not here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

from coinswarm import bootstrap
from coinswarm.backtest.engine import BacktestConfig, run_backtest
from coinswarm.backtest.result import BacktestResult
from coinswarm.bootstrap import BacktestOutcome, BacktestRequest
from coinswarm.data import synthetic_market
from coinswarm.domain.clock import Clock
from coinswarm.domain.costs import FeeSchedule, FillModel
from coinswarm.domain.instrument import Instrument
from coinswarm.exchanges.base import Venue
from coinswarm.exchanges.local_session import (
    CCXT_CLIENT,
    COINBASE_CLIENT,
    LockstepSession,
    lockstep_session,
)
from coinswarm.strategies import build_strategy


def _orders(outcome: BacktestOutcome) -> list[tuple[str, str, str, Decimal, Decimal]]:
    return [
        (o.client_order_id, o.side.value, o.status.value, o.filled_quantity, o.fees)
        for o in outcome.result.orders
    ]


def _assert_same_trading(backtest: BacktestOutcome, paper: BacktestOutcome) -> None:
    assert paper.result.fills == backtest.result.fills  # trade id, order, side, size, price, fee
    assert _orders(paper) == _orders(backtest)
    assert paper.result.final_equity == backtest.result.final_equity
    assert paper.result.fees_paid == backtest.result.fees_paid
    assert paper.result.trades == backtest.result.trades


def test_committee_on_two_real_instruments_through_ccxt_equals_the_backtest(
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
    paper = bootstrap.run(replace(request, mode="paper", exchange=bootstrap.LOCAL_CCXT))
    assert len(backtest.result.fills) >= 10, "the window should make the committee trade"
    assert {f.instrument for f in backtest.result.fills} == {"BTC-USDT", "ETH-USDT"}
    sides = Counter(f.side.value for f in backtest.result.fills)
    assert sides["BUY"] > 0
    assert sides["SELL"] > 0
    quote_sized = [o for o in backtest.result.orders if o.request.quote_quantity is not None]
    assert any(o.request.quote_quantity % Decimal("0.00000001") for o in quote_sized), (
        "some buy should ask for more decimals than the price tick, so rounding is exercised"
    )
    _assert_same_trading(backtest, paper)


def test_quote_sized_market_buys_through_ccxt_equal_the_backtest() -> None:
    """sma-cross sizes its buys in quote currency: ccxt's `create_market_buy_order_with_cost`."""
    request = BacktestRequest(
        strategy="sma-cross",
        parameters={"fast": "5", "slow": "20"},
        synthetic_bars=800,
        fee_bps=Decimal(10),
        store="none",
    )
    backtest = bootstrap.run(request)
    paper = bootstrap.run(replace(request, exchange=bootstrap.LOCAL_CCXT))
    assert len(backtest.result.fills) >= 20
    assert any(o.request.quote_quantity is not None for o in backtest.result.orders)
    _assert_same_trading(backtest, paper)


def _run_through(client: str) -> tuple[BacktestResult, LockstepSession]:
    """Run sma-cross on synthetic bars through the lockstep exchange and `client`."""
    market = synthetic_market(instrument="SYN-USD", bars=300, seed=5)
    strategy, parameters = build_strategy("sma-cross", {"fast": "5", "slow": "20"})
    config = BacktestConfig(
        initial_cash=Decimal(10_000),
        fill_model=FillModel(fees=FeeSchedule.flat(Decimal(10))),
        parameters=parameters,
    )
    with ExitStack() as running:
        sessions: list[LockstepSession] = []

        def venue(
            instruments: Mapping[str, Instrument], clock: Clock, config: BacktestConfig
        ) -> Venue:
            session = running.enter_context(
                lockstep_session(
                    [market],
                    instruments,
                    clock=clock,
                    cash=config.initial_cash,
                    fill_model=config.fill_model,
                    client=client,
                )
            )
            sessions.append(session)
            return session.remote

        result = run_backtest([market], strategy, config, venue=venue)
        return result, sessions[0]


def test_the_ccxt_client_is_the_one_on_the_wire() -> None:
    """Each client leaves its own trace at the exchange: ccxt reads markets where ours does not.

    The same run through each client books exactly the exchange's own fills, and the two
    clients book the same ones.
    """
    traces = {}
    fills = {}
    for client in (COINBASE_CLIENT, CCXT_CLIENT):
        result, session = _run_through(client)
        traces[client] = {r.path for r in session.requests.entries}
        fills[client] = result.fills
        exchange_fills = {f.trade_id: f for f in session.exchange.fills()}
        assert [f.trade_id for f in result.fills] == sorted(
            exchange_fills, key=lambda t: (exchange_fills[t].ts, t)
        )
        for fill in result.fills:
            booked = exchange_fills[fill.trade_id]
            assert (fill.side, fill.quantity, fill.price, fill.fee) == (
                booked.side,
                booked.quantity,
                booked.price,
                booked.fee,
            )
    assert len(fills[CCXT_CLIENT]) >= 5
    assert fills[CCXT_CLIENT] == fills[COINBASE_CLIENT]
    market_products = "/api/v3/brokerage/market/products"  # ccxt's load_markets
    own_products = "/api/v3/brokerage/products"  # our adapter's instruments()
    assert market_products in traces[CCXT_CLIENT]
    assert own_products not in traces[CCXT_CLIENT]
    assert own_products in traces[COINBASE_CLIENT]
    assert market_products not in traces[COINBASE_CLIENT]
