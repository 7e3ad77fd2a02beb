"""Reliability scenarios 5 and 6: a sandbox session killed mid-order, restarted, never trades twice.

A real `coinswarm sandbox` process trades against the local Coinbase-compatible exchange over
HTTPS and is killed with SIGKILL at a named point of its second order: after the intent is
saved but before it is sent (5), or after it is sent but before the answer is saved (6). A
restart with `--resume` must then find the intent at the exchange by its client order id and
adopt it with its fills (6), or fail it without ever sending it (5); in both cases the exchange
ends with one order per client order id, and our ledger with exactly the exchange's fills.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from coinswarm import preflight, sessions
from coinswarm.execution.recovery import NOT_SENT_PREFIX
from coinswarm.infra.storage import Store
from session_harness import PRODUCT, Exchange, journal_paced, serve, use_keys

SECOND_ORDER = 2


@pytest.fixture
def exchange(tmp_path: Path) -> Iterator[Exchange]:
    yield from serve(tmp_path)


LIVE_KEYS = ("COINSWARM_COINBASE_KEY_NAME", "COINSWARM_COINBASE_PRIVATE_KEY")
SANDBOX_KEYS = (preflight.SANDBOX_KEY_NAME, preflight.SANDBOX_PRIVATE_KEY)


def _killed_session(
    exchange: Exchange, tmp_path: Path, point: str, mode: str = preflight.SANDBOX
) -> tuple[str, str]:
    """Run `coinswarm MODE` until it kills itself at `point`; return its database and run id."""
    database = f"sqlite:///{tmp_path / f'{mode}.db'}"
    name, private = LIVE_KEYS if mode == preflight.LIVE else SANDBOX_KEYS
    env = {
        **os.environ,
        name: exchange.key.name,
        private: exchange.key.private_key_pem,
        "COINSWARM_HOME": str(tmp_path / "home"),
        "COINSWARM_CRASH_AT": f"{point}:{SECOND_ORDER}",
    }
    live = ["--phase", "3", "--confirm", preflight.confirmation_text(exchange.url)]
    command = [
        sys.executable, "-m", "coinswarm", mode, "--url", exchange.url,
        "--product", PRODUCT, "--strategy", "sma-cross", "--param", "fast=2",
        "--param", "slow=5", "--bars", "80", "--ca-file", str(exchange.ca_file),
        "--state", str(tmp_path / "risk-state.json"), "--db", database,
        *(live if mode == preflight.LIVE else []),
    ]  # fmt: skip
    # The session runs in another process: its journal, in its home, says how far it got.
    with journal_paced(exchange, tmp_path / "home" / "sessions"):
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=240, check=False
        )
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
    with Store.open(database) as store:
        (run,) = store.runs()
    assert run.status == "running"
    return database, run.run_id


def _resume(
    exchange: Exchange, tmp_path: Path, database: str, run_id: str, mode: str = preflight.SANDBOX
) -> sessions.bootstrap.BacktestOutcome:
    live = mode == preflight.LIVE
    request = sessions.SessionRequest(
        mode=mode,
        phase="3" if live else None,
        confirm=preflight.confirmation_text(exchange.url) if live else None,
        state_file=tmp_path / "risk-state.json",
        url=exchange.url,
        products=(PRODUCT,),
        strategy="sma-cross",
        parameters={"fast": "2", "slow": "5"},
        bars=10,
        idle_timeout_s=20.0,
        ca_file=exchange.ca_file,
        database=database,
        journal_path=tmp_path / "resumed.jsonl",
        resume=run_id,
    )
    with journal_paced(exchange, tmp_path / "resumed.jsonl"):
        return sessions.run_session(request)


def _stored_intents(database: str, run_id: str) -> list[str]:
    with Store.open(database) as store:
        return [o.client_order_id for o in store.orders(run_id)] + [
            r.client_order_id for r in store.open_intents(run_id)
        ]


def _assert_one_order_each_and_the_exchange_s_fills(
    exchange: Exchange, database: str, run_id: str
) -> None:
    clients = [o.client_order_id for o in exchange.venue.engine_orders()]
    assert len(clients) == len(set(clients)), "an intent reached the exchange twice"
    with Store.open(database) as store:
        ours = {f.trade_id for f in store.fills(run_id)}
        assert not store.open_intents(run_id), "an intent was left unsettled"
        last_seen = {o.order_id: o for o in store.orders(run_id)}
    theirs = {f.trade_id: f for f in exchange.venue.fills()}
    assert ours <= set(theirs), "we booked a fill the exchange does not have"
    # The exchange keeps replaying while the session ends: an order the session last saw open
    # may fill after it stopped looking. Any other fill missing here was lost.
    for trade_id in set(theirs) - ours:
        order = last_seen[theirs[trade_id].order_id]
        assert not order.status.is_terminal, f"fill {trade_id} of {order} was lost"


@pytest.mark.parametrize("mode", [preflight.SANDBOX, preflight.LIVE])
def test_killed_after_sending_a_restart_adopts_the_order_and_back_fills_its_fills(
    exchange: Exchange, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    # Live resumes holding coins: the recovery's reconciliation replaces the flat-book check.
    database, run_id = _killed_session(exchange, tmp_path, "order_sent", mode)
    with Store.open(database) as store:
        (unanswered,) = store.open_intents(run_id)  # sent, its answer never saved
    at_exchange = {o.client_order_id: o for o in exchange.venue.engine_orders()}
    assert unanswered.client_order_id in at_exchange, "the killed session had sent it"

    use_keys(monkeypatch, exchange.key, live=mode == preflight.LIVE)
    outcome = _resume(exchange, tmp_path, database, run_id, mode)

    adopted = [o for o in outcome.result.orders if o.client_order_id == unanswered.client_order_id]
    assert [o.order_id for o in adopted] == [at_exchange[unanswered.client_order_id].order_id]
    their_fills = [f for f in exchange.venue.fills() if f.order_id == adopted[0].order_id]
    assert their_fills, "the adopted market order filled at the exchange"
    booked = {f.trade_id for f in outcome.result.fills}
    assert {f.trade_id for f in their_fills} <= booked, "its fills were back-filled"
    _assert_one_order_each_and_the_exchange_s_fills(exchange, database, run_id)


def test_killed_before_sending_a_restart_fails_the_intent_and_never_sends_it(
    exchange: Exchange, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database, run_id = _killed_session(exchange, tmp_path, "intent_saved")
    with Store.open(database) as store:
        (unsent,) = store.open_intents(run_id)
    assert unsent.client_order_id not in {o.client_order_id for o in exchange.venue.engine_orders()}

    use_keys(monkeypatch, exchange.key, live=False)
    outcome = _resume(exchange, tmp_path, database, run_id)

    (failed,) = [o for o in outcome.result.orders if o.client_order_id == unsent.client_order_id]
    assert failed.order_id == NOT_SENT_PREFIX + unsent.client_order_id
    assert failed.status == "REJECTED"
    assert unsent.client_order_id not in {
        o.client_order_id for o in exchange.venue.engine_orders()
    }, "a restart must never send an intent decided before the crash"
    assert unsent.client_order_id in _stored_intents(database, run_id)
    _assert_one_order_each_and_the_exchange_s_fills(exchange, database, run_id)


def test_a_finished_or_unknown_session_cannot_be_resumed(
    exchange: Exchange, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_keys(monkeypatch, exchange.key, live=False)
    database = f"sqlite:///{tmp_path / 'sandbox.db'}"
    with pytest.raises(sessions.SessionResumeError, match="no session 'sandbox-nothing'"):
        _resume(exchange, tmp_path, database, "sandbox-nothing")
