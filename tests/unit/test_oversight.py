"""The oversight manager approves, shrinks or rejects; it never enlarges an order."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coinswarm.domain.order import OrderRequest, OrderSide, OrderType
from coinswarm.risk.account import AccountSnapshot
from coinswarm.risk.errors import RiskInputError
from coinswarm.risk.oversight import OversightManager, Verdict
from coinswarm.risk.profiles import profile_for

D = Decimal
FEE = D("0.001")
BUY, SELL = OrderSide.BUY, OrderSide.SELL


def account(**changes) -> AccountSnapshot:
    fields = {
        "ts": 0,
        "equity": D(10_000),
        "cash": D(10_000),
        "day_start_equity": D(10_000),
        "peak_equity": D(10_000),
        "initial_equity": D(10_000),
    }
    fields.update(changes)
    return AccountSnapshot(**fields)


def order(side=BUY, instrument="BTC-USDT", **changes) -> OrderRequest:
    fields = {"client_order_id": "c1", "instrument": instrument, "side": side}
    if "quote_quantity" not in changes:
        fields["quantity"] = D("0.1")
    fields.update(changes)
    return OrderRequest(**fields)


def manager(phase: int = 0) -> OversightManager:
    return OversightManager(profile_for(phase), fee_rate=FEE)


def test_an_order_within_every_limit_is_approved_unchanged():
    request = order(quantity=D("0.1"))
    decision = manager().review(request, account(), price=D(8000))
    assert decision.verdict is Verdict.APPROVED
    assert decision.request is request
    assert decision.approved
    assert decision.reason == "within limits: BTC-USDT would be 8.0% of equity, max 25%"


def test_a_buy_beyond_the_position_limit_is_shrunk_to_it():
    held = account(positions={"BTC-USDT": D("0.1")}, marks={"BTC-USDT": D(8000)})
    decision = manager().review(order(quantity=D("0.5")), held, price=D(8000))
    assert decision.verdict is Verdict.SHRUNK
    assert decision.request is not None
    assert decision.request.quantity == D("0.2125")  # (2500 - 800) / 8000
    assert decision.reason == (
        "position limit: BTC-USDT would be 48.0% of equity, max 25%; shrunk 0.5 -> 0.2125"
    )


def test_a_quote_sized_buy_shrinks_its_quote_quantity():
    decision = manager().review(order(quote_quantity=D(5000)), account(), price=D(8000))
    assert decision.verdict is Verdict.SHRUNK
    assert decision.request is not None
    assert decision.request.quantity is None
    # 2500 of notional, plus the fee that the quote amount includes
    assert decision.request.quote_quantity == D("2502.5")


def test_a_buy_is_held_to_the_cash_with_fees():
    poor = account(cash=D(1000))
    decision = manager().review(order(quantity=D("0.2")), poor, price=D(8000))
    assert decision.verdict is Verdict.SHRUNK
    assert decision.request is not None
    assert decision.request.quantity * D(8000) * (1 + FEE) <= D(1000)
    assert decision.request.quantity == D("0.12487512")
    assert decision.reason.startswith("cash: the buy would cost 1601.60 with fees, cash is 1000.00")


def test_both_limits_are_named_when_both_bind():
    poor = account(cash=D(1000))
    decision = manager().review(order(quantity=D(1)), poor, price=D(8000))
    assert "position limit" in decision.reason
    assert "cash" in decision.reason
    assert decision.request is not None
    assert decision.request.quantity == D("0.12487512")  # the tighter of the two


def test_a_limit_order_is_valued_at_its_limit_price():
    request = order(type=OrderType.LIMIT, quantity=D("0.3"), limit_price=D(10_000))
    decision = manager().review(request, account(), price=D(8000))
    # At 8000 it would be 24% of equity, but it may fill at up to 10000: 30%.
    assert decision.verdict is Verdict.SHRUNK
    assert decision.request is not None
    assert decision.request.quantity == D("0.25")
    assert decision.request.limit_price == D(10_000)


def test_a_stop_order_is_valued_at_the_higher_of_stop_and_market():
    request = order(type=OrderType.STOP, quantity=D("0.3"), stop_price=D(9000))
    decision = manager().review(request, account(), price=D(8000))
    assert decision.request is not None
    assert decision.request.quantity == D("0.27777777")


def test_an_order_at_the_limit_already_is_rejected_not_shrunk_to_zero():
    full = account(positions={"BTC-USDT": D("0.3125")}, marks={"BTC-USDT": D(8000)})
    decision = manager().review(order(quantity=D("0.1")), full, price=D(8000))
    assert decision.verdict is Verdict.REJECTED
    assert decision.request is None
    assert not decision.approved
    assert decision.reason.endswith("no room left")


def test_a_shrink_below_the_quantum_is_a_rejection():
    nearly_full = account(positions={"BTC-USDT": D("0.312499999")}, marks={"BTC-USDT": D(8000)})
    decision = manager().review(order(quantity=D("0.1")), nearly_full, price=D(8000))
    assert decision.verdict is Verdict.REJECTED


def test_a_sell_that_reduces_a_long_is_allowed_beyond_the_limit():
    heavy = account(positions={"BTC-USDT": D(1)}, marks={"BTC-USDT": D(8000)})
    decision = manager().review(order(SELL, quantity=D("0.1")), heavy, price=D(8000))
    assert decision.verdict is Verdict.APPROVED
    assert decision.reason == "exit: BTC-USDT position 1 -> 0.9; exits are always allowed"


def test_a_sell_that_turns_a_long_into_a_short_is_held_to_the_limit():
    held = account(positions={"BTC-USDT": D("0.1")}, marks={"BTC-USDT": D(8000)})
    decision = manager().review(order(SELL, quantity=D(1)), held, price=D(8000))
    assert decision.verdict is Verdict.SHRUNK
    assert decision.request is not None
    assert decision.request.quantity == D("0.4125")  # close 0.1, then short up to 2500


def test_an_instrument_outside_the_phase_list_is_rejected_but_can_be_exited():
    decision = manager(3).review(order(instrument="SOL-USD"), account(), price=D(100))
    assert decision.verdict is Verdict.REJECTED
    assert decision.reason == (
        "instrument: SOL-USD is not allowed in phase 3 (limited real money); "
        "allowed: BTC-USD, ETH-USD"
    )
    stray = account(positions={"SOL-USD": D(2)}, marks={"SOL-USD": D(100)})
    exit_ = manager(3).review(order(SELL, "SOL-USD", quantity=D(2)), stray, price=D(100))
    assert exit_.verdict is Verdict.APPROVED


def test_the_daily_trade_count_rejects_new_exposure_but_not_exits():
    busy = account(trades_today=10, positions={"BTC-USD": D("0.001")}, marks={"BTC-USD": D(8000)})
    buy = manager(3).review(order(instrument="BTC-USD", quantity=D("0.001")), busy, price=D(8000))
    assert buy.verdict is Verdict.REJECTED
    assert buy.reason == "trade count: 10 orders sent today, max 10; only exits are allowed"
    sell = order(SELL, "BTC-USD", quantity=D("0.001"))
    assert manager(3).review(sell, busy, price=D(8000)).verdict is Verdict.APPROVED
    nine = replace(busy, trades_today=9)
    add = order(instrument="BTC-USD", quantity=D("0.001"))
    assert manager(3).review(add, nine, price=D(8000)).verdict is Verdict.APPROVED


def test_a_fourth_concurrent_position_is_rejected_but_adding_to_one_is_not():
    three = account(
        positions={"BTC-USD": D("0.001"), "ETH-USD": D("0.01"), "X-USD": D(1)},
        marks={"BTC-USD": D(8000), "ETH-USD": D(300), "X-USD": D(1)},
    )
    profile = replace(profile_for(3), allowed_instruments=None)
    oversight = OversightManager(profile, fee_rate=FEE)
    new = oversight.review(order(instrument="Y-USD", quantity=D(1)), three, price=D(10))
    assert new.verdict is Verdict.REJECTED
    assert new.reason == "concurrent positions: 3 open or pending, max 3; Y-USD would open another"
    more = oversight.review(order(instrument="BTC-USD", quantity=D("0.001")), three, price=D(8000))
    assert more.verdict is Verdict.APPROVED


def test_after_the_daily_loss_only_exits_pass():
    down = account(equity=D(9500), positions={"BTC-USDT": D("0.1")}, marks={"BTC-USDT": D(8000)})
    buy = manager().review(order(quantity=D("0.01")), down, price=D(8000))
    assert buy.verdict is Verdict.REJECTED
    assert buy.reason.startswith(
        "daily loss: equity 9500 is 5.0% below the day's start 10000, max 5%"
    )
    sell = manager().review(order(SELL, quantity=D("0.1")), down, price=D(8000))
    assert sell.verdict is Verdict.APPROVED
    nearly = replace(down, equity=D("9500.01"))
    assert manager().review(order(quantity=D("0.01")), nearly, price=D(8000)).approved


def test_after_the_total_loss_only_exits_pass():
    drawn = account(
        equity=D(9000),
        day_start_equity=D(9000),
        peak_equity=D(10_000),
        positions={"BTC-USDT": D("0.1")},
        marks={"BTC-USDT": D(8000)},
    )
    buy = manager().review(order(quantity=D("0.01")), drawn, price=D(8000))
    assert buy.verdict is Verdict.REJECTED
    assert buy.reason.startswith("total loss: equity 9000 is 10.0% below the peak 10000, max 10%")
    assert manager().review(order(SELL, quantity=D("0.05")), drawn, price=D(8000)).approved


def test_no_equity_means_no_new_exposure():
    broke = account(equity=D(0), cash=D(0))
    decision = manager().review(order(), broke, price=D(8000))
    assert decision.verdict is Verdict.REJECTED
    assert decision.reason.startswith("account: equity is 0")


@pytest.mark.parametrize("price", [D(0), D(-1), D("NaN"), D("Infinity")])
def test_an_unusable_price_is_refused(price):
    with pytest.raises(RiskInputError, match="price"):
        manager().review(order(), account(), price=price)


def test_constructor_refuses_nonsense_fees():
    with pytest.raises(RiskInputError, match="fee_rate"):
        OversightManager(profile_for(0), fee_rate=D(1))


# Properties over random accounts and requests.


def decimals(low: str, high: str, places: int) -> st.SearchStrategy[Decimal]:
    return st.decimals(D(low), D(high), places=places, allow_nan=False, allow_infinity=False)


@st.composite
def accounts(draw: st.DrawFn) -> AccountSnapshot:
    broke = draw(st.integers(0, 9)) == 0  # now and then an account with nothing left
    equity = draw(decimals("-100", "0", 2) if broke else decimals("1", "1000000", 2))
    position = draw(st.one_of(st.just(D(0)), decimals("-5", "5", 6)))
    return AccountSnapshot(
        ts=0,
        equity=equity,
        cash=equity * draw(decimals("-0.1", "2", 3)),
        positions={"BTC-USD": position, "ETH-USD": draw(decimals("0", "3", 4))},
        marks={"BTC-USD": draw(decimals("1", "100000", 2)), "ETH-USD": D(3000)},
        day_start_equity=equity * draw(decimals("0.9", "1.1", 3)),
        peak_equity=max(equity, D(1)) * draw(decimals("1", "1.2", 3)),
        initial_equity=D(10_000),
        trades_today=draw(st.integers(0, 12)),
    )


@st.composite
def requests(draw: st.DrawFn, scale: Decimal) -> OrderRequest:
    """Draw a request on BTC-USD of up to twice `scale` in quote terms."""
    side = draw(st.sampled_from(list(OrderSide)))
    kind = draw(st.sampled_from([OrderType.MARKET, OrderType.LIMIT]))
    price = draw(decimals("1", "100000", 2))
    notional = max(scale, D(1)) * draw(decimals("0.0001", "2", 4))
    fields: dict[str, object] = {"type": kind}
    if kind is OrderType.LIMIT:
        fields["limit_price"] = price
    if kind is OrderType.MARKET and side is BUY and draw(st.booleans()):
        fields["quote_quantity"] = notional.quantize(D("0.01")) + D("0.01")
    else:
        fields["quantity"] = (notional / price).quantize(D("0.000001")) + D("0.000001")
    return OrderRequest(client_order_id="p", instrument="BTC-USD", side=side, **fields)


@st.composite
def cases(draw: st.DrawFn) -> tuple[OrderRequest, AccountSnapshot, Decimal]:
    snapshot = draw(accounts())
    price = draw(decimals("1", "100000", 2))
    return draw(requests(snapshot.equity)), snapshot, price


def size(request: OrderRequest) -> Decimal:
    return request.quantity if request.quantity is not None else request.quote_quantity


@given(case=cases(), phase=st.integers(0, 5))
def test_oversight_never_enlarges_and_never_breaks_the_position_limit(case, phase):
    request, snapshot, price = case
    profile = profile_for(phase)
    decision = OversightManager(profile, fee_rate=FEE).review(request, snapshot, price=price)
    assert decision.original is request
    assert decision.reason
    if decision.request is None:
        assert decision.verdict is Verdict.REJECTED
        return
    sent = decision.request
    assert size(sent) <= size(request)
    assert size(sent) > 0
    assert (sent.quantity is None) == (request.quantity is None)
    unchanged = replace(sent, quantity=request.quantity, quote_quantity=request.quote_quantity)
    assert unchanged == request
    assert (decision.verdict is Verdict.APPROVED) == (sent is request)

    value_price = sent.limit_price or price
    position = snapshot.positions["BTC-USD"]
    sign = sent.side.sign
    if sent.quote_quantity is not None:
        # notional bought = quote / (1 + fee); kept exact by multiplying out
        bought = sent.quote_quantity
        is_exit = position < 0 and bought <= -position * value_price * (1 + FEE)
        after_times_fee = (position * value_price) * (1 + FEE) + bought
        within = after_times_fee <= profile.max_position_fraction * snapshot.equity * (1 + FEE)
        assert sent.quote_quantity <= snapshot.cash
    else:
        is_exit = sign * position < 0 and sent.quantity <= abs(position)
        after = abs(position + sign * sent.quantity) * value_price
        within = after <= profile.max_position_fraction * snapshot.equity
        if sent.side is BUY:
            assert sent.quantity * value_price * (1 + FEE) <= snapshot.cash
    assert is_exit or within


# Orders approved but not yet filled count toward every limit they could breach.


def pending(side=BUY, instrument="BTC-USDT", **changes) -> OrderRequest:
    return order(side, instrument, client_order_id=f"pending-{instrument}-{side}", **changes)


def test_pending_buys_on_the_instrument_count_toward_its_position_limit():
    held = account(
        positions={"BTC-USDT": D("0.1")},
        marks={"BTC-USDT": D(8000)},
        pending=(pending(type=OrderType.LIMIT, quantity=D("0.1"), limit_price=D(8000)),),
    )
    decision = manager().review(order(quantity=D("0.5")), held, price=D(8000))
    assert decision.verdict is Verdict.SHRUNK
    assert decision.request is not None
    assert decision.request.quantity == D("0.1125")  # (2500 - 800 held - 800 pending) / 8000
    assert decision.reason == (
        "position limit: BTC-USDT would be 56.0% of equity with its pending orders, max 25%; "
        "shrunk 0.5 -> 0.1125"
    )


def test_pending_buys_take_their_cost_off_the_cash():
    promised = account(pending=(pending(instrument="ETH-USDT", quote_quantity=D(9000)),))
    decision = manager().review(order(quantity=D("0.2")), promised, price=D(8000))
    assert decision.verdict is Verdict.SHRUNK
    assert decision.request is not None
    assert decision.request.quantity == D("0.12487512")  # 1000 / (8000 * 1.001), rounded down
    assert "cash is 1000.00 after 9000.00 promised to pending buys" in decision.reason


def test_an_instrument_with_a_pending_buy_counts_as_an_open_position():
    coming = account(
        positions={"BTC-USD": D("0.001"), "ETH-USD": D("0.01")},
        marks={"BTC-USD": D(8000), "ETH-USD": D(300), "X-USD": D(1)},
        pending=(pending(instrument="X-USD", quote_quantity=D(10)),),
    )
    profile = replace(profile_for(3), allowed_instruments=None)
    oversight = OversightManager(profile, fee_rate=FEE)
    new = oversight.review(order(instrument="Y-USD", quantity=D(1)), coming, price=D(10))
    assert new.verdict is Verdict.REJECTED
    assert new.reason == "concurrent positions: 3 open or pending, max 3; Y-USD would open another"
    more = oversight.review(order(instrument="X-USD", quantity=D(1)), coming, price=D(1))
    assert more.approved


def test_pending_sells_make_no_room_and_never_stop_an_exit():
    trimming = account(
        positions={"BTC-USDT": D("0.3")},
        marks={"BTC-USDT": D(8000)},
        pending=(pending(SELL, quantity=D("0.3")),),
    )
    buy = manager().review(order(quantity=D("0.1")), trimming, price=D(8000))
    assert buy.request is not None
    assert buy.request.quantity == D("0.0125")  # (2500 - 2400 held) / 8000: the sell may not fill
    sell = manager().review(order(SELL, quantity=D("0.3")), trimming, price=D(8000))
    assert sell.verdict is Verdict.APPROVED
    assert sell.reason.startswith("exit:")


@st.composite
def pending_orders(draw: st.DrawFn, scale: Decimal) -> tuple[OrderRequest, ...]:
    """Draw up to four pending orders on BTC-USD, ETH-USD and SOL-USD."""
    drawn = []
    for n in range(draw(st.integers(0, 4))):
        request = draw(requests(scale))
        instrument = draw(st.sampled_from(["BTC-USD", "ETH-USD", "SOL-USD"]))
        drawn.append(replace(request, client_order_id=f"p{n}", instrument=instrument))
    return tuple(drawn)


def committed(snapshot: AccountSnapshot) -> tuple[dict[tuple[str, OrderSide], Decimal], Decimal]:
    """Return pending base units by instrument and side, and the cash pending buys promise."""
    base: dict[tuple[str, OrderSide], Decimal] = {}
    cash = D(0)
    for p in snapshot.pending:
        price = p.limit_price or snapshot.marks[p.instrument]
        cost = p.quote_quantity if p.quantity is None else p.quantity * price * (1 + FEE)
        units = p.quantity if p.quantity is not None else p.quote_quantity / (price * (1 + FEE))
        base[p.instrument, p.side] = base.get((p.instrument, p.side), D(0)) + units
        cash += cost if p.side is BUY else 0
    return base, cash


@given(case=cases(), extra=st.data(), phase=st.sampled_from([0, 3, 4]))
def test_an_approved_order_and_the_pending_ones_together_stay_within_every_limit(
    case, extra, phase
):
    request, snapshot, price = case
    snapshot = replace(
        snapshot,
        marks={**snapshot.marks, "SOL-USD": D(150)},
        pending=extra.draw(pending_orders(max(snapshot.equity, D(1)))),
    )
    profile = replace(profile_for(phase), allowed_instruments=None)
    decision = OversightManager(profile, fee_rate=FEE).review(request, snapshot, price=price)
    if decision.request is None:
        return
    sent = decision.request
    position = snapshot.positions["BTC-USD"]
    sign = sent.side.sign
    value_price = sent.limit_price or price
    units = (
        sent.quantity
        if sent.quantity is not None
        else sent.quote_quantity / (value_price * (1 + FEE))
    )
    base, promised = committed(snapshot)
    if sent.side is BUY:
        cost = sent.quote_quantity or sent.quantity * value_price * (1 + FEE)
        assert promised + cost <= snapshot.cash + D("0.00001")
    if sign * position < 0 and units <= abs(position):
        return  # an exit: only the cash holds it back
    after = (sign * position + base.get(("BTC-USD", sent.side), D(0)) + units) * value_price
    assert after <= profile.max_position_fraction * snapshot.equity + D("0.00001")
    limit = profile.max_concurrent_positions
    if limit is not None:
        engaged = {s for s, q in snapshot.positions.items() if q}
        engaged |= {
            p.instrument
            for p in snapshot.pending
            if p.side.sign * snapshot.positions.get(p.instrument, D(0)) >= 0
        }
        assert "BTC-USD" in engaged or len(engaged) < limit
