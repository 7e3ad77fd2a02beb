"""Sandbox sessions whose fills come from the user channel, over HTTPS against the local exchange.

The strategy keeps one bid resting below a flat market that dips every few bars, so most
bars pass with an order resting and nothing happening: without the user channel each such
bar costs a fill listing. The exchange logs every request it answers, so the test counts the
listings the session made. Then the user channel misbehaves (every message twice, some held
back behind the next, a socket dropped mid-session): the ledger must still hold exactly the
exchange's fills, each once, with one exchange order per client order id.

The exchange reveals its bars in step with the session (bar j once the strategy saw bar j-2),
so a slow machine slows the replay instead of racing it. The strategy bids no more in the last
bars, so every bid has filled and been booked before the session ends.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from coinswarm import preflight, sessions
from coinswarm.backtest.result import BacktestResult
from coinswarm.domain.bar import Bar, BarSeries
from coinswarm.domain.order import OrderRequest, OrderSide, OrderType
from coinswarm.exchanges.local_coinbase.wsfaults import WsFault, WsFaultKind, WsFaultPlan
from coinswarm.exchanges.local_faults import RequestLog
from coinswarm.strategies.base import Intent, StrategyContext
from session_harness import (
    PRODUCT,
    Exchange,
    Lockstep,
    flat_hourly_market,
    serve,
    use_keys,
    use_strategy,
)

MARKET_BARS = 90
SESSION_BARS = 56
BIDDING_BARS = 36  # the strategy's bids stop here: the bars after it settle every fill
DIP_EVERY = 5
PRICE = 20_000.0
BID = Decimal("19800")
WARM_UP_S = 0.3  # the pace before the session shows its first bar: time to subscribe
MIN_BAR_S = 0.04  # no faster: a held message shows at the next heartbeat, 50 ms on
ORDERS_PATH = "/api/v3/brokerage/orders"
FILLS_PATH = ORDERS_PATH + "/historical/fills"


def dip_market() -> BarSeries:
    """Return flat hourly BTC-USD bars whose low dips through the bid every `DIP_EVERY` bars."""
    low = np.full(MARKET_BARS, PRICE - 10.0)
    low[DIP_EVERY::DIP_EVERY] = PRICE * 0.985
    return flat_hourly_market(PRICE, low)


class DipBids:
    """Keep one small bid resting below the market for the first `BIDDING_BARS` bars seen."""

    name = "dip-bids"

    def __init__(self) -> None:
        self.seen: list[int] = []  # bar times, in the order the session showed them

    def on_bar(self, bar: Bar, context: StrategyContext) -> Sequence[Intent]:
        self.seen.append(bar.ts)
        if len(self.seen) > BIDDING_BARS or context.has_open_orders(bar.instrument):
            return []
        request = OrderRequest(
            client_order_id=context.next_client_order_id(bar.instrument),
            instrument=bar.instrument,
            side=OrderSide.BUY,
            type=OrderType.LIMIT,
            quantity=Decimal("0.001"),
            limit_price=BID,
        )
        return [request]


class CountedFaults(WsFaultPlan):
    """The exchange's websocket fault plan, counting each fault it applied, by kind."""

    def __init__(self) -> None:
        super().__init__()
        self.applied: Counter[str] = Counter()

    def take(self, kind: WsFaultKind, channel: str) -> bool:
        taken = super().take(kind, channel)
        if taken:
            self.applied[kind] += 1
        return taken


def _fill_listings_since_the_first_order(requests: RequestLog) -> int:
    """Count the fill listings after the first order (reconciliation at start lists too)."""
    entries = [(r.method, r.path) for r in requests.entries]
    first = entries.index(("POST", ORDERS_PATH))
    return entries[first:].count(("GET", FILLS_PATH))


@pytest.fixture
def faults() -> CountedFaults:
    return CountedFaults()


@pytest.fixture
def request_log() -> RequestLog:
    return RequestLog(time.monotonic)


@pytest.fixture
def exchange(tmp_path: Path, faults: CountedFaults, request_log: RequestLog) -> Iterator[Exchange]:
    """Serve the dip market over HTTPS on 127.0.0.1 with $100k, logging every request."""
    yield from serve(tmp_path, market=[dip_market()], ws_faults=faults, requests=request_log)


def _run(
    exchange: Exchange, monkeypatch: pytest.MonkeyPatch, before: Callable[[int], None]
) -> tuple[BacktestResult, DipBids, list[str]]:
    """Run a sandbox session of `SESSION_BARS` bars in lockstep; return what it said too."""
    use_keys(monkeypatch, exchange.key, live=False)
    strategy = DipBids()
    use_strategy(monkeypatch, strategy, DipBids)
    request = sessions.SessionRequest(
        mode=preflight.SANDBOX,
        url=exchange.url,
        products=(PRODUCT,),
        strategy="dip-bids",
        bars=SESSION_BARS,
        idle_timeout_s=30.0,
        ca_file=exchange.ca_file,
    )
    said: list[str] = []
    times = [int(t) for t in dip_market().ts]
    replay = Lockstep(
        exchange.venue, times, strategy, warm_up_s=WARM_UP_S, min_bar_s=MIN_BAR_S, before=before
    )
    with replay.running():
        outcome = sessions.run_session(request, say=said.append)
    return outcome.result, strategy, said


def _assert_the_exchange_s_fills_once_each(exchange: Exchange, result: BacktestResult) -> None:
    booked = [f.trade_id for f in result.fills]
    assert len(booked) == len(set(booked)), "a fill was booked twice"
    theirs = {f.trade_id: f for f in exchange.venue.fills()}
    assert sorted(booked) == sorted(theirs), "the ledger's fills differ from the exchange's"
    for fill in result.fills:
        at_exchange = theirs[fill.trade_id]
        assert (fill.price, fill.quantity, fill.fee) == (
            at_exchange.price,
            at_exchange.quantity,
            at_exchange.fee,
        )
    clients = [o.client_order_id for o in exchange.venue.engine_orders()]
    assert len(clients) == len(set(clients)), "one exchange order per client order id"


def test_a_healthy_user_channel_books_the_exchange_s_fills_without_listing_them_each_bar(
    exchange: Exchange, request_log: RequestLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    result, strategy, said = _run(exchange, monkeypatch, before=lambda _: None)

    _assert_the_exchange_s_fills_once_each(exchange, result)
    filled = {f.order_id for f in exchange.venue.fills()}
    assert len(filled) >= BIDDING_BARS // DIP_EVERY - 1, "a bid fills at every dip"
    listings = _fill_listings_since_the_first_order(request_log)
    # One listing per fill the channel told of; a bar with a bid resting and no news costs none
    # (one more if the first bid rested before the channel vouched for a whole bar). Polling
    # instead would list on every bar a bid rests: nearly every bar of the session.
    assert len(filled) <= listings <= len(filled) + 1, f"{listings} for {len(filled)} fills"
    assert listings < len(strategy.seen) // 4
    assert not [line for line in said if "user channel stale" in line]


def test_duplicated_reordered_and_dropped_user_messages_leave_exactly_the_exchange_s_fills(
    exchange: Exchange, faults: CountedFaults, monkeypatch: pytest.MonkeyPatch
) -> None:
    duplicates = WsFault(kind="duplicate", channel="user", times=None)

    def arm(j: int) -> None:
        if j == 8:
            faults.set([duplicates, WsFault(kind="reorder", channel="user", times=3)])
        elif j == 20:
            faults.set([duplicates, WsFault(kind="drop", channel="user", times=1)])
        elif j == 30:
            faults.clear()  # a clean tail: every doubt is settled before the end

    result, _, said = _run(exchange, monkeypatch, before=arm)

    applied = faults.applied
    assert applied["duplicate"] > 0, applied
    assert applied["reorder"] > 0, applied
    assert applied["drop"] == 1, applied
    _assert_the_exchange_s_fills_once_each(exchange, result)
    assert len({f.order_id for f in result.fills}) >= BIDDING_BARS // DIP_EVERY // 2
    # Whether the drop or a held message's sequence gap is seen first depends on timing.
    stale = [i for i, line in enumerate(said) if line.startswith("user channel stale")]
    assert stale, f"the user channel never went stale: {said}"
    assert any(line.startswith("user channel live") for line in said[stale[-1] :]), (
        "the user channel came back"
    )
