"""Trade against a local Coinbase-compatible exchange in-process, through a real client.

Paper trading on recorded bars can send every order over the real wire: HTTPS, a fresh ES256
JWT per request, Coinbase's JSON, fills listed back by `trade_id`. The exchange replays the same
bars as the engine's feed and reveals each bar when the engine reaches it (lockstep), so the
session makes exactly the orders and fills of a backtest with the same fill model; only the
path between the engine and the matching engine differs.

The client on that path is our Coinbase adapter (`COINBASE_CLIENT`) or ccxt's `coinbase` class
under our CCXT adapter (`CCXT_CLIENT`), so either adapter can be proven against the backtest.
"""

from __future__ import annotations

import random
import shutil
import ssl
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import httpx
from cryptography.hazmat.primitives import serialization
from fastapi import FastAPI

from coinswarm.domain.bar import Bar, BarSeries
from coinswarm.domain.clock import Clock
from coinswarm.domain.costs import FillModel
from coinswarm.domain.instrument import Instrument
from coinswarm.exchanges.base import ExchangeAdapter
from coinswarm.exchanges.coinbase import CdpCredentials, CoinbaseConfig, connect, parse_private_key
from coinswarm.exchanges.local_coinbase import (
    KeyRing,
    RunningServer,
    Venue,
    create_app,
    generate_key,
    make_tls_files,
    serve_in_thread,
)
from coinswarm.exchanges.local_coinbase.faults import FaultMiddleware
from coinswarm.exchanges.local_faults import (
    EditMiddleware,
    FaultSchedule,
    RequestLog,
    RequestLogMiddleware,
    spend_tokens,
)
from coinswarm.exchanges.remote import RemoteVenue

__all__ = [
    "CCXT_CLIENT",
    "CLIENTS",
    "COINBASE_CLIENT",
    "LOCKSTEP_REQUESTS_PER_SECOND",
    "LocalEndpoint",
    "LockstepSession",
    "Pacing",
    "lockstep_session",
    "lockstep_venue",
    "serve_https",
]

LOCKSTEP_REQUESTS_PER_SECOND = 100_000.0
"""A replay at full speed asks far more than Coinbase's 30 a second; this exchange is ours."""

COINBASE_CLIENT = "coinbase"
"""Our own Coinbase Advanced Trade adapter."""
CCXT_CLIENT = "ccxt"
"""ccxt's `coinbase` class, unchanged but for its URLs, under our CCXT adapter."""
CLIENTS = (COINBASE_CLIENT, CCXT_CLIENT)


@dataclass(frozen=True, slots=True, kw_only=True)
class Pacing:
    """The request rates on both sides and the time they are paced by.

    `monotonic` drives both the client's token bucket and the exchange's rate limiter and
    `sleep` is how the client waits (its backoffs and 429 pauses); a test gives both one
    virtual clock so a long run with many backoffs takes no real time. `seed` seeds the
    client's retry jitter.
    """

    client_per_second: float = LOCKSTEP_REQUESTS_PER_SECOND
    exchange_per_second: float = LOCKSTEP_REQUESTS_PER_SECOND
    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    seed: int = 0


@dataclass(frozen=True, slots=True)
class LockstepSession:
    """A running lockstep session: our venue, and the exchange's own record beside it.

    `exchange` is the local exchange itself (`engine_orders()`, `fills()`, `balances()`):
    the authority a test compares our ledger with. `requests` logs every request it answered.
    """

    remote: RemoteVenue
    exchange: Venue
    requests: RequestLog
    faults: FaultSchedule


@dataclass(frozen=True, slots=True)
class LocalEndpoint:
    """A local exchange served over HTTPS, the key made for it, and the CA to trust."""

    server: RunningServer
    credentials: CdpCredentials
    trust: ssl.SSLContext
    ca_file: Path  # the same CA as a file, for clients that take a path; gone after the server


@contextmanager
def serve_https(build: Callable[[KeyRing, str], FastAPI]) -> Iterator[LocalEndpoint]:
    """Serve the app `build(keys, key_name)` makes on 127.0.0.1 over HTTPS, with a new key.

    The certificate and its CA live in a temporary folder removed when the server stops.
    """
    key = generate_key()
    keys = KeyRing()
    keys.add(key)
    app = build(keys, key.name)
    folder = Path(tempfile.mkdtemp(prefix="coinswarm-local-exchange-"))
    try:
        tls = make_tls_files(folder)
        with serve_in_thread(app, tls=tls) as server:
            credentials = CdpCredentials(
                key.name, parse_private_key(key.private_key_pem, source="the local exchange's key")
            )
            trust = ssl.create_default_context(cafile=str(tls.ca_cert))
            yield LocalEndpoint(server, credentials, trust, tls.ca_cert)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def lockstep_venue(
    market: Sequence[BarSeries],
    instruments: Mapping[str, Instrument],
    *,
    clock: Clock,
    cash: Decimal,
    fill_model: FillModel,
    client: str = COINBASE_CLIENT,
) -> Iterator[RemoteVenue]:
    """Serve `market` on 127.0.0.1 over HTTPS and yield `client`'s adapter to it, in lockstep.

    The account starts with `cash` in the quote currency; `fill_model` is the exchange's.
    """
    with lockstep_session(
        market, instruments, clock=clock, cash=cash, fill_model=fill_model, client=client
    ) as session:
        yield session.remote


@contextmanager
def lockstep_session(
    market: Sequence[BarSeries],
    instruments: Mapping[str, Instrument],
    *,
    clock: Clock,
    cash: Decimal,
    fill_model: FillModel,
    faults: FaultSchedule | None = None,
    pacing: Pacing | None = None,
    client: str = COINBASE_CLIENT,
) -> Iterator[LockstepSession]:
    """Like `lockstep_venue`, with `faults` armed bar by bar and the exchange's record at hand.

    The n-th bar the engine steps (counting from 0) arms the faults scheduled up to step n.
    """
    connect_client = _client(client)
    pacing = pacing or Pacing()
    schedule = faults or FaultSchedule()
    quotes = {instrument.quote for instrument in instruments.values()}
    venue = Venue(
        instruments,
        market,
        balances=dict.fromkeys(quotes, cash),
        fill_model=fill_model,
        reveal=0,
    )
    requests = RequestLog(pacing.monotonic)

    def build(keys: KeyRing, key_name: str) -> FastAPI:
        app = create_app(
            venue,
            keys,
            monotonic=pacing.monotonic,
            private_per_second=pacing.exchange_per_second,
            public_per_second=pacing.exchange_per_second,
        )
        schedule.attach(spend_tokens(app.state.services.private_limits, key_name))
        # Added last, so outermost: the log sees what the faults answered.
        app.add_middleware(EditMiddleware, schedule=schedule)
        app.add_middleware(FaultMiddleware, plan=schedule, prefix="/api/v3/brokerage")
        app.add_middleware(RequestLogMiddleware, log=requests)
        return app

    with serve_https(build) as local, connect_client(local, clock, pacing) as adapter:
        remote = RemoteVenue(adapter, driver=_driver(venue, schedule), clock=clock)
        try:
            yield LockstepSession(remote, venue, requests, schedule)
        finally:
            remote.close()


_Connect = Callable[[LocalEndpoint, Clock, Pacing], AbstractContextManager[ExchangeAdapter]]


def _client(name: str) -> _Connect:
    connectors: dict[str, _Connect] = {
        COINBASE_CLIENT: _coinbase_client,
        CCXT_CLIENT: _ccxt_client,
    }
    found = connectors.get(name)
    if found is None:
        msg = f"client: expected one of {', '.join(CLIENTS)}, found {name!r}"
        raise ValueError(msg)
    return found


@contextmanager
def _coinbase_client(
    local: LocalEndpoint, clock: Clock, pacing: Pacing
) -> Iterator[ExchangeAdapter]:
    """Yield our Coinbase adapter to `local`, paced and seeded as `pacing` says."""
    http = httpx.Client(base_url=local.server.base_url, verify=local.trust, timeout=10.0)
    config = CoinbaseConfig(
        base_url=local.server.base_url, requests_per_second=pacing.client_per_second
    )
    adapter = connect(
        local.credentials,
        config,
        order_clock=clock,
        http=http,
        monotonic=pacing.monotonic,
        sleep=pacing.sleep,
        rng=random.Random(pacing.seed),  # noqa: S311 - retry jitter, not secrets
    )
    with adapter:
        yield adapter


@contextmanager
def _ccxt_client(local: LocalEndpoint, clock: Clock, pacing: Pacing) -> Iterator[ExchangeAdapter]:
    """Yield our CCXT adapter over ccxt's `coinbase` class, confined to `local`.

    ccxt is given the key as its users give it (the key name as `apiKey`, the PEM as
    `secret`). Its own rate limiter is off: it waits on the wall clock, which `pacing` cannot
    move, and the exchange is ours; the exchange's limiter still answers 429 when asked to.
    """
    # ccxt takes seconds to import: only a session that chose it pays for that.
    from coinswarm.exchanges.ccxt_adapter import (  # noqa: PLC0415
        CcxtAdapter,
        ExchangeSpec,
        make_exchange,
    )

    spec = ExchangeSpec(
        exchange_id="coinbase",
        url=local.server.base_url,
        ca_file=local.ca_file,
        api_key=local.credentials.name,
        secret=_pem(local.credentials),
        rate_limit=False,
    )
    exchange = make_exchange(spec)
    try:
        yield CcxtAdapter(exchange, clock=clock, sleep=pacing.sleep)
    finally:
        exchange.session.close()  # before the server stops: no half-open keep-alive


def _pem(credentials: CdpCredentials) -> str:
    """Return the key as the PEM text a CDP key file holds, which is what ccxt signs with."""
    return credentials.private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


def _driver(venue: Venue, schedule: FaultSchedule) -> Callable[[Bar], object]:
    """Reveal each bar at the exchange as the engine reaches it, arming faults by bar count."""
    steps = iter(range(1 << 62))

    def drive(bar: Bar) -> object:
        schedule.arm(next(steps))
        return venue.advance_product(bar.instrument, bar.ts)

    return drive
