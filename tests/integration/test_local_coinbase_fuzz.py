"""Throw random and absurd requests at every HTTP route of the local exchange: never a 5xx.

The routes are read from the app itself, so a route added later is fuzzed without anyone
remembering to. Each request is properly signed (the fuzz must get past the token to reach
the code behind it) and carries path values, query parameters and a JSON body drawn from
absurd numbers (1e999, 10^20, NaN, thousands of digits), odd text, known ids and nested junk,
arranged under the field names the exchange reads. After every example the exchange's own
record must still hold: one order per client order id, no negative balance, no hold above its
balance, no order for an amount beyond the bounds.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coinbase_harness import PRODUCT, make_venue
from coinswarm.exchanges.local_coinbase import KeyRing, create_app
from coinswarm.exchanges.local_coinbase.amounts import MAX_AMOUNT
from coinswarm.exchanges.local_coinbase.convert import PORTFOLIO_UUID
from local_exchange_client import SignedClient, local_exchange

EXAMPLES_PER_ROUTE = 40


def http_routes() -> dict[tuple[str, str], list[str]]:
    """Return every HTTP route (control API included) with the query parameters it reads.

    Read from the app's OpenAPI document, the one public listing of what the app serves.
    """
    app = create_app(make_venue(), KeyRing(), control_api=True)
    routes = {}
    for path, operations in app.openapi()["paths"].items():
        for method, operation in operations.items():
            names = [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"]
            routes[(method.upper(), path)] = names
    return routes


ROUTES = http_routes()

ABSURD_NUMBERS = [
    "1e999",
    "-1e999",
    "1" + "0" * 20,
    "1e30",
    "1e-999",
    "1e99999999999999999999",
    "NaN",
    "Infinity",
    "-0",
    "0",
    "-1",
    "9" * 5000,
    "0." + "0" * 5000 + "1",
    "1_000",
    "0x10",
    "",
]
KNOWN_TEXT = [PRODUCT, "ETH-USD", PORTFOLIO_UUID, "SIM-00000001", "ONE_HOUR", "OPEN", "BUY", "SELL"]
FIELDS = [
    "client_order_id",
    "product_id",
    "side",
    "order_configuration",
    "market_market_ioc",
    "limit_limit_gtc",
    "sor_limit_ioc",
    "base_size",
    "quote_size",
    "limit_price",
    "post_only",
    "order_id",
    "order_ids",
    "size",
    "price",
    "bars",
    "faults",
    "method",
    "path",
    "kind",
]

scalars = st.one_of(
    st.sampled_from(ABSURD_NUMBERS),
    st.sampled_from(KNOWN_TEXT),
    st.text(max_size=200),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=10), inner, max_size=6),
    ),
    max_leaves=30,
)
TEMPLATES: list[Any] = [
    {
        "client_order_id": "c-1",
        "product_id": PRODUCT,
        "side": "BUY",
        "order_configuration": {"limit_limit_gtc": {"base_size": "0.01", "limit_price": "1000"}},
    },
    {
        "client_order_id": "c-2",
        "product_id": PRODUCT,
        "side": "SELL",
        "order_configuration": {"market_market_ioc": {"base_size": "0.001"}},
    },
    {
        "client_order_id": "c-3",
        "product_id": PRODUCT,
        "side": "BUY",
        "order_configuration": {"market_market_ioc": {"quote_size": "10"}},
    },
    {"order_id": "SIM-00000001", "size": "0.02", "price": "1100.00"},
    {"order_ids": ["SIM-00000001"]},
    {"bars": 1},
    {"faults": [{"method": "GET", "path": "/x", "kind": "status"}]},
]
"""Well-formed bodies of the routes that take one; fuzzing their leaves reaches past parsing."""


AMOUNT_FIELDS = frozenset({"base_size", "quote_size", "limit_price", "size", "price"})


@st.composite
def mutated(draw: st.DrawFn, template: Any, field: str = "") -> Any:
    """Return `template` with some leaves swapped: amounts often for absurd numbers."""
    if isinstance(template, dict):
        return {k: draw(mutated(v, k)) for k, v in template.items()}
    if isinstance(template, list):
        return [draw(mutated(v, field)) for v in template]
    if field in AMOUNT_FIELDS and draw(st.booleans()):
        return draw(st.sampled_from(ABSURD_NUMBERS))
    if draw(st.integers(0, 9)) < 2:
        return draw(scalars)
    return template


shaped = st.sampled_from(TEMPLATES).flatmap(mutated)
bodies = st.one_of(
    shaped,
    shaped,  # twice: most bodies should get past parsing to the code behind it
    st.none(),
    st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=6),
    json_values,
)
query_values = st.one_of(
    st.sampled_from(ABSURD_NUMBERS),
    st.sampled_from(KNOWN_TEXT),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.text(max_size=100),
)


@pytest.fixture(scope="module")
def exchange() -> Iterator[SignedClient]:
    with local_exchange() as client:
        placed = client.post("/orders", resting_buy("seed-order"))
        assert placed.json()["success"] is True, placed.text
        yield client


def resting_buy(cid: str) -> dict[str, Any]:
    return {
        "client_order_id": cid,
        "product_id": PRODUCT,
        "side": "BUY",
        "order_configuration": {"limit_limit_gtc": {"base_size": "0.01", "limit_price": "1000.00"}},
    }


def fill_path(template: str, values: list[str]) -> str:
    """Put URL-quoted `values` in the template's `{...}` slots, in order."""
    parts = template.split("{")
    path = parts[0]
    for index, part in enumerate(parts[1:]):
        _, rest = part.split("}", 1)
        path += quote(values[index % len(values)], safe="") + rest
    return path


def send(
    client: SignedClient, method: str, path: str, params: dict[str, str], body: object
) -> httpx.Response:
    content = None if body is None else json.dumps(body).encode()
    headers = {"content-type": "application/json"} if content is not None else {}
    return client.request(method, path, params=params, content=content, headers=headers)


def assert_invariants(client: SignedClient) -> None:
    orders = client.venue.engine_orders()
    client_ids = [order.client_order_id for order in orders]
    assert len(client_ids) == len(set(client_ids)), "two exchange orders share a client id"
    for order in orders:
        request = order.request
        amounts = (request.quantity, request.quote_quantity, request.limit_price)
        assert all(a is None or a.copy_abs() < MAX_AMOUNT for a in amounts), order
    for currency, (total, hold) in client.venue.balances().items():
        assert total >= 0, currency
        assert Decimal(0) <= hold <= total, currency


@pytest.mark.parametrize(
    ("method", "template"), sorted(ROUTES), ids=[f"{m} {p}" for m, p in sorted(ROUTES)]
)
def test_no_route_answers_5xx_to_anything(
    exchange: SignedClient, method: str, template: str
) -> None:
    names = [*ROUTES[(method, template)], "junk"]  # and one the route should ignore

    @settings(
        max_examples=EXAMPLES_PER_ROUTE,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(
        path_values=st.lists(
            st.one_of(st.sampled_from(KNOWN_TEXT), st.text(min_size=1, max_size=300)),
            min_size=1,
            max_size=3,
        ),
        params=st.dictionaries(st.sampled_from(names), query_values, max_size=len(names)),
        body=bodies,
    )
    def fuzz(path_values: list[str], params: dict[str, str], body: object) -> None:
        path = fill_path(template, path_values)
        answer = send(exchange, method, path, params, body)
        exchange.app.state.services.faults.clear()  # a fuzzed fault plan must not fire later
        assert answer.status_code < 500, (method, path, params, body, answer.text[:500])
        assert_invariants(exchange)

    fuzz()


def test_every_route_is_fuzzed() -> None:
    paths = {path for _, path in ROUTES}
    for expected in ("/api/v3/brokerage/orders", "/api/v3/brokerage/product_book", "/v2/accounts"):
        assert expected in paths
    assert len(ROUTES) >= 40
