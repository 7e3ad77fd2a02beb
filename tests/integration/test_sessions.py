"""Sandbox and live sessions against the local Coinbase-compatible exchange on 127.0.0.1.

A session is the backtest's engine on the wall clock, fed closed candles by the exchange's
websocket, with orders sent over HTTPS by our Coinbase adapter. The start-up checks of live
trading (reliability scenarios 22 and 25) are each shown to refuse, and then to let a correct
configuration through.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from coinswarm import preflight, sessions
from coinswarm.data import synthetic_market
from coinswarm.domain.instrument import instrument_from_symbol
from coinswarm.exchanges.coinbase import UnsafeKeyError
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
from coinswarm.risk.kill_switch import KillSwitch
from coinswarm.risk.profiles import profile_for
from coinswarm.risk.state_file import StoredRiskState, save_risk_state

PRODUCT = "BTC-USD"
FAST_STREAM = StreamSettings(heartbeat_s=0.05, poll_s=0.01)


@dataclass
class Exchange:
    server: RunningServer
    venue: Venue
    key: CdpKey
    ca_file: Path

    @property
    def url(self) -> str:
        return self.server.base_url


def _serve(
    tmp_path: Path, *, permissions: KeyPermissions | None = None, btc: Decimal = Decimal(0)
) -> Iterator[Exchange]:
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
        yield Exchange(server, venue, key, tls.ca_cert)


@pytest.fixture
def exchange(tmp_path: Path) -> Iterator[Exchange]:
    yield from _serve(tmp_path)


def _keys(monkeypatch: pytest.MonkeyPatch, key: CdpKey, *, live: bool) -> None:
    names = (
        ("COINSWARM_COINBASE_KEY_NAME", "COINSWARM_COINBASE_PRIVATE_KEY")
        if live
        else (preflight.SANDBOX_KEY_NAME, preflight.SANDBOX_PRIVATE_KEY)
    )
    monkeypatch.setenv(names[0], key.name)
    monkeypatch.setenv(names[1], key.private_key_pem)


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


def _sandbox(exchange: Exchange, **changes: object) -> sessions.SessionRequest:
    values: dict[str, object] = {
        "mode": preflight.SANDBOX,
        "url": exchange.url,
        "products": (PRODUCT,),
        "strategy": "sma-cross",
        "parameters": {"fast": "2", "slow": "5"},
        "bars": 60,
        "idle_timeout_s": 20.0,
        "ca_file": exchange.ca_file,
    }
    values.update(changes)
    return sessions.SessionRequest(**values)  # type: ignore[arg-type]


def test_a_sandbox_session_trades_over_the_wire_and_books_the_exchange_s_fills(
    exchange: Exchange, monkeypatch: pytest.MonkeyPatch
) -> None:
    _keys(monkeypatch, exchange.key, live=False)
    with replaying(exchange.venue):
        outcome = sessions.run_session(_sandbox(exchange))
    result = outcome.result
    sent = [o for o in result.orders if not o.order_id.startswith("LOCAL-REJECT")]
    assert len(sent) >= 4, "sma-cross 2/5 crosses several times in 60 bars"
    at_exchange = {f.trade_id: f for f in exchange.venue.fills()}
    booked = [f.trade_id for f in result.fills]
    assert len(booked) == len(set(booked)), "a fill was booked twice"
    assert booked, "the session booked no fill"
    for fill in result.fills:
        theirs = at_exchange[fill.trade_id]
        assert (fill.price, fill.quantity, fill.fee) == (theirs.price, theirs.quantity, theirs.fee)
    clients = [o.client_order_id for o in exchange.venue.engine_orders()]
    assert len(clients) == len(set(clients)), "one exchange order per client order id"
    assert set(clients) == {o.client_order_id for o in sent}
    assert outcome.risk is not None
    assert outcome.risk.phase == 2
    assert outcome.run_id.startswith("sandbox-")


def test_the_sandbox_refuses_coinbase_s_live_api_and_the_live_key(
    exchange: Exchange, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(preflight.ModeError, match="live API"):
        sessions.run_session(_sandbox(exchange, url="https://api.coinbase.com"))
    _keys(monkeypatch, exchange.key, live=False)
    _keys(monkeypatch, exchange.key, live=True)  # the same key configured for both modes
    with pytest.raises(preflight.ModeError, match="also configured as the live key"):
        sessions.run_session(_sandbox(exchange))


def _live(exchange: Exchange, tmp_path: Path, **changes: object) -> sessions.SessionRequest:
    values: dict[str, object] = {
        "mode": preflight.LIVE,
        "url": exchange.url,
        "products": (PRODUCT,),
        "phase": "3",
        "strategy": "sma-cross",
        "parameters": {"fast": "2", "slow": "5"},
        "bars": 5,
        "idle_timeout_s": 20.0,
        "confirm": preflight.confirmation_text(exchange.url),
        "ca_file": exchange.ca_file,
        "state_file": tmp_path / "risk-state.json",
    }
    values.update(changes)
    return sessions.SessionRequest(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "refusal"),
    [
        ({"phase": None}, "choose the real-money risk phase"),
        ({"phase": "1"}, "expected a real-money phase"),
        ({"confirm": "yes"}, "type the confirmation exactly"),
        ({"url": "http://127.0.0.1:9"}, "expected an https:// URL"),
        ({"url": None}, "--url is required"),
    ],
)
def test_live_refuses_without_its_explicit_limits_and_consent(
    exchange: Exchange, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, changes, refusal
) -> None:
    _keys(monkeypatch, exchange.key, live=True)
    with pytest.raises(preflight.ModeError, match=refusal):
        sessions.run_session(_live(exchange, tmp_path, **changes))
    assert exchange.venue.engine_orders() == []


def test_live_refuses_while_the_kill_switch_is_set(
    exchange: Exchange, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _keys(monkeypatch, exchange.key, live=True)
    kill = KillSwitch(profile_for(3))
    kill.manual_stop(0, "investigating a fill", by="alice")
    save_risk_state(tmp_path / "risk-state.json", StoredRiskState(kill_switch=kill.state()))
    with pytest.raises(preflight.ModeError, match="kill switch is set"):
        sessions.run_session(_live(exchange, tmp_path))


def test_live_refuses_a_key_that_can_transfer_funds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for exchange in _serve(tmp_path, permissions=KeyPermissions(can_transfer=True)):
        _keys(monkeypatch, exchange.key, live=True)
        with pytest.raises(UnsafeKeyError, match="can transfer funds") as refused:
            sessions.run_session(_live(exchange, tmp_path))
        assert exchange.key.private_key_pem.strip().splitlines()[1] not in str(refused.value)


def test_live_refuses_an_exchange_that_does_not_reconcile_with_a_flat_book(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for exchange in _serve(tmp_path, btc=Decimal("0.5")):
        _keys(monkeypatch, exchange.key, live=True)
        with pytest.raises(preflight.ModeError, match="reconciliation at start failed"):
            sessions.run_session(_live(exchange, tmp_path))


def test_live_starts_when_every_check_passes(
    exchange: Exchange, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _keys(monkeypatch, exchange.key, live=True)
    with replaying(exchange.venue):
        outcome = sessions.run_session(_live(exchange, tmp_path))
    assert outcome.risk is not None
    assert outcome.risk.phase == 3
    assert outcome.run_id.startswith("live-")
    assert len(outcome.result.curve.equity) == 5
