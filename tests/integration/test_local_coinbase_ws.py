"""The local Coinbase exchange's websocket feed over ws:// and wss:// on 127.0.0.1.

Subscribe messages and their tokens are built here from Coinbase's docs, not from the
server's code; a last test drives the feed with the official SDK's `WSClient`. Every wait is
bounded, and heartbeats are paced at 50 ms so the tests stay fast.
"""

from __future__ import annotations

import asyncio
import json
import queue
import secrets
import ssl
import time
from collections.abc import Awaitable, Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import websockets
from cryptography.hazmat.primitives import serialization
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect

from coinbase_harness import make_venue
from coinswarm.exchanges.local_coinbase import (
    CdpKey,
    KeyRing,
    RunningServer,
    Venue,
    create_app,
    generate_key,
    make_tls_files,
    serve_in_thread,
)
from coinswarm.exchanges.local_coinbase.stream import StreamSettings

PRODUCT = "BTC-USD"
API = "/api/v3/brokerage"
SCENARIO_TIMEOUT_S = 10.0
WAIT_S = 3.0
FAST = StreamSettings(heartbeat_s=0.05, poll_s=0.01)

Message = dict[str, Any]


def ws_token(key: CdpKey, *, now: int | None = None) -> str:
    """Sign a websocket token as Coinbase documents it: no `uri` claim, two minutes of life."""
    issued = int(time.time()) if now is None else now
    claims = {"sub": key.name, "iss": "cdp", "nbf": issued, "exp": issued + 120}
    private = serialization.load_pem_private_key(key.private_key_pem.encode(), password=None)
    headers = {"kid": key.name, "nonce": secrets.token_hex()}
    return jwt.encode(claims, private, algorithm="ES256", headers=headers)  # type: ignore[arg-type]


def rest_token(key: CdpKey, method: str, host: str, path: str) -> str:
    issued = int(time.time())
    claims = {
        "sub": key.name,
        "iss": "cdp",
        "nbf": issued,
        "exp": issued + 120,
        "uri": f"{method} {host}{path}",
    }
    private = serialization.load_pem_private_key(key.private_key_pem.encode(), password=None)
    headers = {"kid": key.name, "nonce": secrets.token_hex()}
    return jwt.encode(claims, private, algorithm="ES256", headers=headers)  # type: ignore[arg-type]


class Exchange:
    """A running local exchange, its venue, and a synchronous hand on REST and control."""

    def __init__(self, server: RunningServer, venue: Venue, key: CdpKey) -> None:
        self.server = server
        self.venue = venue
        self.key = key
        verify: ssl.SSLContext | bool = True
        self.ssl: ssl.SSLContext | None = None
        if server.tls is not None:
            self.ssl = ssl.create_default_context(cafile=str(server.tls.ca_cert))
            verify = self.ssl
        self.http = httpx.Client(base_url=server.base_url, verify=verify, timeout=5.0)
        self.ws_url = ("wss://" if server.tls else "ws://") + server.host

    def control(self, method: str, path: str, body: object = None) -> None:
        response = self.http.request(method, "/_control" + path, json=body)
        assert response.status_code == 200, response.text

    def advance(self, bars: int = 1) -> None:
        self.control("POST", "/advance", {"bars": bars})

    def ws_faults(self, *faults: dict[str, object]) -> None:
        self.control("PUT", "/ws_faults", {"faults": list(faults)})

    def order(self, body: dict[str, object]) -> str:
        bearer = rest_token(self.key, "POST", self.server.host, API + "/orders")
        response = self.http.post(
            API + "/orders", json=body, headers={"Authorization": f"Bearer {bearer}"}
        )
        assert response.status_code == 200, response.text
        order_id: str = response.json()["success_response"]["order_id"]
        return order_id

    def connect(self) -> Any:
        return ws_connect(self.ws_url, ssl=self.ssl, open_timeout=WAIT_S, close_timeout=1)


def market_buy(client_order_id: str) -> dict[str, object]:
    return {
        "client_order_id": client_order_id,
        "product_id": PRODUCT,
        "side": "BUY",
        "order_configuration": {"market_market_ioc": {"quote_size": "1000"}},
    }


def limit_buy(client_order_id: str) -> dict[str, object]:
    return {
        "client_order_id": client_order_id,
        "product_id": PRODUCT,
        "side": "BUY",
        "order_configuration": {"limit_limit_gtc": {"base_size": "0.01", "limit_price": "1000.00"}},
    }


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    """Run one async scenario with a hard time limit."""

    async def bounded() -> None:
        await asyncio.wait_for(scenario(), SCENARIO_TIMEOUT_S)

    asyncio.run(bounded())


async def send(ws: ClientConnection, kind: str, channel: str, **extra: object) -> None:
    await ws.send(json.dumps({"type": kind, "channel": channel, **extra}))


async def subscribe(ws: ClientConnection, channel: str, **extra: object) -> None:
    await send(ws, "subscribe", channel, **extra)


async def receive(ws: ClientConnection, timeout: float = WAIT_S) -> Message:
    message: Message = json.loads(await asyncio.wait_for(ws.recv(), timeout))
    return message


async def until(
    ws: ClientConnection, wanted: Callable[[Message], bool], timeout: float = WAIT_S
) -> list[Message]:
    """Read messages until one is `wanted`; return them all, the wanted one last."""
    seen: list[Message] = []
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        left = deadline - asyncio.get_running_loop().time()
        seen.append(await receive(ws, max(left, 0.001)))
        if wanted(seen[-1]):
            return seen


async def drain(ws: ClientConnection, *, quiet_s: float) -> list[Message]:
    """Read until the socket has been quiet for `quiet_s`; the scenario timeout bounds it."""
    seen: list[Message] = []
    while True:
        try:
            seen.append(await receive(ws, quiet_s))
        except TimeoutError:
            return seen


def on(channel: str, kind: str | None = None) -> Callable[[Message], bool]:
    def check(message: Message) -> bool:
        if message.get("channel") != channel:
            return False
        return kind is None or message["events"][0].get("type") == kind

    return check


def sequence(messages: list[Message]) -> list[int]:
    return [m["sequence_num"] for m in messages]


@pytest.fixture
def key() -> CdpKey:
    return generate_key()


def _serve(key: CdpKey, tls_dir: Path | None) -> Iterator[Exchange]:
    keys = KeyRing()
    keys.add(key)
    venue = make_venue(bars=50)
    tls = make_tls_files(tls_dir) if tls_dir is not None else None
    app = create_app(venue, keys, control_api=True, stream=FAST)
    with serve_in_thread(app, tls=tls) as server:
        exchange = Exchange(server, venue, key)
        yield exchange
        exchange.http.close()


@pytest.fixture(params=["ws", "wss"])
def any_exchange(request: pytest.FixtureRequest, key: CdpKey, tmp_path: Path) -> Iterator[Exchange]:
    yield from _serve(key, tmp_path if request.param == "wss" else None)


@pytest.fixture
def exchange(key: CdpKey) -> Iterator[Exchange]:
    yield from _serve(key, None)


# -- heartbeats and subscriptions --------------------------------------------------------------


def test_heartbeats_arrive_with_increasing_sequence_numbers(any_exchange: Exchange) -> None:
    async def scenario() -> None:
        async with any_exchange.connect() as ws:
            await subscribe(ws, "heartbeats")
            confirmation = await receive(ws)
            assert confirmation["channel"] == "subscriptions"
            assert confirmation["events"] == [{"subscriptions": {"heartbeats": []}}]
            beats = [await receive(ws) for _ in range(4)]
        assert all(b["channel"] == "heartbeats" for b in beats)
        assert sequence([confirmation, *beats]) == [0, 1, 2, 3, 4]
        counters = [b["events"][0]["heartbeat_counter"] for b in beats]
        assert counters == sorted(counters)
        assert len(set(counters)) == 4
        assert {"channel", "client_id", "timestamp", "sequence_num", "events"} <= set(beats[0])

    run(scenario)


def test_unsubscribe_stops_a_channel(exchange: Exchange) -> None:
    async def scenario() -> None:
        async with exchange.connect() as ws:
            await subscribe(ws, "heartbeats")
            await until(ws, on("heartbeats"))
            await send(ws, "unsubscribe", "heartbeats")
            confirmed = await until(ws, on("subscriptions"))
            assert confirmed[-1]["events"] == [{"subscriptions": {}}]
            with pytest.raises(TimeoutError):
                await receive(ws, timeout=0.3)

    run(scenario)


def test_a_bad_request_gets_an_error_and_the_socket_stays_open(exchange: Exchange) -> None:
    async def scenario() -> None:
        async with exchange.connect() as ws:
            await subscribe(ws, "ticker", product_ids=["DOGE-USD"])
            assert (await receive(ws))["type"] == "error"
            await send(ws, "subscribe", "nonsense")
            assert (await receive(ws))["type"] == "error"
            await subscribe(ws, "heartbeats")
            assert (await receive(ws))["sequence_num"] == 0

    run(scenario)


# -- market data ----------------------------------------------------------------------------------


def test_ticker_and_candles_follow_the_replay(any_exchange: Exchange) -> None:
    venue = any_exchange.venue

    async def scenario() -> None:
        async with any_exchange.connect() as ws:
            await subscribe(ws, "ticker", product_ids=[PRODUCT])
            snapshot = (await until(ws, on("ticker", "snapshot")))[-1]
            first = venue.last_bar(PRODUCT)
            assert first is not None
            ticker = snapshot["events"][0]["tickers"][0]
            assert Decimal(ticker["price"]) == Decimal(repr(first.close))
            assert Decimal(ticker["best_bid"]) < Decimal(ticker["price"])
            assert Decimal(ticker["best_ask"]) > Decimal(ticker["price"])
            await subscribe(ws, "candles", product_ids=[PRODUCT])
            await until(ws, on("candles", "snapshot"))

            any_exchange.advance()
            bar = venue.last_bar(PRODUCT)
            assert bar is not None
            seen = await until(ws, on("candles", "update"))
            tickers = [m for m in seen if on("ticker", "update")(m)]
            assert len(tickers) == 1
            assert Decimal(tickers[0]["events"][0]["tickers"][0]["price"]) == Decimal(
                repr(bar.close)
            )
            candle = seen[-1]["events"][0]["candles"][0]
            assert candle["start"] == str(bar.ts // 1_000_000_000)
            assert candle["product_id"] == PRODUCT
            assert Decimal(candle["close"]) == Decimal(repr(bar.close))

    run(scenario)


def test_a_multi_bar_advance_pushes_every_bar(exchange: Exchange) -> None:
    async def scenario() -> None:
        async with exchange.connect() as ws:
            await subscribe(ws, "candles", product_ids=[PRODUCT])
            await until(ws, on("candles", "snapshot"))
            exchange.advance(3)
            updates = [await receive(ws) for _ in range(3)]
        starts = [int(m["events"][0]["candles"][0]["start"]) for m in updates]
        assert starts == sorted(starts)
        assert len(set(starts)) == 3
        assert sequence(updates) == list(range(sequence(updates)[0], sequence(updates)[0] + 3))

    run(scenario)


def test_level2_sends_a_snapshot_then_updates_that_keep_the_book(exchange: Exchange) -> None:
    async def scenario() -> None:
        async with exchange.connect() as ws:
            await subscribe(ws, "level2", product_ids=[PRODUCT])
            snapshot = (await until(ws, on("l2_data", "snapshot")))[-1]["events"][0]
            book = {(u["side"], u["price_level"]): u["new_quantity"] for u in snapshot["updates"]}
            assert len(book) == 10
            exchange.advance()
            update = (await until(ws, on("l2_data", "update")))[-1]["events"][0]
            assert update["product_id"] == PRODUCT
            for level in update["updates"]:
                book[level["side"], level["price_level"]] = level["new_quantity"]
            live = {k: v for k, v in book.items() if Decimal(v) > 0}
            assert len(live) == 10
            best_bid = max(Decimal(p) for s, p in live if s == "bid")
            best_ask = min(Decimal(p) for s, p in live if s == "offer")
            bar = exchange.venue.last_bar(PRODUCT)
            assert bar is not None
            assert best_bid < Decimal(repr(bar.close)) < best_ask

    run(scenario)


# -- the user channel ------------------------------------------------------------------------------


def test_user_channel_sends_a_snapshot_then_order_and_fill_updates(any_exchange: Exchange) -> None:
    async def scenario() -> None:
        async with any_exchange.connect() as ws:
            resting = any_exchange.order(limit_buy("u-0"))
            await subscribe(ws, "user", jwt=ws_token(any_exchange.key))
            snapshot = (await until(ws, on("user", "snapshot")))[-1]["events"][0]
            assert [o["order_id"] for o in snapshot["orders"]] == [resting]
            assert snapshot["orders"][0]["leaves_quantity"] == "0.01"

            order_id = any_exchange.order(market_buy("u-1"))
            placed = (await until(ws, on("user", "update")))[-1]["events"][0]["orders"][0]
            assert placed["order_id"] == order_id
            assert placed["client_order_id"] == "u-1"
            assert placed["status"] in {"PENDING", "OPEN"}

            any_exchange.advance()
            filled = (await until(ws, on("user", "update")))[-1]["events"][0]["orders"][0]
            assert filled["order_id"] == order_id
            assert filled["status"] == "FILLED"
            assert filled["number_of_fills"] == "1"
            assert Decimal(filled["cumulative_quantity"]) > 0

    run(scenario)


@pytest.mark.parametrize("spoil", ["missing", "forged", "garbage", "expired"])
def test_a_bad_jwt_gets_an_error_and_the_socket_is_closed(exchange: Exchange, spoil: str) -> None:
    tokens: dict[str, object] = {
        "forged": ws_token(generate_key(exchange.key.name)),
        "garbage": "not-a-token",
        "expired": ws_token(exchange.key, now=int(time.time()) - 600),
    }

    async def scenario() -> None:
        async with exchange.connect() as ws:
            extra = {"jwt": tokens[spoil]} if spoil in tokens else {}
            await subscribe(ws, "user", **extra)
            error = await receive(ws)
            assert error["type"] == "error"
            assert "authentication failure" in error["message"]
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await receive(ws)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 1008

    run(scenario)


def test_a_market_channel_with_a_bad_jwt_is_refused_too(exchange: Exchange) -> None:
    async def scenario() -> None:
        async with exchange.connect() as ws:
            await subscribe(ws, "ticker", product_ids=[PRODUCT], jwt="not-a-token")
            assert (await receive(ws))["type"] == "error"
            with pytest.raises(websockets.ConnectionClosed):
                await receive(ws)

    run(scenario)


# -- faults --------------------------------------------------------------------------------------


def test_a_drop_fault_closes_the_socket(exchange: Exchange) -> None:
    async def scenario() -> None:
        async with exchange.connect() as ws:
            await subscribe(ws, "heartbeats")
            await until(ws, on("heartbeats"))
            exchange.ws_faults({"kind": "drop", "channel": "heartbeats"})
            with pytest.raises(websockets.ConnectionClosedError) as closed:
                await until(ws, lambda _: False)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 1011

    run(scenario)


def test_stopped_heartbeats_leave_a_silence_and_a_counter_gap(exchange: Exchange) -> None:
    async def scenario() -> None:
        async with exchange.connect() as ws:
            await subscribe(ws, "heartbeats")
            before = (await until(ws, on("heartbeats")))[-1]
            exchange.ws_faults({"kind": "stop_heartbeats", "times": None})
            # Beats already in flight when the fault landed may still arrive; then silence.
            await drain(ws, quiet_s=0.4)
            exchange.control("DELETE", "/ws_faults")
            after = (await until(ws, on("heartbeats")))[-1]
        gap = after["events"][0]["heartbeat_counter"] - before["events"][0]["heartbeat_counter"]
        assert gap > 3
        # Silence is not loss: no sequence number was spent on a swallowed beat.
        assert after["sequence_num"] - before["sequence_num"] < gap

    run(scenario)


def test_a_skipped_sequence_number_leaves_a_gap_of_one(exchange: Exchange) -> None:
    async def scenario() -> None:
        async with exchange.connect() as ws:
            await subscribe(ws, "heartbeats")
            last = (await until(ws, on("heartbeats")))[-1]
            exchange.ws_faults({"kind": "skip_sequence", "channel": "heartbeats"})
            beats = [last, *[await receive(ws) for _ in range(5)]]
        steps = [b - a for a, b in zip(sequence(beats), sequence(beats)[1:], strict=False)]
        assert sorted(steps) == [1, 1, 1, 1, 2]

    run(scenario)


def test_a_duplicate_fault_sends_a_user_message_twice(exchange: Exchange) -> None:
    async def scenario() -> None:
        async with exchange.connect() as ws:
            await subscribe(ws, "user", jwt=ws_token(exchange.key))
            await until(ws, on("user", "snapshot"))
            exchange.ws_faults({"kind": "duplicate", "channel": "user"})
            exchange.order(limit_buy("d-1"))
            first = (await until(ws, on("user", "update")))[-1]
            second = await receive(ws)
        assert second == first

    run(scenario)


def test_a_reorder_fault_swaps_two_user_messages(exchange: Exchange) -> None:
    async def scenario() -> None:
        async with exchange.connect() as ws:
            await subscribe(ws, "user", jwt=ws_token(exchange.key))
            await until(ws, on("user", "snapshot"))
            exchange.ws_faults({"kind": "reorder", "channel": "user"})
            exchange.order(limit_buy("r-1"))
            await asyncio.sleep(0.1)
            exchange.order(limit_buy("r-2"))
            first = (await until(ws, on("user", "update")))[-1]
            second = await receive(ws)
        assert first["sequence_num"] == second["sequence_num"] + 1
        ids = [m["events"][0]["orders"][0]["client_order_id"] for m in (first, second)]
        assert ids == ["r-2", "r-1"]

    run(scenario)


# -- the official SDK over wss -------------------------------------------------------------------


@pytest.fixture
def tls_exchange(key: CdpKey, tmp_path: Path) -> Iterator[Exchange]:
    yield from _serve(key, tmp_path)


# The SDK builds its TLS context with the deprecated no-argument `ssl.SSLContext()`, which
# also means it verifies no certificate: our self-signed CA needs no trust store here.
@pytest.mark.filterwarnings("ignore:ssl.SSLContext:DeprecationWarning")
@pytest.mark.filterwarnings("ignore:ssl.PROTOCOL_TLS:DeprecationWarning")
def test_the_official_sdk_streams_from_the_local_exchange(tls_exchange: Exchange) -> None:
    # Only this test needs the SDK, which ships no type information.
    from coinbase.websocket import WSClient  # type: ignore[import-untyped]  # noqa: PLC0415
    from coinbase.websocket.types.websocket_response import (  # type: ignore[import-untyped]  # noqa: PLC0415
        WebsocketResponse,
    )

    inbox: queue.Queue[str] = queue.Queue()
    key = tls_exchange.key
    client = WSClient(
        api_key=key.name,
        api_secret=key.private_key_pem,
        base_url=tls_exchange.ws_url,
        on_message=inbox.put,
        timeout=5,
        retry=False,
    )

    unread: list[Message] = []

    def next_on(channel: str, kind: str | None = None) -> WebsocketResponse:
        """Take the first unread message on `channel`, leaving the others for later."""
        deadline = time.monotonic() + WAIT_S
        while True:
            for index, message in enumerate(unread):
                if on(channel, kind)(message):
                    return WebsocketResponse(unread.pop(index))
            left = max(deadline - time.monotonic(), 0.001)
            unread.append(json.loads(inbox.get(timeout=left)))

    client.open()
    try:
        client.subscribe(product_ids=[PRODUCT], channels=["heartbeats", "ticker", "user"])
        beat = next_on("heartbeats")
        assert beat.events[0].heartbeat_counter >= 1
        assert next_on("user", "snapshot").events[0].orders == []
        tls_exchange.order(market_buy("sdk-ws-1"))
        tls_exchange.advance()
        ticker = next_on("ticker", "update").events[0].tickers[0]
        bar = tls_exchange.venue.last_bar(PRODUCT)
        assert bar is not None
        assert Decimal(ticker.price) == Decimal(repr(bar.close))
        deadline = time.monotonic() + WAIT_S
        while (order := next_on("user", "update").events[0].orders[0]).status != "FILLED":
            assert time.monotonic() < deadline
        assert order.client_order_id == "sdk-ws-1"
    finally:
        client.close()
