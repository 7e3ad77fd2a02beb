"""Trade through our Coinbase adapter against a local Coinbase-compatible exchange in-process.

Paper trading on recorded bars can send every order over the real wire: HTTPS, a fresh ES256
JWT per request, Coinbase's JSON, fills listed back by `trade_id`. The exchange replays the same
bars as the engine's feed and reveals each bar when the engine reaches it (lockstep), so the
session makes exactly the orders and fills of a backtest with the same fill model; only the
path between the engine and the matching engine differs.
"""

from __future__ import annotations

import shutil
import ssl
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import httpx

from coinswarm.domain.bar import BarSeries
from coinswarm.domain.clock import Clock
from coinswarm.domain.instrument import Instrument
from coinswarm.exchanges.coinbase import CdpCredentials, CoinbaseConfig, connect, parse_private_key
from coinswarm.exchanges.fill_model import FillModel
from coinswarm.exchanges.local_coinbase import (
    KeyRing,
    Venue,
    create_app,
    generate_key,
    make_tls_files,
    serve_in_thread,
)
from coinswarm.exchanges.remote import RemoteVenue

__all__ = ["LOCKSTEP_REQUESTS_PER_SECOND", "lockstep_venue"]

LOCKSTEP_REQUESTS_PER_SECOND = 100_000.0
"""A replay at full speed asks far more than Coinbase's 30 a second; this exchange is ours."""


@contextmanager
def lockstep_venue(
    market: Sequence[BarSeries],
    instruments: Mapping[str, Instrument],
    *,
    clock: Clock,
    cash: Decimal,
    fill_model: FillModel,
) -> Iterator[RemoteVenue]:
    """Serve `market` on 127.0.0.1 over HTTPS and yield our adapter to it, in lockstep.

    The account starts with `cash` in the quote currency; `fill_model` is the exchange's.
    """
    quotes = {instrument.quote for instrument in instruments.values()}
    venue = Venue(
        instruments,
        market,
        balances=dict.fromkeys(quotes, cash),
        fill_model=fill_model,
        reveal=0,
    )
    key = generate_key()
    keys = KeyRing()
    keys.add(key)
    app = create_app(
        venue,
        keys,
        private_per_second=LOCKSTEP_REQUESTS_PER_SECOND,
        public_per_second=LOCKSTEP_REQUESTS_PER_SECOND,
    )
    folder = Path(tempfile.mkdtemp(prefix="coinswarm-lockstep-"))
    try:
        tls = make_tls_files(folder)
        with serve_in_thread(app, tls=tls) as server:
            trust = ssl.create_default_context(cafile=str(tls.ca_cert))
            http = httpx.Client(base_url=server.base_url, verify=trust, timeout=10.0)
            credentials = CdpCredentials(
                key.name, parse_private_key(key.private_key_pem, source="the local exchange's key")
            )
            config = CoinbaseConfig(
                base_url=server.base_url, requests_per_second=LOCKSTEP_REQUESTS_PER_SECOND
            )
            with connect(credentials, config, order_clock=clock, http=http) as adapter:
                yield RemoteVenue(
                    adapter, driver=lambda bar: venue.advance_product(bar.instrument, bar.ts)
                )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
