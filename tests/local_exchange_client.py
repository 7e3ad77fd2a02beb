"""A signed HTTP client for the local Coinbase exchange, and a fresh exchange to point it at.

Tests of the exchange's own surface (limits, new routes, fuzzing) use it; it signs each
request with a fresh ES256 token, as every Coinbase client must.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI

from coinbase_harness import make_venue
from coinswarm.exchanges.local_coinbase import (
    CdpKey,
    KeyRing,
    RunningServer,
    Venue,
    build_jwt,
    create_app,
    generate_key,
    serve_in_thread,
)

API = "/api/v3/brokerage"


@dataclass
class SignedClient:
    """httpx against one running exchange; `request` signs, `raw` does not."""

    server: RunningServer
    key: CdpKey
    venue: Venue
    http: httpx.Client
    app: FastAPI

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send `method path` (path from the host's root) with a fresh token for it."""
        uri = f"{method} {self.server.host}{path}"
        bearer = build_jwt(self.key, uri, now_s=int(time.time()))
        headers = {"Authorization": f"Bearer {bearer}", **kwargs.pop("headers", {})}
        return self.http.request(method, path, headers=headers, **kwargs)

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.request("GET", API + path, params=params)

    def post(self, path: str, body: object) -> httpx.Response:
        return self.request("POST", API + path, json=body)


@contextmanager
def local_exchange(venue: Venue | None = None, **app_options: Any) -> Iterator[SignedClient]:
    """Serve a fresh exchange on 127.0.0.1 (limits high, control API on) and yield a client."""
    key = generate_key()
    keys = KeyRing()
    keys.add(key)
    app_options.setdefault("private_per_second", 1e6)
    app_options.setdefault("public_per_second", 1e6)
    app_options.setdefault("control_api", True)
    venue = venue or make_venue()
    app = create_app(venue, keys, **app_options)
    with (
        serve_in_thread(app) as server,
        httpx.Client(base_url=server.base_url, timeout=10.0) as http,
    ):
        yield SignedClient(server, key, venue, http, app)
