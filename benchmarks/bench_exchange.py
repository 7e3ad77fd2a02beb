"""Orders per second through the full door against the local Coinbase-compatible exchange,
and the p99 time from a market-data message to the order leaving the adapter.

    python benchmarks/bench_exchange.py [--orders 10000] [--limited-orders 300] [--ticks 1000]

Everything runs in this process: the local exchange (`exchanges.local_coinbase`) serves HTTPS
and WSS on 127.0.0.1 in a thread, with a generated CDP key and certificate; our
`CoinbaseAdapter` talks to it behind `RemoteVenue`, and the engine's components are wired as
`backtest.engine._wire` wires them (ledger, execution agent, context, the door with the
phase-0 risk layer). Figures only: nothing here asserts on time.

1. Door throughput: N limit buys far below the market (they rest) through `Door.submit`, then
   their cancels through `Door.cancel`, one at a time as the engine sends them. Once with the
   client's limiter out of the way, once with Coinbase's documented private limit (30
   requests a second) in our token bucket and in the exchange, to show the limiter holds.
2. Tick-to-order: the exchange reveals one bar (`/_control/advance`), its `candles` message
   reaches our `CoinbaseStream`, `CandleFeed` closes the bar, the engine's per-bar steps run
   a strategy that answers every bar with one order through the door, and an httpx request
   hook stamps the moment `POST /orders` leaves. Receipt is when `get()` hands over the event
   (the stream stamps no receive time). The order is cancelled after the stamp, untimed.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import os
import resource
import ssl
import statistics
import sys
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import httpx
import numpy as np
from fastapi import FastAPI

from coinswarm.backtest.context import EngineContext
from coinswarm.data.view import GrowingMarket
from coinswarm.domain.bar import NS_PER_HOUR, Bar, BarSeries
from coinswarm.domain.clock import Clock, WallClock
from coinswarm.domain.costs import FillModel
from coinswarm.domain.fill import Fill, Liquidity
from coinswarm.domain.instrument import Instrument
from coinswarm.domain.ledger import Ledger
from coinswarm.domain.order import Order, OrderRequest, OrderSide, OrderStatus, OrderType
from coinswarm.exchanges.coinbase import (
    CandleFeed,
    CdpCredentials,
    CoinbaseConfig,
    CoinbaseStream,
    StreamConfig,
    TokenSigner,
    connect,
)
from coinswarm.exchanges.coinbase.ws_events import (
    CandleUpdate,
    StreamMessage,
    StreamState,
    StreamStatus,
)
from coinswarm.exchanges.local_coinbase import (
    KeyRing,
    Venue,
    create_app,
)
from coinswarm.exchanges.local_coinbase.ratelimit import PRIVATE_PER_SECOND
from coinswarm.exchanges.local_coinbase.stream import StreamSettings
from coinswarm.exchanges.local_session import LOCKSTEP_REQUESTS_PER_SECOND, serve_https
from coinswarm.exchanges.remote import RemoteVenue
from coinswarm.execution.agent import ExecutionAgent
from coinswarm.execution.journal import MemoryJournal
from coinswarm.orchestration.door import Door, RiskLayer
from coinswarm.risk.account import AccountSnapshot, AccountTracker, pending_requests
from coinswarm.risk.circuit_breaker import CircuitBreaker
from coinswarm.risk.kill_switch import KillSwitch
from coinswarm.risk.oversight import OversightManager
from coinswarm.risk.profiles import profile_for
from coinswarm.strategies.base import Intent, StrategyContext

PRODUCT = "BTC-USD"
INSTRUMENT = Instrument(
    symbol=PRODUCT,
    base="BTC",
    quote="USD",
    price_increment=Decimal("0.01"),
    size_increment=Decimal("0.00000001"),
    min_size=Decimal("0.00001"),
    min_notional=Decimal("1"),
)
CASH = Decimal(100_000)
"""The roadmap's virtual $100k."""
SIZE = Decimal("0.0005")
"""About $5 an order at half of a $20k market: far inside phase 0's 25% of equity."""
HALF = Decimal("0.5")
CENT = Decimal("0.01")
ORDERS_ROUTE = "/api/v3/brokerage/orders"
GOAL_PER_SECOND = 10_000 / 60
ROADMAP_PER_SECOND = 100 / 60
GOAL_P99_NS = 5_000_000
ROADMAP_P99_NS = 100_000_000
WAIT_S = 10.0
"""The longest wait for any one thing (a message, the stream going live): never unbounded."""
FEED_PACE = StreamSettings(heartbeat_s=1.0, poll_s=0.002)
"""The exchange looks for newly revealed bars every 2 ms, so a run of ticks is not paced by
its poll; receipt, not the reveal, starts each measurement, so the poll is not in the figure."""
START_NS = 1_704_067_200 * 1_000_000_000
"""2024-01-01 00:00 UTC, the replay's first bar."""
UNLIMITED = "no limits"
NS_PER_MS = 1_000_000
NS_PER_S = 1_000_000_000


def calm_market(bars: int, seed: int) -> BarSeries:
    """Return hourly bars of a seeded random walk with 0.2% steps and narrow ranges.

    Calm on purpose: a bar that moves 10% trips the phase-0 circuit breaker, which would
    block the orders this benchmark times (`synthetic_market` has such bars, by design).
    """
    rng = np.random.default_rng(seed)
    close = np.round(20_000.0 * np.exp(np.cumsum(rng.normal(0.0, 0.002, bars))), 2)
    open_ = np.concatenate(([20_000.0], close[:-1]))
    return BarSeries(
        PRODUCT,
        NS_PER_HOUR,
        START_NS + np.arange(bars, dtype=np.int64) * NS_PER_HOUR,
        open_,
        np.round(np.maximum(open_, close) * 1.001, 2),
        np.round(np.minimum(open_, close) * 0.999, 2),
        close,
        np.full(bars, 800.0),
    )


# -- what goes over the wire ---------------------------------------------------------------------


@dataclass
class Wire:
    """Stamp every request as httpx sends it and count the answers, through event hooks."""

    requests: list[int] = field(default_factory=list)
    order_posts: list[int] = field(default_factory=list)
    order_answers: list[int] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)

    def on_request(self, request: httpx.Request) -> None:
        now = time.perf_counter_ns()
        self.requests.append(now)
        if request.method == "POST" and request.url.path == ORDERS_ROUTE:
            self.order_posts.append(now)

    def on_response(self, response: httpx.Response) -> None:
        request = response.request
        if request.method == "POST" and request.url.path == ORDERS_ROUTE:
            self.order_answers.append(time.perf_counter_ns())
        self.statuses[response.status_code] += 1

    def order_round_trips(self, first: int = 0) -> list[int]:
        """Return, for each `POST /orders` from the `first`, the time to its answer."""
        # A POST that never got an answer (a dropped connection) would shift the pairs; none
        # happens on 127.0.0.1 without faults, and a figure is no reason to crash the run.
        pairs = zip(self.order_posts[first:], self.order_answers[first:], strict=False)
        return [answer - post for post, answer in pairs]


@dataclass
class LocalExchange:
    """A running local exchange and our adapter to it, behind the engine's venue port."""

    venue: RemoteVenue
    control: httpx.Client
    wire: Wire
    ws_url: str
    ca_cert: Path
    trust: ssl.SSLContext
    credentials: CdpCredentials
    first_close: float

    def record(self) -> dict[str, list[dict[str, str]]]:
        """Return the exchange's own record of orders and fills (the control API)."""
        answer: dict[str, list[dict[str, str]]] = self.control.get("/_control/record").json()
        return answer

    def advance(self) -> None:
        response = self.control.post("/_control/advance", json={"bars": 1})
        if response.status_code != 200:
            msg = f"POST /_control/advance: expected 200, found {response.status_code}"
            raise RuntimeError(msg)


@contextlib.contextmanager
def local_exchange(
    series: BarSeries, *, client_rate: float, server_rate: float
) -> Iterator[LocalExchange]:
    """Serve `series` over HTTPS on 127.0.0.1 and yield our adapter to it.

    As `exchanges.local_session.lockstep_venue`, which yields only the venue: here the
    control API is on (to advance the replay and read the exchange's record), the client's
    and the exchange's rate limits are chosen, and httpx hooks see every request.
    """
    venue = Venue({PRODUCT: INSTRUMENT}, [series], balances={"USD": CASH}, fill_model=FillModel())

    def build(keys: KeyRing, _: str) -> FastAPI:
        return create_app(
            venue,
            keys,
            private_per_second=server_rate,
            public_per_second=server_rate,
            control_api=True,
            stream=FEED_PACE,
        )

    with contextlib.ExitStack() as stack:
        local = stack.enter_context(serve_https(build))
        server, trust = local.server, local.trust
        wire = Wire()
        hooks = {"request": [wire.on_request], "response": [wire.on_response]}
        http = httpx.Client(
            base_url=server.base_url, verify=trust, timeout=WAIT_S, event_hooks=hooks
        )
        control = stack.enter_context(
            httpx.Client(base_url=server.base_url, verify=trust, timeout=WAIT_S)
        )
        config = CoinbaseConfig(base_url=server.base_url, requests_per_second=client_rate)
        adapter = stack.enter_context(connect(local.credentials, config, http=http))
        remote = RemoteVenue(adapter)
        stack.callback(remote.close)  # its I/O thread stops before the adapter closes
        yield LocalExchange(
            remote,
            control,
            wire,
            f"wss://{server.host}",
            local.ca_file,
            trust,
            local.credentials,
            float(series.close[0]),
        )


# -- the engine's components, wired as backtest.engine._wire wires them ----------------------------


class Stamped:
    """The venue port passed through, stamping when each order enters the adapter."""

    def __init__(self, inner: RemoteVenue) -> None:
        self.name = inner.name
        self._inner = inner
        self.entered: list[int] = []

    def instruments(self) -> Mapping[str, Instrument]:
        return self._inner.instruments()

    def place_order(self, request: OrderRequest) -> Order:
        self.entered.append(time.perf_counter_ns())
        return self._inner.place_order(request)

    def cancel_order(self, order_id: str) -> Order:
        return self._inner.cancel_order(order_id)

    def get_order(self, order_id: str) -> Order:
        return self._inner.get_order(order_id)

    def open_orders(self, instrument: str | None = None) -> Sequence[Order]:
        return self._inner.open_orders(instrument)

    def open_order_count(self) -> int:
        return self._inner.open_order_count()

    def list_fills(self, *, since_ts: int | None = None) -> Sequence[Fill]:
        return self._inner.list_fills(since_ts=since_ts)

    def balances(self) -> Mapping[str, Decimal]:
        return self._inner.balances()

    def on_bar(self, bar: Bar) -> Sequence[Fill]:
        return self._inner.on_bar(bar)

    def has_resting(self, instrument: str) -> bool:
        return self._inner.has_resting(instrument)

    def settle(self) -> Sequence[Fill]:
        return self._inner.settle()


@dataclass
class Engine:
    """The components one live session holds, between the feed and the venue."""

    door: Door
    execution: ExecutionAgent
    context: EngineContext
    market: GrowingMarket
    venue: Stamped


def wire_engine(venue: RemoteVenue, clock: Clock) -> Engine:
    """Wire ledger, execution agent, context and the door with the phase-0 risk layer."""
    instruments = {PRODUCT: INSTRUMENT}
    ledger = Ledger(instruments, INSTRUMENT.quote)
    ledger.deposit(INSTRUMENT.quote, CASH, clock.now_ns(), "initial cash")
    journal = MemoryJournal()
    stamped = Stamped(venue)
    execution = ExecutionAgent(stamped, ledger, clock, journal)
    profile = profile_for(0)
    market = GrowingMarket([PRODUCT], {})
    context = EngineContext(
        clock,
        market.view,
        ledger=ledger,
        instruments=instruments,
        resting=stamped.has_resting,
        position_limit=float(profile.max_position_fraction),
        journal=journal,
    )
    tracker = AccountTracker(CASH)

    def account() -> AccountSnapshot:
        marks = context.marks()
        return tracker.snapshot(
            ts=clock.now_ns(),
            equity=ledger.equity(marks),
            cash=ledger.cash(),
            positions={s: p.quantity for s, p in ledger.positions.items()},
            marks=marks,
            pending=pending_requests(stamped.open_orders()),  # as the engine's door does
        )

    fee_rate = FillModel().fees.rate(Liquidity.TAKER)
    risk = RiskLayer(
        oversight=OversightManager(profile, fee_rate=fee_rate),
        breaker=CircuitBreaker(profile.breaker),
        kill_switch=KillSwitch(profile),
        account=account,
        tracker=tracker,
    )
    door = Door(execution, risk, clock=clock, journal=journal)
    return Engine(door, execution, context, market, stamped)


def resting_buy(client_order_id: str, mark: Decimal) -> OrderRequest:
    """Return a small limit buy at half the market: it rests until cancelled."""
    return OrderRequest(
        client_order_id=client_order_id,
        instrument=PRODUCT,
        side=OrderSide.BUY,
        type=OrderType.LIMIT,
        quantity=SIZE,
        limit_price=(mark * HALF).quantize(CENT),
    )


# -- 1. door throughput ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordCheck:
    """The client order ids the door sent against those in the exchange's own record."""

    sent: tuple[str, ...]
    at_exchange: tuple[str, ...]
    statuses: tuple[tuple[str, int], ...]

    @property
    def matches(self) -> bool:
        return self.sent == self.at_exchange and self.statuses == (("CANCELLED", len(self.sent)),)

    def describe(self) -> str:
        states = ", ".join(f"{n:,} {s.lower()}" for s, n in self.statuses) or "none"
        verdict = "matches" if self.matches else "DIFFERS"
        return f"{len(self.at_exchange):,} at the exchange ({states}), {verdict}"


def check_record(exchange: LocalExchange, sent: Sequence[str]) -> RecordCheck:
    rows = exchange.record()["orders"]
    statuses = Counter(row["status"] for row in rows)
    return RecordCheck(
        tuple(sorted(sent)),
        tuple(sorted(row["client_order_id"] for row in rows)),
        tuple(sorted(statuses.items())),
    )


@dataclass(frozen=True)
class DoorRun:
    """One throughput run: what was sent, how long each step took, what the wire saw."""

    label: str
    submit_ns: tuple[int, ...]
    cancel_ns: tuple[int, ...]
    submit_total_ns: int
    cancel_total_ns: int
    requests: tuple[int, ...]
    round_trips: tuple[int, ...]
    refused: tuple[str, ...]
    too_many: int
    record: RecordCheck

    @property
    def orders_per_second(self) -> float:
        return len(self.submit_ns) * NS_PER_S / max(self.submit_total_ns, 1)

    @property
    def cancels_per_second(self) -> float:
        return len(self.cancel_ns) * NS_PER_S / max(self.cancel_total_ns, 1)

    @property
    def steady_requests_per_second(self) -> float:
        """Return the request rate over the run's second half, past any initial burst."""
        half = self.requests[len(self.requests) // 2 :]
        span = half[-1] - half[0] if len(half) > 1 else 0
        return (len(half) - 1) * NS_PER_S / span if span else 0.0


@dataclass
class Tally:
    """What a throughput run has seen so far."""

    submits: list[int] = field(default_factory=list)
    cancels: list[int] = field(default_factory=list)
    placed: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    submit_total_ns: int = 0
    cancel_total_ns: int = 0


def submit_all(engine: Engine, requests: Sequence[OrderRequest], tally: Tally) -> list[Order]:
    """Submit each request through the door, one at a time; return those left resting."""
    placed = []
    start = time.perf_counter_ns()
    for request in requests:
        began = time.perf_counter_ns()
        order = engine.door.submit(request)
        tally.submits.append(time.perf_counter_ns() - began)
        if order.status is OrderStatus.OPEN:
            placed.append(order)
        else:
            tally.refused.append(f"{request.client_order_id}: {order.status} {order.reject_reason}")
    tally.submit_total_ns += time.perf_counter_ns() - start
    tally.placed += [order.client_order_id for order in placed]
    return placed


def cancel_all(engine: Engine, placed: Sequence[Order], tally: Tally) -> None:
    start = time.perf_counter_ns()
    for order in placed:
        began = time.perf_counter_ns()
        engine.door.cancel(order.order_id)
        tally.cancels.append(time.perf_counter_ns() - began)
    tally.cancel_total_ns += time.perf_counter_ns() - start


def door_throughput(
    label: str, exchange: LocalExchange, orders: int, batch: int | None = None
) -> DoorRun:
    """Send `orders` resting buys through the door, then cancel them; time every call.

    With `batch`, send that many, cancel them, and go on: the exchange's book stays small.
    """
    engine = wire_engine(exchange.venue, WallClock())
    engine.context.closes[PRODUCT] = exchange.first_close
    mark = engine.context.mark(PRODUCT)
    first_request, first_post = len(exchange.wire.requests), len(exchange.wire.order_posts)
    requests = [resting_buy(f"bench-{index:06d}", mark) for index in range(orders)]
    tally, size = Tally(), batch or max(orders, 1)
    for start in range(0, orders, size):
        cancel_all(engine, submit_all(engine, requests[start : start + size], tally), tally)
    return DoorRun(
        label,
        tuple(tally.submits),
        tuple(tally.cancels),
        tally.submit_total_ns,
        tally.cancel_total_ns,
        tuple(exchange.wire.requests[first_request:]),
        tuple(exchange.wire.order_round_trips(first_post)),
        tuple(tally.refused),
        exchange.wire.statuses[429],
        check_record(exchange, tally.placed),
    )


def busiest_second(stamps: Sequence[int]) -> int:
    """Return the most requests sent within any one second (a sliding window)."""
    most, first = 0, 0
    for last, stamp in enumerate(stamps):
        while stamp - stamps[first] >= NS_PER_S:
            first += 1
        most = max(most, last - first + 1)
    return most


# -- 2. tick-to-order ------------------------------------------------------------------------------


class AnswerEveryBar:
    """Ask for one resting buy on every bar: the cheapest decision that still trades."""

    name = "answer-every-bar"

    def on_bar(self, bar: Bar, context: StrategyContext) -> Sequence[Intent]:
        mark = context.mark(bar.instrument)
        return [resting_buy(context.next_client_order_id(bar.instrument), mark)]


@dataclass(frozen=True)
class Tick:
    """The moments of one tick, in perf_counter nanoseconds (`exchange_ns`: wall, at send)."""

    received: int
    entered_adapter: int
    sent: int
    answered: int
    exchange_to_get_ns: int


@dataclass(frozen=True)
class TickRun:
    ticks: tuple[Tick, ...]
    refused: tuple[str, ...]
    record: RecordCheck


def stream_to(
    exchange: LocalExchange, config: StreamConfig, signer: TokenSigner
) -> tuple[CoinbaseStream, contextlib.AbstractContextManager[None]]:
    """Return a stream that trusts the local exchange's certificate, and what to hold while
    it connects.

    A `CoinbaseStream` that takes an `ssl` context is given ours; an older one only trusts
    the system's store, so the local CA is put there through OpenSSL's SSL_CERT_FILE.
    """
    if "ssl" in inspect.signature(CoinbaseStream).parameters:
        stream = CoinbaseStream(config, signer=signer, ssl=exchange.trust)
        return stream, contextlib.nullcontext()
    return CoinbaseStream(config, signer=signer), trusting(exchange.ca_cert)


@contextlib.contextmanager
def trusting(ca_cert: Path) -> Iterator[None]:
    """Trust `ca_cert` in default TLS contexts (OpenSSL reads SSL_CERT_FILE) for a while."""
    before = os.environ.get("SSL_CERT_FILE")
    os.environ["SSL_CERT_FILE"] = str(ca_cert)
    try:
        yield
    finally:
        if before is None:
            del os.environ["SSL_CERT_FILE"]
        else:
            os.environ["SSL_CERT_FILE"] = before


def open_stream(exchange: LocalExchange) -> CoinbaseStream:
    """Subscribe to the exchange's candles over WSS and wait until the stream is live."""
    config = StreamConfig(
        url=exchange.ws_url,
        product_ids=(PRODUCT,),
        channels=("candles",),
        silence_s=WAIT_S,
        max_attempts=0,
        open_timeout_s=WAIT_S,
        poll_s=0.05,
    )
    stream, trust = stream_to(exchange, config, TokenSigner(exchange.credentials, WallClock()))
    with trust:
        stream.start()
        deadline = time.monotonic() + WAIT_S
        while stream.state is not StreamState.LIVE:
            if time.monotonic() > deadline:
                stream.close()
                msg = f"the candles stream at {exchange.ws_url} was not live within {WAIT_S} s"
                raise TimeoutError(msg)
            event = stream.get(0.05)
            if isinstance(event, StreamStatus) and event.state is StreamState.CLOSED:
                msg = f"the candles stream at {exchange.ws_url} closed: {event.reason}"
                raise RuntimeError(msg)
    return stream


def next_candles(stream: CoinbaseStream) -> tuple[int, int, StreamMessage, CandleUpdate]:
    """Wait for the next candles message; return (receipt, wall time, message, candles)."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        event = stream.get(0.5)
        received, wall = time.perf_counter_ns(), time.time_ns()
        if isinstance(event, StreamMessage) and isinstance(event.payload, CandleUpdate):
            return received, wall, event, event.payload
    msg = f"no candles message within {WAIT_S} s"
    raise TimeoutError(msg)


def step(engine: Engine, bar: Bar, strategy: AnswerEveryBar) -> list[Order]:
    """Do what `backtest.engine._Step` does with a new bar of a live session."""
    engine.market.append(bar)
    engine.context.closes[bar.instrument] = bar.close
    fills = engine.venue.on_bar(bar)
    if fills:
        engine.execution.on_fills(fills)
    engine.door.on_bar(bar)
    return [engine.door.submit(i) for i in strategy.on_bar(bar, engine.context)]


def tick_to_order(exchange: LocalExchange, ticks: int) -> TickRun:
    """Reveal bars one at a time and time `ticks` of them from message to the order's POST.

    A candle is final only when the next one starts, so each reveal's message closes the bar
    before it; the first reveal only opens a candle and is not timed.
    """
    engine = wire_engine(exchange.venue, WallClock())
    strategy, feed = AnswerEveryBar(), CandleFeed()
    samples: list[Tick] = []
    sent: list[str] = []
    refused: list[str] = []
    stream = open_stream(exchange)
    try:
        for _ in range(ticks + 2):
            if len(samples) == ticks:
                break
            exchange.advance()
            received, wall, message, candles = next_candles(stream)
            for bar in feed.on_candles(candles):
                orders = step(engine, bar, strategy)
                tick = settle(engine, exchange.wire, orders, received, wall - message.ts)
                if tick is not None:
                    samples.append(tick)
                sent += [o.client_order_id for o in orders if o.status is OrderStatus.OPEN]
                refused += [
                    f"{o.client_order_id}: {o.reject_reason}" for o in orders if not o.is_live
                ]
    finally:
        stream.close()
    return TickRun(tuple(samples), tuple(refused), check_record(exchange, sent))


def settle(
    engine: Engine, wire: Wire, orders: Sequence[Order], received: int, delivery_ns: int
) -> Tick | None:
    """Stamp the tick that made `orders`, then cancel them (untimed) so none rest on."""
    answered = time.perf_counter_ns()
    placed = [order for order in orders if order.status is OrderStatus.OPEN]
    tick = None
    if len(placed) == 1:
        entered, posted = engine.venue.entered[-1], wire.order_posts[-1]
        tick = Tick(received, entered, posted, answered, delivery_ns)
    for order in placed:
        engine.door.cancel(order.order_id)
    return tick


# -- printing --------------------------------------------------------------------------------------


def percentile(values: Sequence[int], fraction: float) -> int:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def ms(ns: float) -> str:
    return f"{ns / NS_PER_MS:.2f}"


def met(ok: bool) -> str:
    return "met" if ok else "missed"


def print_door(runs: Sequence[DoorRun]) -> None:
    print("door throughput: submit N resting limit buys through Door.submit, then cancel each")
    print("(HTTPS on 127.0.0.1, ES256 JWT per request, phase-0 risk layer, one thread)")
    head = (
        f"{'run':<30}{'orders':>8}{'orders/s':>10}{'cancels/s':>11}{'req/s 2nd half':>16}"
        f"{'max req/1s':>12}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}"
        f"{'POST p50':>10}{'POST p99':>10}{'429s':>6}  record"
    )
    print(head)
    for run in runs:
        submit, posts = run.submit_ns or (0,), run.round_trips or (0,)
        print(
            f"{run.label:<30}{len(run.submit_ns):>8,}{run.orders_per_second:>10.1f}"
            f"{run.cancels_per_second:>11.1f}{run.steady_requests_per_second:>16.1f}"
            f"{busiest_second(run.requests):>12,}{ms(percentile(submit, 0.5)):>8}"
            f"{ms(percentile(submit, 0.99)):>8}{ms(max(submit)):>8}"
            f"{ms(percentile(posts, 0.5)):>10}{ms(percentile(posts, 0.99)):>10}{run.too_many:>6}"
            f"  {run.record.describe()}"
        )
        for reason in run.refused[:3]:
            print(f"  refused: {reason}")
    print("  POST: from `POST /orders` leaving to its answer (the exchange and the wire)")
    for run in runs:
        if run.label.startswith(UNLIMITED):
            rate = run.orders_per_second
            print(
                f"  {run.label}: goal 10,000 orders/min ({GOAL_PER_SECOND:.0f}/s)"
                f" {met(rate >= GOAL_PER_SECOND)} ({rate * 60:,.0f}/min);"
                f" roadmap 100 trades/min {met(rate >= ROADMAP_PER_SECOND)}"
            )


def print_ticks(run: TickRun) -> None:
    print("tick-to-order: candles message from get() to POST /orders leaving the adapter")
    if not run.ticks:
        print("  no ticks measured")
        return
    total = [t.sent - t.received for t in run.ticks]
    parts = {
        "tick-to-order": total,
        "  decision (feed, strategy, door)": [t.entered_adapter - t.received for t in run.ticks],
        "  adapter (round, sign, httpx)": [t.sent - t.entered_adapter for t in run.ticks],
        "round trip (POST to answer)": [t.answered - t.sent for t in run.ticks],
        "exchange send to get()": [t.exchange_to_get_ns for t in run.ticks],
    }
    print(
        f"{'over ' + format(len(total), ',') + ' ticks':<36}{'p50 ms':>8}{'p99 ms':>8}"
        f"{'max ms':>8}{'mean ms':>9}{'share':>7}"
    )
    mean_total = statistics.fmean(total)
    for name, values in parts.items():
        share = statistics.fmean(values) / mean_total if name.startswith("  ") else None
        print(
            f"{name:<36}{ms(percentile(values, 0.5)):>8}{ms(percentile(values, 0.99)):>8}"
            f"{ms(max(values)):>8}{ms(statistics.fmean(values)):>9}"
            f"{'' if share is None else f'{share:.0%}':>7}"
        )
    p99 = percentile(total, 0.99)
    print(
        f"  roadmap market data < 100 ms: {met(p99 < ROADMAP_P99_NS)};"
        f" goal p99 tick-to-order < 5 ms: {met(p99 < GOAL_P99_NS)}"
    )
    print(f"  exchange record: {run.record.describe()}")
    for reason in run.refused[:3]:
        print(f"  refused: {reason}")


def peak_memory_mb() -> float:
    # Linux reports ru_maxrss in KiB; the exchange runs in this process, so it is included.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- main ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Report:
    door: tuple[DoorRun, ...]
    ticks: TickRun
    peak_mb: float


def measure(args: argparse.Namespace) -> Report:
    series = calm_market(args.ticks + 3, args.seed)
    unlimited, limit = LOCKSTEP_REQUESTS_PER_SECOND, PRIVATE_PER_SECOND
    runs = []
    for label, orders, client, server, batch in (
        (f"{UNLIMITED}, {args.orders:,} resting", args.orders, unlimited, unlimited, None),
        (f"{UNLIMITED}, {args.batch:,} at a time", args.orders, unlimited, unlimited, args.batch),
        (f"client {limit:.0f}/s, exchange open", args.limited_orders, limit, unlimited, None),
        (f"client {limit:.0f}/s, exchange {limit:.0f}/s", args.limited_orders, limit, limit, None),
    ):
        if orders:
            with local_exchange(series, client_rate=client, server_rate=server) as exchange:
                runs.append(door_throughput(label, exchange, orders, batch))
    with local_exchange(
        series, client_rate=LOCKSTEP_REQUESTS_PER_SECOND, server_rate=LOCKSTEP_REQUESTS_PER_SECOND
    ) as exchange:
        ticks = tick_to_order(exchange, args.ticks)
    return Report(tuple(runs), ticks, peak_memory_mb())


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--orders", type=int, default=10_000, help="orders with no client limit")
    parser.add_argument(
        "--limited-orders", type=int, default=300, help="orders under the 30/s token bucket"
    )
    parser.add_argument(
        "--batch", type=int, default=500, help="orders resting at once in the batched run"
    )
    parser.add_argument("--ticks", type=int, default=1_000, help="market-data messages to time")
    parser.add_argument("--seed", type=int, default=7, help="seed of the calm random walk")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None, *, sink: list[Report] | None = None) -> int:
    """Measure, print the figures, and hand the report to `sink` (the smoke test reads it)."""
    report = measure(parse(argv))
    print_door(report.door)
    print_ticks(report.ticks)
    print(f"peak memory (RSS, this process with the exchange in it): {report.peak_mb:,.0f} MB")
    if sink is not None:
        sink.append(report)
    consistent = all(run.record.matches for run in report.door) and report.ticks.record.matches
    return 0 if consistent else 1


if __name__ == "__main__":
    sys.exit(main())
