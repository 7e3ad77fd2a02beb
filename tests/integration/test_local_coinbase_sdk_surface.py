"""Every Advanced Trade endpoint the official SDK exposes is routed by the local exchange.

The endpoints are read from the installed SDK's own source (`endpoint = f"{API_PREFIX}/..."`
followed by `self.get|post|put|delete(endpoint`), so an SDK upgrade that adds one fails this
test until the exchange answers it. "Answers" means anything but the router's own 404 or 405:
a route may refuse (400 `UNSUPPORTED`, 404 for an unknown id), it may not be missing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from local_exchange_client import API, SignedClient, local_exchange

ENDPOINT = re.compile(
    r'endpoint = f"\{API_PREFIX\}(?P<path>/[^"]*)"(?P<between>.*?)'
    r"self\.(?P<method>get|post|put|delete)\(\s*endpoint",
    re.DOTALL,
)


def sdk_endpoints() -> list[tuple[str, str]]:
    """Return (METHOD, path) for every endpoint in the SDK's REST modules, `{...}` as "x"."""
    rest = pytest.importorskip("coinbase.rest")
    found = set()
    for module in Path(rest.__file__).parent.glob("*.py"):
        for match in ENDPOINT.finditer(module.read_text()):
            if "endpoint = " in match["between"]:
                continue  # the next endpoint's call, not this one's
            path = re.sub(r"\{[^}]*\}", "x", match["path"])
            found.add((match["method"].upper(), path))
    return sorted(found)


ENDPOINTS = sdk_endpoints()


@pytest.fixture(scope="module")
def client() -> Iterator[SignedClient]:
    with local_exchange() as client:
        yield client


def test_the_sdk_source_was_read() -> None:
    assert ("GET", "/product_book") in ENDPOINTS
    assert ("POST", "/orders/edit") in ENDPOINTS
    assert len(ENDPOINTS) >= 50


@pytest.mark.parametrize(("method", "path"), ENDPOINTS, ids=[f"{m} {p}" for m, p in ENDPOINTS])
def test_the_exchange_routes_every_sdk_endpoint(
    client: SignedClient, method: str, path: str
) -> None:
    body = None if method == "GET" else {}
    answer = client.request(method, API + path, json=body)
    routed = not (
        answer.status_code in (404, 405)
        and answer.json()["message"]
        in (
            "Not Found",
            "Method Not Allowed",
        )
    )
    assert routed, (method, path, answer.status_code, answer.text)
    assert answer.status_code < 500, answer.text
