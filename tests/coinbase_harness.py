"""The harness for the Coinbase adapter against the local Coinbase-compatible exchange.

One venue over synthetic bars, a key, the app served on 127.0.0.1 (port 0), an adapter built
through the production `connect`, and the test's hands: the control API and httpx event hooks
that see what went over the wire. Shared by the adapter and reconciliation tests.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx

from coinswarm.data import synthetic_market
from coinswarm.domain.clock import Clock, WallClock
from coinswarm.domain.instrument import Instrument
from coinswarm.domain.order import OrderRequest, OrderSide, OrderType
from coinswarm.exchanges.coinbase import (
    CdpCredentials,
    CoinbaseAdapter,
    CoinbaseConfig,
    RetryPolicy,
    connect,
    parse_private_key,
)
from coinswarm.exchanges.local_coinbase import (
    CdpKey,
    KeyPermissions,
    KeyRing,
    RunningServer,
    Venue,
    create_app,
    serve_in_thread,
)

PRODUCT = "BTC-USD"
API = "/api/v3/brokerage"
ORDERS = API + "/orders"


BTC_USD = Instrument(
    symbol=PRODUCT,
    base="BTC",
    quote="USD",
    price_increment=Decimal("0.01"),
    size_increment=Decimal("0.00000001"),
    min_size=Decimal("0.00001"),
    min_notional=Decimal("1"),
)
"""Coinbase's BTC-USD increments and minimums."""


def make_venue(*, bars: int = 100, seed: int = 7, reveal: int = 1) -> Venue:
    """Return a BTC-USD venue over synthetic bars, with $100,000 and 1 BTC on the account."""
    series = synthetic_market(instrument=PRODUCT, bars=bars, seed=seed, start_price=20_000.0)
    balances = {"USD": Decimal(100_000), "BTC": Decimal(1)}
    return Venue({PRODUCT: BTC_USD}, [series], balances=balances, reveal=reveal)


class Control:
    """The test's hand on the exchange: its control API, reached through `self.control`."""

    control: httpx.Client

    def advance(self, bars: int = 1) -> None:
        assert self.control.post("/_control/advance", json={"bars": bars}).status_code == 200

    def fault(self, **fault: object) -> None:
        fault.setdefault("method", "POST")
        fault.setdefault("path", ORDERS)
        response = self.control.put("/_control/faults", json={"faults": [fault]})
        assert response.status_code == 200, response.text

    def record(self) -> dict[str, Any]:
        answer: dict[str, Any] = self.control.get("/_control/record").json()
        return answer

    def record_orders(self, client_order_id: str) -> list[dict[str, Any]]:
        """Return the exchange's own orders placed under `client_order_id`."""
        return [o for o in self.record()["orders"] if o["client_order_id"] == client_order_id]


class FakeTime:
    """A monotonic clock that moves only when someone sleeps; shared by client and server."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@dataclass
class Wire:
    """What the adapter sent and got back, seen through httpx event hooks."""

    sent: list[tuple[str, str, bytes]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)

    def on_request(self, request: httpx.Request) -> None:
        self.sent.append((request.method, request.url.path, request.content))

    def on_response(self, response: httpx.Response) -> None:
        self.statuses.append(response.status_code)

    def posts(self, path: str = ORDERS) -> list[dict[str, object]]:
        return [json.loads(body) for method, p, body in self.sent if method == "POST" and p == path]


@dataclass
class Harness(Control):
    server: RunningServer
    adapter: CoinbaseAdapter
    wire: Wire
    time: FakeTime
    control: httpx.Client
    server_log: ServerLog | None = None


def credentials(key: CdpKey) -> CdpCredentials:
    return CdpCredentials(key.name, parse_private_key(key.private_key_pem, source="test key"))


def build(
    server: RunningServer,
    key: CdpKey,
    fake: FakeTime,
    *,
    per_second: float = 1000.0,
    timeout_s: float = 5.0,
    retry: RetryPolicy | None = None,
    clock: Clock | None = None,
) -> tuple[CoinbaseAdapter, Wire]:
    wire = Wire()
    http = httpx.Client(
        base_url=server.base_url,
        timeout=timeout_s,
        event_hooks={"request": [wire.on_request], "response": [wire.on_response]},
    )
    config = CoinbaseConfig(
        base_url=server.base_url,
        requests_per_second=per_second,
        retry=retry or RetryPolicy(backoff_base_s=0.01),
    )
    adapter = connect(
        credentials(key),
        config,
        clock=clock or WallClock(),
        monotonic=fake.monotonic,
        sleep=fake.sleep,
        rng=random.Random(42),
        http=http,
    )
    return adapter, wire


@dataclass
class ServerLog:
    """Every brokerage request as the server saw it: (method, path, status, monotonic time).

    An ASGI middleware outside the whole app, so it counts 429s and faults too: the server's
    own view of how hard the client pushed.
    """

    fake: FakeTime
    seen: list[tuple[str, str, int, float]] = field(default_factory=list)

    def middleware(self, app: Any) -> Any:
        log = self

        async def logged(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] != "http" or not str(scope["path"]).startswith(API):
                await app(scope, receive, send)
                return
            arrived = log.fake.monotonic()

            async def spy(message: Any) -> None:
                if message["type"] == "http.response.start":
                    log.seen.append((scope["method"], scope["path"], message["status"], arrived))
                await send(message)

            await app(scope, receive, spy)

        return logged

    def statuses(self) -> list[int]:
        return [status for _, _, status, _ in self.seen]

    def busiest_second(self) -> int:
        """Return the most requests that arrived within any one second."""
        times = [t for *_, t in self.seen]
        return max((len([u for u in times if t <= u < t + 1.0]) for t in times), default=0)


def harness(
    key: CdpKey,
    permissions: KeyPermissions | None = None,
    *,
    server_clock: Clock | None = None,
    private_per_second: float = 30.0,
    **options: Any,
) -> Iterator[Harness]:
    """Serve a fresh exchange and yield the harness; `options` go to `build`."""
    keys = KeyRing()
    keys.add(key, permissions)
    fake = FakeTime()
    app = create_app(
        make_venue(),
        keys,
        control_api=True,
        monotonic=fake.monotonic,
        clock=server_clock,
        private_per_second=private_per_second,
    )
    log = ServerLog(fake)
    app.add_middleware(_Wrap, wrap=log.middleware)
    with serve_in_thread(app) as server, httpx.Client(base_url=server.base_url) as control:
        adapter, wire = build(server, key, fake, **options)
        with adapter:
            yield Harness(server, adapter, wire, fake, control, log)


class _Wrap:
    """Adapt a function that wraps an ASGI app to Starlette's `add_middleware` signature."""

    def __init__(self, app: Any, wrap: Any) -> None:
        self._inner = wrap(app)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self._inner(scope, receive, send)


def market_buy(cid: str, quote: str = "1000") -> OrderRequest:
    return OrderRequest(
        client_order_id=cid, instrument=PRODUCT, side=OrderSide.BUY, quote_quantity=Decimal(quote)
    )


def limit(cid: str, side: OrderSide, size: str, price: str) -> OrderRequest:
    return OrderRequest(
        client_order_id=cid,
        instrument=PRODUCT,
        side=side,
        type=OrderType.LIMIT,
        quantity=Decimal(size),
        limit_price=Decimal(price),
    )
