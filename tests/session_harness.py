"""A local Coinbase-compatible exchange for session tests: HTTPS, fast websockets, a replay.

The exchange does not reveal bars by itself; `replaying` reveals one every few milliseconds
while a session runs, as the exchange's own clock would.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from coinswarm import preflight
from coinswarm.data import synthetic_market
from coinswarm.domain.instrument import instrument_from_symbol
from coinswarm.exchanges.local_coinbase import (
    CdpKey,
    KeyPermissions,
    KeyRing,
    RunningServer,
    Venue,
    create_app,
    generate_key,
    make_tls_files,
    serve_in_thread,
)
from coinswarm.exchanges.local_coinbase.stream import StreamSettings
from coinswarm.exchanges.local_coinbase.wsfaults import WsFaultPlan

PRODUCT = "BTC-USD"
FAST_STREAM = StreamSettings(heartbeat_s=0.05, poll_s=0.01)


@dataclass
class Exchange:
    server: RunningServer
    venue: Venue
    key: CdpKey
    ca_file: Path
    ws_faults: WsFaultPlan

    @property
    def url(self) -> str:
        return self.server.base_url


def serve(
    tmp_path: Path, *, permissions: KeyPermissions | None = None, btc: Decimal = Decimal(0)
) -> Iterator[Exchange]:
    """Serve 400 synthetic BTC-USD bars over HTTPS with $100k (and `btc` coins) on the account."""
    market = [synthetic_market(instrument=PRODUCT, bars=400, seed=11, start_price=20_000.0)]
    venue = Venue(
        {PRODUCT: instrument_from_symbol(PRODUCT)},
        market,
        balances={"USD": Decimal(100_000), "BTC": btc},
    )
    key = generate_key()
    keys = KeyRing()
    keys.add(key, permissions)
    tls = make_tls_files(tmp_path)
    app = create_app(venue, keys, stream=FAST_STREAM, private_per_second=1000.0)
    with serve_in_thread(app, tls=tls) as server:
        yield Exchange(server, venue, key, tls.ca_cert, app.state.stream.faults)


@contextmanager
def replaying(venue: Venue, every_s: float = 0.03) -> Iterator[None]:
    """Reveal a bar every `every_s` seconds while the block runs: the exchange's own clock."""
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(every_s):
            venue.advance(1)

    thread = threading.Thread(target=tick, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5.0)


def use_keys(monkeypatch: pytest.MonkeyPatch, key: CdpKey, *, live: bool) -> None:
    """Put `key` in the live or the sandbox key variables."""
    names = (
        ("COINSWARM_COINBASE_KEY_NAME", "COINSWARM_COINBASE_PRIVATE_KEY")
        if live
        else (preflight.SANDBOX_KEY_NAME, preflight.SANDBOX_PRIVATE_KEY)
    )
    monkeypatch.setenv(names[0], key.name)
    monkeypatch.setenv(names[1], key.private_key_pem)
