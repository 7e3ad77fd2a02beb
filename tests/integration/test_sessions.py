"""Sandbox and live sessions against the local Coinbase-compatible exchange on 127.0.0.1.

A session is the backtest's engine on the wall clock, fed closed candles by the exchange's
websocket, with orders sent over HTTPS by our Coinbase adapter. The start-up checks of live
trading (reliability scenarios 22 and 25) are each shown to refuse, and then to let a correct
configuration through.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from coinswarm import preflight, sessions
from coinswarm.data.closed_bars import ClosedBars
from coinswarm.domain.bar import NS_PER_HOUR
from coinswarm.domain.ledger import Deposit
from coinswarm.exchanges.coinbase import UnsafeKeyError
from coinswarm.exchanges.local_coinbase import KeyPermissions
from coinswarm.exchanges.local_coinbase.schemas import CreateOrderRequest
from coinswarm.infra.storage import Store
from coinswarm.risk.kill_switch import KillSwitch
from coinswarm.risk.profiles import profile_for
from coinswarm.risk.state_file import StoredRiskState, save_risk_state
from session_harness import PRODUCT, Exchange, journal_paced, serve, use_keys


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
    with journal_paced(exchange):
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


def _person_s_order(exchange: Exchange, client_order_id: str, configuration: dict) -> str:
    """Place an order on the account as a person would, outside any session."""
    body = CreateOrderRequest.model_validate(
        {
            "client_order_id": client_order_id,
            "product_id": PRODUCT,
            "side": "BUY",
            "order_configuration": configuration,
        }
    )
    answer = exchange.venue.place(body)
    assert answer.success_response is not None, answer
    return answer.success_response.order_id


def test_live_refuses_an_account_with_an_open_order_that_is_not_ours(
    exchange: Exchange, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    resting = {"limit_limit_gtc": {"base_size": "0.01", "limit_price": "1000.00"}}
    order_id = _person_s_order(exchange, "manual-1", resting)
    use_keys(monkeypatch, exchange.key, live=True)
    database = f"sqlite:///{tmp_path / 'live.db'}"
    with pytest.raises(preflight.ModeError, match="reconciliation at start failed") as refused:
        sessions.run_session(_live(exchange, tmp_path, database=database))
    assert order_id in str(refused.value)
    assert "'manual-1', which is not ours" in str(refused.value)
    with Store.open(database) as store:
        assert store.runs() == [], "nothing was started"


def test_live_starts_on_an_account_with_a_history_its_balances_the_opening_book(
    exchange: Exchange, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Someone bought coins on this account before: a filled order, a fill, a BTC balance.
    bought = _person_s_order(exchange, "manual-buy", {"market_market_ioc": {"quote_size": "500"}})
    exchange.venue.advance(1)
    (history,) = [f for f in exchange.venue.fills() if f.order_id == bought]
    coins = exchange.venue.balances()["BTC"][0]
    assert coins > 0
    use_keys(monkeypatch, exchange.key, live=True)
    database = f"sqlite:///{tmp_path / 'live.db'}"
    with journal_paced(exchange):
        outcome = sessions.run_session(_live(exchange, tmp_path, database=database))

    assert history.trade_id not in {f.trade_id for f in outcome.result.fills}
    with Store.open(database) as store:
        run = store.get_run(outcome.run_id)
        assert run is not None
        assert run.status == "finished"
        opening = [d for d in store.ledger_events(outcome.run_id) if isinstance(d, Deposit)]
        events = store.risk_events(outcome.run_id)
    assert ("BTC", coins, "opening balance") in {
        (d.currency, d.amount, d.reference) for d in opening
    }
    assert not [e for e in events if "FOREIGN_ORDER" in e.reason], "history is not a stranger"


def test_live_starts_when_every_check_passes(
    exchange: Exchange, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    use_keys(monkeypatch, exchange.key, live=True)
    with journal_paced(exchange):
        outcome = sessions.run_session(_live(exchange, tmp_path))
    assert outcome.risk is not None
    assert outcome.risk.phase == 3
    assert outcome.run_id.startswith("live-")
    assert len(outcome.result.curve.equity) == 5


def test_a_session_that_fails_is_marked_failed_with_its_reason_not_left_running(
    exchange: Exchange, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_keys(monkeypatch, exchange.key, live=False)
    database = f"sqlite:///{tmp_path / 'sandbox.db'}"
    # No replay: the exchange reveals no bar, so the feed stalls after its idle timeout.
    request = _sandbox(exchange, database=database, idle_timeout_s=0.5)
    with pytest.raises(sessions.FeedStalledError):
        sessions.run_session(request)
    with Store.open(database) as store:
        (run,) = store.runs()
        reason = store.status_reason(run.run_id)
    assert run.status == "failed"
    assert reason is not None
    assert reason.startswith("FeedStalledError: no market data")


def test_a_session_records_each_bar_it_handled_for_discovery(
    exchange: Exchange, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_keys(monkeypatch, exchange.key, live=False)
    closed = ClosedBars()
    with journal_paced(exchange):
        outcome = sessions.run_session(_sandbox(exchange, bars=8), closed_bars=closed)
    (series,) = closed.snapshot()  # the wall clock is long past these recorded bars' closes
    traded = outcome.result.market[PRODUCT].ts.tolist()
    assert len(traded) == 8
    assert series.ts.tolist()[-8:] == traded, "every bar the engine handled, the last included"
    assert (series.instrument, series.interval_ns) == (PRODUCT, NS_PER_HOUR)
    now = closed.now_ns()
    assert now is not None
    assert int(series.ts[-1]) + series.interval_ns <= now
