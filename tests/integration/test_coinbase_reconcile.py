"""Reconciliation, clock skew, the cancel lane and bad input, against the local exchange.

Reliability scenarios 3, 13, 14, 15 and 20 and the issue's bad-input check. Every assertion
about the exchange reads its own record (the control API) or the server-side request log.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from coinbase_harness import API, ORDERS, FakeTime, Harness, build, harness, limit, market_buy
from coinswarm.domain.ledger import Ledger
from coinswarm.domain.order import Order, OrderSide, OrderStatus
from coinswarm.exchanges.coinbase import (
    ExchangeAuthError,
    ExchangeDataError,
    ExchangeUnavailableError,
    OrderOutcomeUnknownError,
)
from coinswarm.exchanges.coinbase.errors import ClockSkewError
from coinswarm.exchanges.local_coinbase import CdpKey, build_jwt, generate_key
from coinswarm.execution.reconcile import DifferenceKind, Reconciler, reconcile

K = DifferenceKind
CANCEL = API + "/orders/batch_cancel"
LIST = API + "/orders/historical/batch"
FILLS = API + "/orders/historical/fills"
T0_NS = 1_700_000_000 * 1_000_000_000  # 2023-11-14T22:13:20Z


class FixedClock:
    def __init__(self, ns: int) -> None:
        self.ns = ns

    def now_ns(self) -> int:
        return self.ns


@pytest.fixture
def key() -> CdpKey:
    return generate_key()


@pytest.fixture
def h(key: CdpKey) -> Iterator[Harness]:
    yield from harness(key)


def our_books(h: Harness) -> Ledger:
    """Return a ledger that starts where the venue's accounts start."""
    ledger = Ledger(h.adapter.instruments(), "USD")
    ledger.deposit("USD", Decimal(100_000), T0_NS)
    ledger.deposit("BTC", Decimal(1), T0_NS)
    return ledger


def run(h: Harness, ledger: Ledger, orders: dict[str, Order], **kw: Any):
    return reconcile(h.adapter, ledger, orders, instruments=h.adapter.instruments(), ts=T0_NS, **kw)


def kinds(report) -> list[DifferenceKind]:
    return [d.kind for d in report.differences]


def real_json(h: Harness, key: CdpKey, path: str) -> dict[str, Any]:
    """Return the exchange's true answer to a GET, to be spoiled by a test."""
    token = build_jwt(key, f"GET {h.server.host}{path}", now_s=int(time.time()))
    answer: dict[str, Any] = h.control.get(
        path, headers={"Authorization": f"Bearer {token}"}
    ).json()
    return answer


# -- scenario 15: a refused key, explained -----------------------------------------------------


def test_s15_a_clock_three_minutes_behind_is_named_as_clock_skew(key: CdpKey) -> None:
    server = FixedClock(T0_NS + 180 * 1_000_000_000)
    for h in harness(key, server_clock=server, clock=FixedClock(T0_NS)):
        with pytest.raises(ClockSkewError) as caught:
            h.adapter.balances()
        message = str(caught.value)
        assert "clock skew: exchange time 2023-11-14T22:16:20.000000Z" in message
        assert "ours 2023-11-14T22:13:20.000000Z (+180.0 s)" in message
        assert caught.value.skew_s == 180.0
        assert caught.value.route == "GET /api/v3/brokerage/accounts"
        assert key.name not in message
        assert [p for _, p, _ in h.wire.sent] == [API + "/accounts", API + "/time"]


def test_s15_a_refused_key_with_agreeing_clocks_is_called_a_refused_key(key: CdpKey) -> None:
    stranger = generate_key()  # not in the exchange's key ring
    for h in harness(key, server_clock=FixedClock(T0_NS)):
        refused, _ = build(h.server, stranger, FakeTime(), clock=FixedClock(T0_NS))
        with refused, pytest.raises(ExchangeAuthError) as caught:
            refused.place_order(market_buy("k-1"))
        assert not isinstance(caught.value, ClockSkewError)
        message = str(caught.value)
        assert "refused the key" in message
        assert "clocks agree (+0.0 s" in message
        assert "HTTP 401" in message
        assert stranger.name not in message


# -- scenario 3: 200 cancels, 429 storms, seen from the server ---------------------------------


def test_s3_a_burst_of_200_cancels_goes_in_two_batches_under_the_limit(key: CdpKey) -> None:
    # 8 a second on both sides: eighths are exact in binary, so the buckets agree to the bit.
    for h in harness(key, private_per_second=8, per_second=8):
        placed = [
            h.adapter.place_order(limit(f"rest-{n}", OrderSide.BUY, "0.002", "1000.00"))
            for n in range(200)
        ]
        assert {o.status for o in placed} == {OrderStatus.OPEN}
        result = h.adapter.cancel_all(priority=True)
        assert result.attempts == 1
        assert sorted(result.cancelled) == sorted(o.order_id for o in placed)
        assert result.failed == {}
        batches = h.wire.posts(CANCEL)
        assert [len(b["order_ids"]) for b in batches] == [100, 100]  # type: ignore[arg-type]
        statuses = {o["status"] for o in h.record()["orders"]}  # type: ignore[union-attr]
        assert statuses == {"CANCELLED"}
        assert h.server_log is not None
        assert 429 not in h.server_log.statuses()
        # Never more than the limit within any one second, the first one included.
        assert h.server_log.busiest_second() == 8
        first, last = h.server_log.seen[0][3], h.server_log.seen[-1][3]
        assert len(h.server_log.seen) <= 8 + 8 * (last - first)  # sustained: 8 a second
        assert h.adapter.open_orders() == []


def test_s3_after_each_429_the_server_sees_nothing_until_the_reset(key: CdpKey) -> None:
    for h in harness(key, private_per_second=5, per_second=100):
        for _ in range(15):
            h.adapter.balances()
        log = h.server_log
        assert log is not None
        refused = [i for i, (*_, status, _) in enumerate(log.seen) if status == 429]
        assert len(refused) >= 2
        for i in refused:
            gap = log.seen[i + 1][3] - log.seen[i][3]
            assert 1.0 <= gap <= 1.25  # the reset header's 1 s, plus at most the jitter
        assert log.statuses().count(200) == 15


# -- scenario 20: the kill switch while the exchange is unreachable ----------------------------


@pytest.mark.parametrize(
    "fault",
    [
        {"method": "GET", "path": LIST, "kind": "drop", "times": 10},
        {"method": "POST", "path": CANCEL, "kind": "status", "status_code": 503, "times": 10},
    ],
    ids=["listing-dropped", "cancel-503"],
)
def test_s20_cancel_all_is_retried_with_backoff_until_the_exchange_answers(
    h: Harness, fault: dict[str, Any]
) -> None:
    placed = [
        h.adapter.place_order(limit(f"k-{n}", OrderSide.BUY, "0.002", "1000.00")) for n in range(5)
    ]
    h.fault(**fault)
    sleeps_before = len(h.time.sleeps)
    result = h.adapter.cancel_all()
    assert result.attempts == 3  # 4 tries each for two attempts, then 2 more and through
    assert sorted(result.cancelled) == sorted(o.order_id for o in placed)
    assert {o["status"] for o in h.record()["orders"]} == {"CANCELLED"}  # type: ignore[union-attr]
    assert len(h.time.sleeps) - sleeps_before >= 8  # every retry waited first


def test_s20_cancel_all_gives_up_after_its_tries_with_a_clear_error(h: Harness) -> None:
    h.adapter.place_order(limit("k-9", OrderSide.BUY, "0.002", "1000.00"))
    h.fault(method="GET", path=LIST, kind="status", status_code=503, times=None)
    with pytest.raises(ExchangeUnavailableError, match=r"cancel-all: .* 3 tries"):
        h.adapter.cancel_all(attempts=3)
    assert {o["status"] for o in h.record()["orders"]} == {"OPEN"}  # type: ignore[union-attr]


# -- bad input from the exchange ---------------------------------------------------------------


def test_an_unknown_status_sets_the_order_aside_and_pauses(h: Harness, key: CdpKey) -> None:
    placed = h.adapter.place_order(limit("bad-1", OrderSide.BUY, "0.5", "1000.00"))
    path = f"{API}/orders/historical/{placed.order_id}"
    body = real_json(h, key, path)
    body["order"]["status"] = "TELEPORTED"
    h.fault(method="GET", path=path, kind="status", status_code=200, body=body)
    with pytest.raises(ExchangeDataError) as caught:
        h.adapter.get_order(placed.order_id)
    assert (caught.value.route, caught.value.field) == (f"GET {path}", "order.status")
    assert h.adapter.trading_paused
    assert placed.order_id in h.adapter.health.set_aside_orders
    assert "order.status" in h.adapter.pause_reason
    assert h.record_orders("bad-1")[0]["status"] == "OPEN"  # nothing was done to it
    assert h.adapter.get_order(placed.order_id).status is OrderStatus.OPEN  # no crash after


def test_a_product_that_disappeared_is_named(h: Harness, key: CdpKey) -> None:
    placed = h.adapter.place_order(limit("gone-1", OrderSide.BUY, "0.5", "1000.00"))
    path = f"{API}/orders/historical/{placed.order_id}"
    body = real_json(h, key, path)
    body["order"]["product_id"] = "LUNA-USD"
    h.fault(method="GET", path=path, kind="status", status_code=200, body=body)
    with pytest.raises(ExchangeDataError, match=r"order\.product_id.*'LUNA-USD' is not listed"):
        h.adapter.get_order(placed.order_id)
    assert placed.order_id in h.adapter.health.set_aside_orders


def test_a_negative_fill_size_pauses_reconciliation_and_names_the_field(
    h: Harness, key: CdpKey
) -> None:
    h.adapter.place_order(market_buy("neg-1"))
    h.advance()
    body = real_json(h, key, FILLS)
    body["fills"][0]["size"] = "-0.01"
    h.fault(method="GET", path=FILLS, kind="status", status_code=200, body=body)
    report = run(h, our_books(h), {})
    assert kinds(report) == [K.EXCHANGE_UNREADABLE]
    assert report.trading_paused
    assert f"GET {FILLS}: field 'fills.0.size'" in report.pause_reason
    assert h.adapter.trading_paused
    assert h.adapter.data_faults[0].field == "fills.0.size"


def test_a_malformed_answer_leaves_the_order_in_flight_until_reconciliation_adopts_it(
    h: Harness,
) -> None:
    h.fault(kind="malformed", when="after", times=None)
    h.control.put(
        "/_control/faults",
        json={
            "faults": [
                {
                    "method": "POST",
                    "path": ORDERS,
                    "kind": "malformed",
                    "when": "after",
                    "times": None,
                },
                {"method": "GET", "path": LIST, "kind": "malformed", "times": None},
            ]
        },
    )
    with pytest.raises(OrderOutcomeUnknownError):
        h.adapter.place_order(market_buy("lost-1"))
    assert [o["status"] for o in h.record_orders("lost-1")] == ["OPEN"]  # one order, not rejected
    assert "lost-1" in h.adapter.health.set_aside_orders
    assert h.adapter.trading_paused

    h.control.delete("/_control/faults")
    ledger, orders = our_books(h), {}
    reconciler = Reconciler(
        h.adapter,
        ledger,
        orders,
        instruments=h.adapter.instruments(),
        clock=FixedClock(T0_NS),
        monotonic=h.time.monotonic,
        client_order_ids=lambda: {"lost-1"},
    )
    report = reconciler.run()
    assert kinds(report) == [K.ADOPTED_ORDER]
    assert not reconciler.paused
    (adopted,) = orders.values()
    assert adopted.client_order_id == "lost-1"
    h.adapter.mark_reconciled()
    assert not h.adapter.trading_paused
    assert [p["client_order_id"] for p in h.wire.posts()] == ["lost-1", "lost-1"]  # same id


# -- scenarios 13 and 14 against the local exchange --------------------------------------------


def test_s13_a_missed_fill_is_back_filled_and_the_balances_then_agree(h: Harness) -> None:
    placed = h.adapter.place_order(market_buy("r-1"))
    h.advance()
    ledger, orders = our_books(h), {placed.order_id: placed}
    report = run(h, ledger, orders)
    assert kinds(report) == [K.MISSING_LOCAL_FILL, K.CLOSED_AT_EXCHANGE]
    assert not report.trading_paused, report.lines()
    assert orders[placed.order_id].status is OrderStatus.FILLED
    record = h.record()
    assert {f.trade_id for f in ledger.fills} == {f["trade_id"] for f in record["fills"]}  # type: ignore[index]
    assert run(h, ledger, orders).clean
    assert h.wire.posts() == [h.wire.posts()[0]]  # only our own order; nothing sent to fix


def test_s14_an_order_the_exchange_cancelled_is_noticed(h: Harness, key: CdpKey) -> None:
    placed = h.adapter.place_order(limit("r-2", OrderSide.BUY, "0.5", "1000.00"))
    elsewhere, _ = build(h.server, key, FakeTime())
    with elsewhere:
        elsewhere.cancel_order(placed.order_id)
    orders = {placed.order_id: placed}
    report = run(h, our_books(h), orders)
    assert kinds(report) == [K.CLOSED_AT_EXCHANGE]
    assert orders[placed.order_id].status is OrderStatus.CANCELLED
    assert not report.trading_paused


def test_s14_an_outside_deposit_is_recorded(h: Harness) -> None:
    accounts = [
        {"currency": c, "available_balance": {"value": v, "currency": c}}
        for c, v in (("BTC", "1"), ("USD", "100250"))
    ]
    h.fault(
        method="GET",
        path=API + "/accounts",
        kind="status",
        status_code=200,
        body={"accounts": accounts},
    )
    ledger = our_books(h)
    report = run(h, ledger, {})
    assert kinds(report) == [K.OUTSIDE_DEPOSIT]
    assert [(d.currency, d.amount) for d in report.deposits] == [("USD", Decimal(250))]
    assert ledger.cash("USD") == Decimal(100_250)
    assert not report.trading_paused


def test_s13_at_start_our_lost_order_is_adopted_and_a_stranger_halts(
    h: Harness, key: CdpKey
) -> None:
    other, _ = build(h.server, key, FakeTime())
    with other:
        ours = other.place_order(limit("crashed-1", OrderSide.BUY, "0.5", "1000.00"))
        stranger = other.place_order(limit("manual-1", OrderSide.BUY, "0.5", "1100.00"))
    orders: dict[str, Order] = {}
    report = run(h, our_books(h), orders, client_order_ids={"crashed-1"})
    by_subject = {d.subject: d.kind for d in report.differences}
    assert by_subject == {ours.order_id: K.ADOPTED_ORDER, stranger.order_id: K.FOREIGN_ORDER}
    assert report.trading_paused
    assert "'manual-1'" in report.pause_reason
    assert list(orders) == [ours.order_id]
    assert h.wire.posts() == []
    assert h.wire.posts(CANCEL) == []
