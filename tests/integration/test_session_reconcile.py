"""Reliability scenarios 13 and 14 in a sandbox session: periodic reconciliation, every bar here.

Mid-session, money arrives at the exchange from outside: reconciliation books it as an outside
deposit in the ledger and the database and records it in the session journal, so the replay
books it at the same point. Mid-session, someone else places an order on the account:
reconciliation halts trading, never trades to fix it, and only a person's reset (after they
dealt with the stranger's order) lets the session trade again.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from coinswarm import sessions
from coinswarm.backtest.session_replay import replay_journal
from coinswarm.cli import app
from coinswarm.domain.ledger import Deposit
from coinswarm.exchanges.local_coinbase.schemas import CreateOrderRequest
from coinswarm.infra.session_journal import read_journal
from coinswarm.infra.storage import Store
from session_harness import (
    PRODUCT,
    Exchange,
    after_bars,
    journal_paced,
    sandbox_request,
    serve,
    use_keys,
)

GIFT = Decimal("2500")


@pytest.fixture
def exchange(tmp_path: Path) -> Iterator[Exchange]:
    yield from serve(tmp_path)


def test_an_outside_deposit_is_noticed_booked_journalled_and_replayed(
    exchange: Exchange, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_keys(monkeypatch, exchange.key, live=False)
    journal = tmp_path / "session.jsonl"
    database = f"sqlite:///{tmp_path / 'sandbox.db'}"
    request = sandbox_request(exchange, tmp_path, reconcile_every_s=0.001)  # every bar
    gift = after_bars(journal, 5, then=lambda: exchange.venue.deposit("USD", GIFT))
    told: list[str] = []
    with journal_paced(exchange, journal):
        outcome = sessions.run_session(request, say=told.append)
    gift.join(timeout=5.0)

    with Store.open(database) as store:
        deposits = [d for d in store.ledger_events(outcome.run_id) if isinstance(d, Deposit)]
        guarded = [e for e in store.risk_events(outcome.run_id) if e.source == "guard"]
    outside = [d for d in deposits if "outside deposit" in d.reference]
    assert [d.amount for d in outside] == [GIFT], "booked once, for exactly what arrived"
    assert any("OUTSIDE_DEPOSIT" in line or "outside deposit" in line for line in told)
    # Reconciling every bar also meets fills that landed between two bars, before the venue
    # lists them: those are back-filled once and stored as differences too.
    deposits_seen = [e for e in guarded if e.kind == "DIFFERENCE" and "OUTSIDE_DEPOSIT" in e.reason]
    assert len(deposits_seen) == 1, "the difference is stored as the run's risk event, once"
    assert "recorded as a deposit" in deposits_seen[0].reason
    recorded = [r for r in read_journal(journal) if r.kind == "reconciled"]
    assert [d["amount"] for r in recorded for d in r.data["deposits"]] == [str(GIFT)]
    report = replay_journal(journal)
    assert report.equal, report.first_difference


def _stranger_order(exchange: Exchange) -> str:
    body = CreateOrderRequest.model_validate(
        {
            "client_order_id": "manual-1",
            "product_id": PRODUCT,
            "side": "BUY",
            "order_configuration": {
                "limit_limit_gtc": {"base_size": "0.01", "limit_price": "1000.00"}
            },
        }
    )
    answer = exchange.venue.place(body)
    assert answer.success_response is not None, answer
    return answer.success_response.order_id


def test_a_stranger_s_order_halts_trading_until_a_person_resets(
    exchange: Exchange, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_keys(monkeypatch, exchange.key, live=False)
    journal = tmp_path / "session.jsonl"
    state = tmp_path / "risk-state.json"
    database = f"sqlite:///{tmp_path / 'sandbox.db'}"
    request = sandbox_request(
        exchange,
        tmp_path,
        bars=50,
        state_file=state,
        reconcile_every_s=0.001,  # every bar
    )
    stranger: list[str] = []

    def clean_up_and_reset() -> None:
        exchange.venue.cancel(stranger)  # the person deals with the cause first
        result = CliRunner().invoke(
            app, ["risk", "reset", "--by", "bob", "--reason", "manual order", "--state", str(state)]
        )
        assert result.exit_code == 0, result.output

    after_bars(journal, 5, lambda: stranger.append(_stranger_order(exchange)))
    after_bars(journal, 18, clean_up_and_reset)
    with journal_paced(exchange, journal):
        outcome = sessions.run_session(request)

    orders = outcome.result.orders
    held = [o for o in orders if "reconciliation" in (o.reject_reason or "")]
    assert held, "orders decided while the stranger's order stood were held"
    assert all("manual-1" in (o.reject_reason or "") for o in held)
    sent_after = [o for o in orders if o.created_ts > max(h.created_ts for h in held)]
    at_exchange = {o.client_order_id for o in exchange.venue.engine_orders()}
    assert any(o.client_order_id in at_exchange for o in sent_after), "trading resumed"
    assert not {o.client_order_id for o in held} & at_exchange, "nothing held was sent"
    with Store.open(database) as store:
        events = [e for e in store.risk_events(outcome.run_id) if e.source == "guard"]
    resumed = [e for e in events if e.kind == "RESUMED" and e.reason.startswith("reconciliation")]
    assert [e.actor for e in resumed] == ["bob"]
