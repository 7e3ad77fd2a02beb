"""The local Coinbase exchange over real HTTP on 127.0.0.1: orders, auth, limits, faults.

Requests carry ES256 tokens built here, independently of the server's code, and a second set
of tests drives the server over HTTPS with Coinbase's official SDK.
"""

from __future__ import annotations

import json
import secrets
import ssl
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from coinbase_harness import make_venue
from coinswarm.exchanges.local_coinbase import (
    CdpKey,
    KeyPermissions,
    KeyRing,
    RunningServer,
    create_app,
    generate_key,
    make_tls_files,
    serve_in_thread,
)

PRODUCT = "BTC-USD"
API = "/api/v3/brokerage"
TIMEOUT = httpx.Timeout(5.0)


# -- a client-side token helper, written from Coinbase's docs rather than the server's code -----


def token(
    key: CdpKey,
    method: str,
    host: str,
    path: str,
    *,
    now: int | None = None,
    lifetime: int = 120,
    algorithm: str = "ES256",
) -> str:
    issued = int(time.time()) if now is None else now
    claims = {
        "sub": key.name,
        "iss": "cdp",
        "nbf": issued,
        "exp": issued + lifetime,
        "uri": f"{method} {host}{path}",
    }
    headers = {"kid": key.name, "nonce": secrets.token_hex()}
    if algorithm == "none":
        return jwt.encode(claims, None, algorithm="none", headers=headers)
    private = serialization.load_pem_private_key(key.private_key_pem.encode(), password=None)
    return jwt.encode(claims, private, algorithm=algorithm, headers=headers)


class Client:
    """httpx with a fresh token per request, as a Coinbase client must do."""

    def __init__(self, server: RunningServer, key: CdpKey) -> None:
        self.server = server
        self.key = key
        self.http = httpx.Client(base_url=server.base_url, timeout=TIMEOUT)

    def request(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        bearer = token(self.key, method, self.server.host, API + path)
        headers = {"Authorization": f"Bearer {bearer}"}
        return self.http.request(method, API + path, headers=headers, **kwargs)

    def get(self, path: str, **kwargs: object) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: dict[str, object], **kwargs: object) -> httpx.Response:
        return self.request("POST", path, json=body, **kwargs)

    def control(self, method: str, path: str, body: object = None) -> dict[str, object]:
        response = self.http.request(method, "/_control" + path, json=body)
        assert response.status_code == 200, response.text
        result: dict[str, object] = response.json()
        return result

    def advance(self, bars: int = 1) -> dict[str, object]:
        return self.control("POST", "/advance", {"bars": bars})

    def record(self) -> dict[str, list[dict[str, object]]]:
        return self.control("GET", "/record")

    def close(self) -> None:
        self.http.close()


def market_buy(client_order_id: str, quote_size: str = "1000") -> dict[str, object]:
    return {
        "client_order_id": client_order_id,
        "product_id": PRODUCT,
        "side": "BUY",
        "order_configuration": {"market_market_ioc": {"quote_size": quote_size}},
    }


def limit_buy(client_order_id: str, base_size: str, limit_price: str) -> dict[str, object]:
    return {
        "client_order_id": client_order_id,
        "product_id": PRODUCT,
        "side": "BUY",
        "order_configuration": {
            "limit_limit_gtc": {"base_size": base_size, "limit_price": limit_price}
        },
    }


class FixedClock:
    def __init__(self, now_ns: int) -> None:
        self.now_ns_value = now_ns

    def now_ns(self) -> int:
        return self.now_ns_value


@pytest.fixture
def key() -> CdpKey:
    return generate_key()


@pytest.fixture
def client(key: CdpKey) -> Iterator[Client]:
    keys = KeyRing()
    keys.add(key)
    app = create_app(make_venue(), keys, control_api=True)
    with serve_in_thread(app) as server:
        client = Client(server, key)
        yield client
        client.close()


# -- orders -------------------------------------------------------------------------------------


def test_the_server_binds_loopback_only(client: Client) -> None:
    assert client.server.host.startswith("127.0.0.1:")


def test_a_market_buy_fills_on_the_next_bar_with_a_trade_id(client: Client) -> None:
    placed = client.post("/orders", market_buy("cid-1"))
    assert placed.status_code == 200
    body = placed.json()
    assert body["success"] is True
    order_id = body["success_response"]["order_id"]
    assert body["success_response"]["client_order_id"] == "cid-1"
    assert client.get(f"/orders/historical/{order_id}").json()["order"]["status"] == "OPEN"

    advanced = client.advance()
    order = client.get(f"/orders/historical/{order_id}").json()["order"]
    assert order["status"] == "FILLED"
    assert order["order_configuration"] == {"market_market_ioc": {"quote_size": "1000"}}
    assert Decimal(order["filled_size"]) > 0
    fills = client.get("/orders/historical/fills", params={"order_id": order_id}).json()["fills"]
    assert [f["trade_id"] for f in fills] == advanced["trade_ids"]
    assert all(isinstance(fills[0][k], str) for k in ("price", "size", "commission"))
    record = client.record()
    assert [f["trade_id"] for f in record["fills"]] == advanced["trade_ids"]


def test_a_repeated_client_order_id_returns_the_existing_order(client: Client) -> None:
    first = client.post("/orders", market_buy("same-id", "1000")).json()
    second = client.post("/orders", market_buy("same-id", "2000")).json()
    assert second["success"] is True
    assert second["success_response"]["order_id"] == first["success_response"]["order_id"]
    assert [o["client_order_id"] for o in client.record()["orders"]] == ["same-id"]


@pytest.mark.parametrize(
    ("body", "error", "preview"),
    [
        (market_buy("rich", "10000000"), "INSUFFICIENT_FUND", "PREVIEW_INSUFFICIENT_FUND"),
        (
            limit_buy("fine-size", "0.000000001", "100.00"),
            "INVALID_SIZE_PRECISION",
            "PREVIEW_INVALID_SIZE_PRECISION",
        ),
        (
            limit_buy("fine-price", "0.01", "100.001"),
            "INVALID_PRICE_PRECISION",
            "PREVIEW_INVALID_PRICE_PRECISION",
        ),
        (
            limit_buy("tiny", "0.000001", "100.00"),
            "UNKNOWN_FAILURE_REASON",
            "PREVIEW_INVALID_BASE_SIZE_TOO_SMALL",
        ),
        (
            {**market_buy("nowhere"), "product_id": "DOGE-USD"},
            "INVALID_PRODUCT_ID",
            "PREVIEW_INVALID_PRODUCT_ID",
        ),
        (
            {
                **market_buy("stop"),
                "order_configuration": {"stop_limit_stop_limit_gtc": {"base_size": "1"}},
            },
            "UNSUPPORTED_ORDER_CONFIGURATION",
            "PREVIEW_INVALID_ORDER_CONFIG",
        ),
    ],
)
def test_a_business_refusal_is_http_200_with_success_false(
    client: Client, body: dict[str, object], error: str, preview: str
) -> None:
    response = client.post("/orders", body)
    assert response.status_code == 200
    answer = response.json()
    assert answer["success"] is False
    assert answer["error_response"]["error"] == error
    assert answer["error_response"]["preview_failure_reason"] == preview
    assert client.get("/orders/historical/batch").json()["orders"] == []


def test_a_malformed_body_is_a_400(client: Client) -> None:
    response = client.post("/orders", {"client_order_id": "x", "side": "BUY"})
    assert response.status_code == 400
    assert response.json()["error"] == "INVALID_ARGUMENT"


def test_a_resting_limit_order_holds_funds_and_cancels_once(client: Client) -> None:
    placed = client.post("/orders", limit_buy("rest-1", "0.5", "1000.00")).json()
    order_id = placed["success_response"]["order_id"]
    client.advance()
    assert client.get(f"/orders/historical/{order_id}").json()["order"]["status"] == "OPEN"
    usd = next(a for a in client.get("/accounts").json()["accounts"] if a["currency"] == "USD")
    assert Decimal(usd["hold"]["value"]) > Decimal(500)
    assert Decimal(usd["available_balance"]["value"]) < Decimal(100_000)

    body = {"order_ids": [order_id, order_id, "no-such-order"]}
    results = client.post("/orders/batch_cancel", body).json()["results"]
    assert [(r["order_id"], r["success"]) for r in results] == [
        (order_id, True),
        (order_id, False),
        ("no-such-order", False),
    ]
    assert results[2]["failure_reason"] == "UNKNOWN_CANCEL_ORDER"
    order = client.get(f"/orders/historical/{order_id}").json()["order"]
    assert order["status"] == "CANCELLED"
    usd = next(a for a in client.get("/accounts").json()["accounts"] if a["currency"] == "USD")
    assert usd["available_balance"] == {"value": "100000", "currency": "USD"}


def test_orders_list_filters_by_product_and_status(client: Client) -> None:
    client.post("/orders", limit_buy("rest-2", "0.5", "1000.00"))
    filled = client.post("/orders", market_buy("mkt-2")).json()["success_response"]["order_id"]
    client.advance()
    listing = client.get(
        "/orders/historical/batch", params={"product_ids": PRODUCT, "order_status": "FILLED"}
    ).json()
    assert [o["order_id"] for o in listing["orders"]] == [filled]
    assert listing["has_next"] is False
    assert len(client.get("/orders/historical/batch").json()["orders"]) == 2
    other = client.get("/orders/historical/batch", params={"product_id": "ETH-USD"}).json()
    assert other["orders"] == []


def test_an_unknown_order_is_a_404(client: Client) -> None:
    response = client.get("/orders/historical/SIM-99999999")
    assert response.status_code == 404
    assert response.json()["error"] == "NOT_FOUND"


# -- accounts, products, market data ------------------------------------------------------------


def test_products_carry_increments_and_minimums_as_strings(client: Client) -> None:
    listing = client.get("/products").json()
    assert listing["num_products"] == 1
    product = client.get(f"/products/{PRODUCT}").json()
    assert product == listing["products"][0]
    assert product["base_increment"] == "0.00000001"
    assert product["quote_increment"] == "0.01"
    assert product["base_min_size"] == "0.00001"
    assert product["quote_min_size"] == "1"
    assert Decimal(product["price"]) > 0
    assert client.get("/products/NOPE-USD").status_code == 404


def test_candles_are_strings_newest_first_and_never_from_the_future(client: Client) -> None:
    client.advance(4)
    candles = client.get(f"/products/{PRODUCT}/candles", params={"granularity": "ONE_HOUR"}).json()[
        "candles"
    ]
    assert len(candles) == 5  # the first bar revealed at start, then four more
    assert all(isinstance(value, str) for c in candles for value in c.values())
    starts = [int(c["start"]) for c in candles]
    assert starts == sorted(starts, reverse=True)
    assert Decimal(client.get(f"/products/{PRODUCT}").json()["price"]) == Decimal(
        candles[0]["close"]
    )
    windowed = client.get(
        f"/products/{PRODUCT}/candles",
        params={"granularity": "ONE_HOUR", "start": starts[2], "end": starts[1]},
    ).json()["candles"]
    assert [int(c["start"]) for c in windowed] == starts[1:3]
    wrong = client.get(f"/products/{PRODUCT}/candles", params={"granularity": "ONE_MINUTE"})
    assert wrong.status_code == 400


def test_time_is_public_and_key_permissions_are_reported(client: Client) -> None:
    answer = client.http.get(API + "/time").json()
    assert abs(int(answer["epochSeconds"]) - time.time()) < 5
    assert answer["iso"].endswith("Z")
    permissions = client.get("/key_permissions").json()
    assert (permissions["can_view"], permissions["can_trade"], permissions["can_transfer"]) == (
        True,
        True,
        False,
    )


def test_a_view_only_key_cannot_trade(key: CdpKey) -> None:
    keys = KeyRing()
    keys.add(key, KeyPermissions(can_trade=False))
    with serve_in_thread(create_app(make_venue(), keys)) as server:
        client = Client(server, key)
        assert client.get("/key_permissions").json()["can_trade"] is False
        assert client.post("/orders", market_buy("nope")).status_code == 403
        client.close()


def test_the_control_api_exists_only_when_asked_for(key: CdpKey) -> None:
    keys = KeyRing()
    keys.add(key)
    with serve_in_thread(create_app(make_venue(), keys)) as server:
        response = httpx.post(server.base_url + "/_control/advance", json={}, timeout=TIMEOUT)
        assert response.status_code == 404


# -- authentication -----------------------------------------------------------------------------


def _status(client: Client, bearer: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {bearer}"} if bearer is not None else {}
    return client.http.get(API + "/accounts", headers=headers)


def test_a_request_without_a_token_is_401(client: Client) -> None:
    response = _status(client, None)
    assert response.status_code == 401
    assert response.json()["error"] == "UNAUTHORIZED"


@pytest.mark.parametrize(
    "spoil",
    ["expired", "forged", "alg_none", "other_route", "long_lived", "hs256"],
)
def test_a_bad_token_is_401(client: Client, key: CdpKey, spoil: str) -> None:
    host, path = client.server.host, API + "/accounts"
    now = int(time.time())
    bearer = {
        "expired": lambda: token(key, "GET", host, path, now=now - 300),
        "forged": lambda: token(generate_key(name=key.name), "GET", host, path),
        "alg_none": lambda: token(key, "GET", host, path, algorithm="none"),
        "other_route": lambda: token(key, "GET", host, API + "/products"),
        "long_lived": lambda: token(key, "GET", host, path, lifetime=3600),
        "hs256": lambda: jwt.encode(
            {
                "sub": key.name,
                "iss": "cdp",
                "nbf": now,
                "exp": now + 60,
                "uri": f"GET {host}{path}",
            },
            "a-shared-secret-long-enough-for-hmac-sha256",
            algorithm="HS256",
            headers={"kid": key.name, "nonce": "n"},
        ),
    }[spoil]()
    response = _status(client, bearer)
    assert response.status_code == 401, spoil
    assert key.private_key_pem not in response.text


def test_a_client_clock_three_minutes_behind_the_server_gets_401(key: CdpKey) -> None:
    keys = KeyRing()
    keys.add(key)
    ahead = FixedClock((int(time.time()) + 180) * 1_000_000_000)
    with serve_in_thread(create_app(make_venue(), keys, clock=ahead)) as server:
        client = Client(server, key)
        response = client.get("/accounts")
        assert response.status_code == 401
        assert "clock" in response.json()["message"]
        server_time = int(client.http.get(API + "/time").json()["epochSeconds"])
        assert server_time - int(time.time()) >= 170
        client.close()


# -- rate limits --------------------------------------------------------------------------------


def test_a_burst_beyond_the_private_limit_gets_429_with_ratelimit_headers(key: CdpKey) -> None:
    other = generate_key()
    keys = KeyRing()
    keys.add(key)
    keys.add(other)
    frozen = 1000.0  # the limiter's clock never moves, so the burst is deterministic
    app = create_app(make_venue(), keys, monotonic=lambda: frozen)
    with serve_in_thread(app) as server:
        client, neighbour = Client(server, key), Client(server, other)
        statuses = [client.get("/accounts").status_code for _ in range(31)]
        assert statuses == [200] * 30 + [429]
        refused = client.get("/accounts")
        assert refused.status_code == 429
        assert refused.headers["x-ratelimit-limit"] == "30"
        assert refused.headers["x-ratelimit-remaining"] == "0"
        assert int(refused.headers["x-ratelimit-reset"]) >= 1
        assert neighbour.get("/accounts").status_code == 200  # limits are per key
        client.close()
        neighbour.close()


def test_successful_responses_carry_ratelimit_headers(client: Client) -> None:
    response = client.get("/accounts")
    assert response.headers["x-ratelimit-limit"] == "30"
    assert int(response.headers["x-ratelimit-remaining"]) < 30


# -- faults -------------------------------------------------------------------------------------


def _fault(client: Client, **fault: object) -> None:
    fault.setdefault("method", "POST")
    fault.setdefault("path", API + "/orders")
    client.control("PUT", "/faults", {"faults": [fault]})


def test_a_503_before_commit_leaves_no_order(client: Client) -> None:
    _fault(client, kind="status", when="before", status_code=503, body={"error": "UNAVAILABLE"})
    response = client.post("/orders", market_buy("f-1"))
    assert response.status_code == 503
    assert response.json() == {"error": "UNAVAILABLE"}
    assert client.record()["orders"] == []
    assert client.post("/orders", market_buy("f-1")).json()["success"] is True  # used up


def test_a_503_after_commit_leaves_the_order_in_place(client: Client) -> None:
    _fault(client, kind="status", when="after", status_code=503)
    assert client.post("/orders", market_buy("f-2")).status_code == 503
    assert [o["client_order_id"] for o in client.record()["orders"]] == ["f-2"]
    retried = client.post("/orders", market_buy("f-2")).json()  # resolved by the same id
    assert retried["success"] is True
    assert len(client.record()["orders"]) == 1


def test_a_malformed_body_after_commit(client: Client) -> None:
    _fault(client, kind="malformed", when="after")
    response = client.post("/orders", market_buy("f-3"))
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        response.json()
    assert len(client.record()["orders"]) == 1


def test_a_dropped_connection_after_commit(client: Client) -> None:
    _fault(client, kind="drop", when="after")
    with pytest.raises(httpx.TransportError):
        client.post("/orders", market_buy("f-4"))
    assert [o["client_order_id"] for o in client.record()["orders"]] == ["f-4"]


def test_a_slow_answer_after_commit_times_out_but_the_order_exists(client: Client) -> None:
    _fault(client, kind="delay", when="after", delay_s=1.0)
    with pytest.raises(httpx.ReadTimeout):
        client.post("/orders", market_buy("f-5"), timeout=0.2)
    assert [o["client_order_id"] for o in client.record()["orders"]] == ["f-5"]
    client.control("DELETE", "/faults")


def test_faults_only_hit_their_route(client: Client) -> None:
    _fault(client, kind="status", when="before", status_code=500, times=None)
    assert client.get("/accounts").status_code == 200
    assert client.post("/orders", market_buy("f-6")).status_code == 500
    assert client.post("/orders", market_buy("f-6")).status_code == 500


# -- the official SDK over HTTPS ---------------------------------------------------------------


@pytest.fixture
def sdk_server(
    key: CdpKey, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[RunningServer]:
    tls = make_tls_files(tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls.ca_cert))
    keys = KeyRing()
    keys.add(key)
    with serve_in_thread(create_app(make_venue(), keys, control_api=True), tls=tls) as server:
        yield server


def test_the_official_sdk_trades_through_the_local_exchange(
    sdk_server: RunningServer, key: CdpKey
) -> None:
    from coinbase.rest import RESTClient  # noqa: PLC0415 - only this test needs the SDK

    sdk = RESTClient(
        api_key=key.name, api_secret=key.private_key_pem, base_url=sdk_server.host, timeout=5
    )
    placed = sdk.market_order_buy(client_order_id="sdk-1", product_id=PRODUCT, quote_size="500")
    assert placed.success is True
    order_id = placed.success_response["order_id"]
    assert sdk_server.tls is not None
    trust = ssl.create_default_context(cafile=str(sdk_server.tls.ca_cert))
    with httpx.Client(base_url=sdk_server.base_url, verify=trust, timeout=TIMEOUT) as control:
        assert control.post("/_control/advance", json={"bars": 1}).status_code == 200

    order = sdk.get_order(order_id).order
    assert order.status == "FILLED"
    assert order.order_configuration.market_market_ioc.quote_size == "500"
    fills = sdk.get_fills(order_ids=[order_id]).fills
    assert len(fills) == 1
    assert fills[0].trade_id

    resting = sdk.limit_order_gtc_buy(
        client_order_id="sdk-2", product_id=PRODUCT, base_size="0.1", limit_price="1000.00"
    )
    resting_id = resting.success_response["order_id"]
    listed = sdk.list_orders(product_ids=[PRODUCT], order_status=["OPEN"]).orders
    assert [o.order_id for o in listed] == [resting_id]
    cancelled = sdk.cancel_orders(order_ids=[resting_id]).results
    assert cancelled[0].success is True
    assert sdk.get_order(resting_id).order.status == "CANCELLED"

    currencies = {a.currency for a in sdk.get_accounts().accounts}
    assert currencies == {"BTC", "USD"}
    btc = next(a for a in sdk.get_accounts().accounts if a.currency == "BTC")
    assert Decimal(btc.available_balance["value"]) > Decimal(1)
    product = sdk.get_product(PRODUCT)
    assert product.base_increment == "0.00000001"
    assert [p.product_id for p in sdk.get_products().products] == [PRODUCT]
    now = int(sdk.get_unix_time().epoch_seconds)
    candles = sdk.get_candles(PRODUCT, start=str(0), end=str(now), granularity="ONE_HOUR").candles
    assert len(candles) == 2
    assert isinstance(candles[0].close, str)
    assert sdk.get_api_key_permissions().can_trade is True
    sdk.session.close()
