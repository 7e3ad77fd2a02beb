"""Sandbox and live sessions against the local Coinbase-compatible exchange on 127.0.0.1.

A session is the backtest's engine on the wall clock, fed closed candles by the exchange's
websocket, with orders sent over HTTPS by our Coinbase adapter. The start-up checks of live
trading (reliability scenarios 22 and 25) are each shown to refuse, and then to let a correct
configuration through.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from coinswarm import preflight, sessions
from coinswarm.exchanges.coinbase import UnsafeKeyError
from coinswarm.exchanges.local_coinbase import KeyPermissions
from coinswarm.risk.kill_switch import KillSwitch
from coinswarm.risk.profiles import profile_for
from coinswarm.risk.state_file import StoredRiskState, save_risk_state
from session_harness import PRODUCT, Exchange, replaying, serve, use_keys


@pytest.fixture
def exchange(tmp_path: Path) -> Iterator[Exchange]:
    yield from serve(tmp_path)


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
    use_keys(monkeypatch, exchange.key, live=False)
    with replaying(exchange.venue):
        outcome = sessions.run_session(_sandbox(exchange))
    result = outcome.result
    sent = [o for o in result.orders if not o.order_id.startswith("LOCAL-REJECT")]
    # How many crosses come before the synthetic crash trips the breaker depends on when the
    # session joins the exchange's replay; at least one round trip always does.
    assert len(sent) >= 2, "sma-cross 2/5 crosses in 60 bars"
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
    use_keys(monkeypatch, exchange.key, live=False)
    use_keys(monkeypatch, exchange.key, live=True)  # the same key configured for both modes
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
    use_keys(monkeypatch, exchange.key, live=True)
    with pytest.raises(preflight.ModeError, match=refusal):
        sessions.run_session(_live(exchange, tmp_path, **changes))
    assert exchange.venue.engine_orders() == []


def test_live_refuses_while_the_kill_switch_is_set(
    exchange: Exchange, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    use_keys(monkeypatch, exchange.key, live=True)
    kill = KillSwitch(profile_for(3))
    kill.manual_stop(0, "investigating a fill", by="alice")
    save_risk_state(tmp_path / "risk-state.json", StoredRiskState(kill_switch=kill.state()))
    with pytest.raises(preflight.ModeError, match="kill switch is set"):
        sessions.run_session(_live(exchange, tmp_path))


def test_live_refuses_a_key_that_can_transfer_funds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for exchange in serve(tmp_path, permissions=KeyPermissions(can_transfer=True)):
        use_keys(monkeypatch, exchange.key, live=True)
        with pytest.raises(UnsafeKeyError, match="can transfer funds") as refused:
            sessions.run_session(_live(exchange, tmp_path))
        assert exchange.key.private_key_pem.strip().splitlines()[1] not in str(refused.value)


def test_live_refuses_an_exchange_that_does_not_reconcile_with_a_flat_book(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for exchange in serve(tmp_path, btc=Decimal("0.5")):
        use_keys(monkeypatch, exchange.key, live=True)
        with pytest.raises(preflight.ModeError, match="reconciliation at start failed"):
            sessions.run_session(_live(exchange, tmp_path))


def test_live_starts_when_every_check_passes(
    exchange: Exchange, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    use_keys(monkeypatch, exchange.key, live=True)
    with replaying(exchange.venue):
        outcome = sessions.run_session(_live(exchange, tmp_path))
    assert outcome.risk is not None
    assert outcome.risk.phase == 3
    assert outcome.run_id.startswith("live-")
    assert len(outcome.result.curve.equity) == 5
