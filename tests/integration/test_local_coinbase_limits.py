"""Absurd numbers and oversized requests get a clear 4xx from the local exchange, never a 500.

Before these limits a size or price of 1e999, 10^20 or 1e30 made the server fail with 500
(the increment check raised inside `Decimal`), and a 10 MB `client_order_id` was accepted.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from coinbase_harness import PRODUCT
from local_exchange_client import API, SignedClient, local_exchange

ABSURD = ["1e999", "1" + "0" * 20, "1e30", "1e-999", "NaN", "1e99999999999999999999"]


@pytest.fixture
def client() -> Iterator[SignedClient]:
    with local_exchange() as client:
        yield client


def limit_buy(cid: str, base_size: str = "0.01", limit_price: str = "1000.00") -> dict[str, Any]:
    return {
        "client_order_id": cid,
        "product_id": PRODUCT,
        "side": "BUY",
        "order_configuration": {
            "limit_limit_gtc": {"base_size": base_size, "limit_price": limit_price}
        },
    }


def market_buy(cid: str, quote_size: str) -> dict[str, Any]:
    return {
        "client_order_id": cid,
        "product_id": PRODUCT,
        "side": "BUY",
        "order_configuration": {"market_market_ioc": {"quote_size": quote_size}},
    }


def assert_refused(client: SignedClient, body: dict[str, Any], field: str) -> None:
    answer = client.post("/orders", body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "INVALID_ARGUMENT"
    assert field in answer.json()["message"]
    assert client.venue.engine_orders() == []


@pytest.mark.parametrize("number", ABSURD)
def test_an_absurd_size_is_a_400_naming_the_field(client: SignedClient, number: str) -> None:
    assert_refused(client, limit_buy("size", base_size=number), "base_size")


@pytest.mark.parametrize("number", ABSURD)
def test_an_absurd_price_is_a_400_naming_the_field(client: SignedClient, number: str) -> None:
    assert_refused(client, limit_buy("price", limit_price=number), "limit_price")


@pytest.mark.parametrize("number", ABSURD)
def test_an_absurd_quote_size_is_a_400_naming_the_field(client: SignedClient, number: str) -> None:
    assert_refused(client, market_buy("quote", number), "quote_size")


def test_a_number_sent_as_a_json_number_is_a_400(client: SignedClient) -> None:
    body = limit_buy("json-number")
    body["order_configuration"]["limit_limit_gtc"]["base_size"] = 1e300
    assert_refused(client, body, "base_size")


def test_a_large_but_sane_size_is_a_business_refusal_not_an_error(client: SignedClient) -> None:
    answer = client.post("/orders", limit_buy("rich", base_size="99999999999999.5"))
    assert answer.status_code == 200
    assert answer.json()["error_response"]["preview_failure_reason"] == "PREVIEW_INSUFFICIENT_FUND"


def test_a_client_order_id_over_128_characters_is_a_400(client: SignedClient) -> None:
    answer = client.post("/orders", limit_buy("c" * 129))
    assert answer.status_code == 400
    assert "client_order_id" in answer.json()["message"]
    assert client.post("/orders", limit_buy("c" * 128)).json()["success"] is True


def test_a_10_mb_client_order_id_is_refused_unread_with_413(client: SignedClient) -> None:
    answer = client.post("/orders", limit_buy("c" * 10_000_000))
    assert answer.status_code == 413
    assert answer.json()["error"] == "PAYLOAD_TOO_LARGE"
    assert client.venue.engine_orders() == []


def test_a_chunked_body_over_the_limit_is_refused_with_413(client: SignedClient) -> None:
    def chunks() -> Iterator[bytes]:  # no content-length: the server must count
        yield b'{"client_order_id": "'
        for _ in range(100):
            yield b"c" * 1024
        yield b'"}'

    answer = client.request("POST", API + "/orders", content=chunks())
    assert answer.status_code == 413
    assert client.venue.engine_orders() == []


def test_a_batch_cancel_of_more_than_100_ids_is_a_400(client: SignedClient) -> None:
    answer = client.post("/orders/batch_cancel", {"order_ids": ["x"] * 101})
    assert answer.status_code == 400
    assert "order_ids" in answer.json()["message"]
    assert client.post("/orders/batch_cancel", {"order_ids": ["x"] * 100}).status_code == 200


def test_a_400_lists_a_few_problems_not_thousands(client: SignedClient) -> None:
    answer = client.post("/orders/batch_cancel", {"order_ids": [""] * 100})
    assert answer.status_code == 400
    assert len(answer.text) < 2000
    assert "and 95 more" in answer.json()["message"]
