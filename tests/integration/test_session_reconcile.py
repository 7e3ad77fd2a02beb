"""Reliability scenario 14 in a sandbox session: periodic reconciliation notices and records.

Mid-session, money arrives at the exchange from outside. The session's periodic reconciliation
(every bar here) finds the balance above ours, books it as an outside deposit in the ledger
and the database, and records it in the session journal, so the replay books it at the same
point and reproduces the session's decisions.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from coinswarm import preflight, sessions
from coinswarm.backtest.session_replay import replay_journal
from coinswarm.domain.ledger import Deposit
from coinswarm.infra.session_journal import read_journal
from coinswarm.infra.storage import Store
from session_harness import PRODUCT, Exchange, after_bars, replaying, serve, use_keys

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
    request = sessions.SessionRequest(
        mode=preflight.SANDBOX,
        url=exchange.url,
        products=(PRODUCT,),
        strategy="sma-cross",
        parameters={"fast": "2", "slow": "5"},
        bars=30,
        idle_timeout_s=20.0,
        ca_file=exchange.ca_file,
        database=database,
        journal_path=journal,
        reconcile_every_s=0.001,  # every bar
    )
    gift = after_bars(journal, 5, then=lambda: exchange.venue.deposit("USD", GIFT))
    told: list[str] = []
    with replaying(exchange.venue):
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
