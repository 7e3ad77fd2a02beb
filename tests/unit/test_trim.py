"""The trim rule: a position above its limit is sold back to nine tenths of it, no lower."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from coinswarm.domain.order import OrderRequest, OrderSide, OrderType
from coinswarm.risk.account import AccountSnapshot
from coinswarm.risk.trim import TRIM_BAND, TRIM_TARGET, trim_for
from generators import BTC, decimals

D = Decimal
LIMIT = D("0.25")
SYMBOL = BTC.symbol


def account(held: Decimal, mark: Decimal, equity: Decimal, *pending: OrderRequest):
    return AccountSnapshot(
        ts=0,
        equity=equity,
        cash=equity - held * mark,
        positions={SYMBOL: held},
        marks={SYMBOL: mark},
        day_start_equity=equity,
        peak_equity=equity,
        initial_equity=equity,
        pending=pending,
    )


def sell(quantity: str, **changes) -> OrderRequest:
    return OrderRequest(
        client_order_id=f"s{quantity}",
        instrument=SYMBOL,
        side=OrderSide.SELL,
        quantity=D(quantity),
        **changes,
    )


def test_a_position_within_its_limit_and_the_band_is_left_alone():
    assert trim_for(BTC, account(D("0.25"), D(10_000), D(10_000)), LIMIT) is None
    # 25.5% is the limit and a fiftieth of it: what a buy to the limit loses to its fee.
    assert trim_for(BTC, account(D("0.255"), D(10_000), D(10_000)), LIMIT) is None
    assert trim_for(BTC, account(D("0.25501"), D(10_000), D(10_000)), LIMIT) is not None


def test_a_position_above_its_limit_is_sold_back_to_nine_tenths_of_it():
    trim = trim_for(BTC, account(D("0.3"), D(10_000), D(10_000)), LIMIT)
    assert trim is not None
    assert trim.quantity == D("0.075")  # 3000 held, 2250 kept
    assert trim.reason == (
        "BTC-USDT 30.0% of equity, above the 25% limit; sell 0.075 at the next bar, back to 22.5%"
    )


def test_a_market_sell_already_pending_counts_and_a_resting_one_does_not():
    leaving = account(D("0.3"), D(10_000), D(10_000), sell("0.05"))
    trim = trim_for(BTC, leaving, LIMIT)
    assert trim is not None
    assert trim.quantity == D("0.025")
    resting = sell("0.05", type=OrderType.LIMIT, limit_price=D(20_000))
    trim = trim_for(BTC, account(D("0.3"), D(10_000), D(10_000), resting), LIMIT)
    assert trim is not None
    assert trim.quantity == D("0.075")
    # The coins a resting sell holds cannot be sold twice: the trim sells what is free.
    everything = sell("0.28", type=OrderType.LIMIT, limit_price=D(20_000))
    trim = trim_for(BTC, account(D("0.3"), D(10_000), D(10_000), everything), LIMIT)
    assert trim is not None
    assert trim.quantity == D("0.02")


def test_a_trim_below_the_minimum_order_is_skipped():
    # 6 USDT held of 20: back to 4.5 would sell 1.5 USDT, below the 5 USDT minimum notional.
    assert trim_for(BTC, account(D("0.0006"), D(10_000), D(20)), LIMIT) is None


def test_no_equity_trims_nothing():
    assert trim_for(BTC, account(D("0.3"), D(10_000), D(-1)), LIMIT) is None


@given(
    held=decimals("0.00001", "50", 5),
    mark=decimals("1", "100000", 2),
    equity=decimals("10", "1000000", 2),
    leaving=decimals("0", "1", 2),
    limit=st.sampled_from([D("0.05"), D("0.25"), D(1)]),
)
def test_a_trim_leaves_the_position_within_its_target_and_never_sells_more_than_is_free(
    held, mark, equity, leaving, limit
):
    pending = (
        sell(str((held * leaving).quantize(D("0.00001")))) if held * leaving >= 0.00001 else None
    )
    snapshot = account(held, mark, equity, *([pending] if pending else []))
    selling = pending.quantity if pending else D(0)
    trim = trim_for(BTC, snapshot, limit)
    if trim is None:
        # Nothing to do, or what is left to do is smaller than the smallest order.
        excess = (held - selling) * mark - limit * TRIM_TARGET * equity
        within = held * mark <= limit * (1 + TRIM_BAND) * equity or excess <= 0
        assert within or excess < BTC.min_notional + BTC.size_increment * mark
        return
    assert 0 < trim.quantity <= held - selling
    assert trim.quantity % BTC.size_increment == 0
    assert BTC.size_problem(trim.quantity, mark) is None
    assert (held - selling - trim.quantity) * mark <= limit * TRIM_TARGET * equity
