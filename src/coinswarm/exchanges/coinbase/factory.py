"""Build a `CoinbaseAdapter` from a typed configuration and a CDP key."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

import httpx

from coinswarm.domain.clock import Clock, WallClock
from coinswarm.exchanges.coinbase.adapter import CoinbaseAdapter
from coinswarm.exchanges.coinbase.keys import CdpCredentials
from coinswarm.exchanges.coinbase.ratelimit import DEFAULT_PER_SECOND, Monotonic, Sleep, TokenBucket
from coinswarm.exchanges.coinbase.rest import RestClient, RetryPolicy
from coinswarm.exchanges.coinbase.tokens import TokenSigner

__all__ = ["COINBASE_URL", "CoinbaseConfig", "connect"]

COINBASE_URL = "https://api.coinbase.com"


@dataclass(frozen=True, slots=True, kw_only=True)
class CoinbaseConfig:
    """Where Coinbase is and how hard to push it."""

    base_url: str = COINBASE_URL
    requests_per_second: float = DEFAULT_PER_SECOND
    burst: float | None = None
    timeout_s: float = 10.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    resends: int = 1


def connect(
    credentials: CdpCredentials,
    config: CoinbaseConfig | None = None,
    *,
    clock: Clock | None = None,
    order_clock: Clock | None = None,
    monotonic: Monotonic = time.monotonic,
    sleep: Sleep = time.sleep,
    rng: random.Random | None = None,
    http: httpx.Client | None = None,
) -> CoinbaseAdapter:
    """Return an adapter; clocks, sleep, randomness and the HTTP client are injectable for tests.

    An injected `http` must already carry the base URL; the adapter owns it and closes it.
    `clock` signs the tokens, so it must be the wall clock; `order_clock` (by default the same)
    stamps the orders the adapter makes, which a replay sets to its historical clock.
    """
    config = config or CoinbaseConfig()
    wall = clock or WallClock()
    client = http or httpx.Client(base_url=config.base_url, timeout=config.timeout_s)
    bucket = TokenBucket(
        config.requests_per_second, capacity=config.burst, monotonic=monotonic, sleep=sleep
    )
    rest = RestClient(
        client,
        TokenSigner(credentials, wall),
        bucket=bucket,
        # Jitter only spreads retries out; it needs no cryptographic randomness.
        rng=rng or random.Random(),  # noqa: S311
        sleep=sleep,
        policy=config.retry,
    )
    return CoinbaseAdapter(rest, clock=order_clock or wall, wall=wall, resends=config.resends)
