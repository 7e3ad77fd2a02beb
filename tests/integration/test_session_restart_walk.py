"""The crash-point walk over sessions that trade two instruments, and over a second session.

A real `coinswarm sandbox` process trades BTC-USD and ETH-USD against the local
Coinbase-compatible exchange and is killed with SIGKILL at a named point of its first ETH-USD
order: its intent saved but not sent, its order sent but the answer not saved, or its fill's
row written but not committed. A restart with `--resume` must then end the run `finished`
with one exchange order per client order id, the exchange's fills in our ledger by trade id,
and our book equal to the exchange's balances. The same walk runs over a second session on an
account that traded before it: what the first session did is the account's history (the
opening book), never a stranger's order to halt on or a fill to book again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from coinswarm import preflight, sessions
from coinswarm.data import synthetic_market
from coinswarm.data.synthetic import MarketModel
from coinswarm.domain.bar import BarSeries
from coinswarm.domain.instrument import instrument_from_symbol
from coinswarm.execution.reconcile import expected_balances
from coinswarm.infra.storage import Store
from session_harness import Exchange, journal_paced, sandbox_request, serve, use_keys

PRODUCTS = ("BTC-USD", "ETH-USD")
SECOND = PRODUCTS[1]
POINTS = ("intent_saved", "order_sent", "storage_after_fill_row")
KILLED_BARS = 80  # both products' bars: the first ETH-USD order comes well before
RESUMED_BARS = 10


# Calm enough that no session trips the circuit breaker (bars come as fast as the session
# takes them, so its five minutes of wall time span the whole market), noisy enough that the
# averages cross often.
CALM = MarketModel(
    calm_volatility=0.001, storm_volatility=0.002, jump_probability=0.0, crashes_per_bar=0.0
)


def two_products() -> list[BarSeries]:
    """Return 3,000 calm hourly bars of BTC-USD and ETH-USD."""
    return [
        synthetic_market(instrument=product, bars=3000, seed=11 + i, start_price=price, model=CALM)
        for i, (product, price) in enumerate(zip(PRODUCTS, (20_000.0, 2_000.0), strict=True))
    ]


@pytest.fixture
def exchange(tmp_path: Path) -> Iterator[Exchange]:
    balances = {"USD": Decimal(100_000), "BTC": Decimal(0), "ETH": Decimal(0)}
    yield from serve(tmp_path, market=two_products(), balances=balances)


LIVE_KEYS = ("COINSWARM_COINBASE_KEY_NAME", "COINSWARM_COINBASE_PRIVATE_KEY")
SANDBOX_KEYS = (preflight.SANDBOX_KEY_NAME, preflight.SANDBOX_PRIVATE_KEY)


def _killed_session(
    exchange: Exchange,
    tmp_path: Path,
    crash_at: str,
    database: str,
    mode: str = preflight.SANDBOX,
) -> str:
    """Run `coinswarm MODE` on both products until it kills itself at `crash_at`; return the
    id of the run it left `running`. Live runs on the local exchange as its stand-in."""
    with Store.open(database, upgrade=True) as store:
        before = {r.run_id for r in store.runs()}
    env = {
        **os.environ,
        (LIVE_KEYS if mode == preflight.LIVE else SANDBOX_KEYS)[0]: exchange.key.name,
        (LIVE_KEYS if mode == preflight.LIVE else SANDBOX_KEYS)[1]: exchange.key.private_key_pem,
        "COINSWARM_HOME": str(tmp_path / "home"),
        "COINSWARM_CRASH_AT": crash_at,
    }
    products = [arg for product in PRODUCTS for arg in ("--product", product)]
    live = ["--phase", "3", "--confirm", preflight.confirmation_text(exchange.url)]
    command = [
        sys.executable, "-m", "coinswarm", mode, "--url", exchange.url, *products,
        "--strategy", "sma-cross", "--param", "fast=2", "--param", "slow=5",
        "--bars", str(KILLED_BARS), "--ca-file", str(exchange.ca_file),
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
        (run,) = [r for r in store.runs() if r.run_id not in before]
    assert run.status == "running"
    return run.run_id


def _assert_killed_at_its_first_order_of(
    product: str, point: str, database: str, run_id: str
) -> None:
    """The session died around its first `product` order: before its answer was saved (its
    intent still open), or with the fill's row not committed (no fill of it stored)."""
    with Store.open(database) as store:
        open_intents = [r.instrument for r in store.open_intents(run_id)]
        stored = [f.instrument for f in store.fills(run_id)]
    if point == "storage_after_fill_row":
        assert product not in stored
    else:
        assert open_intents == [product]


def _session(
    exchange: Exchange,
    tmp_path: Path,
    database: str,
    name: str,
    mode: str = preflight.SANDBOX,
    state: str = "risk-state.json",
    **changes: object,
) -> sessions.bootstrap.BacktestOutcome:
    """Run a session on both products in this process; its journal is `name`.jsonl, its
    risk state file `state` (the killed session's by default)."""
    live = {"phase": "3", "confirm": preflight.confirmation_text(exchange.url)}
    request = sandbox_request(
        exchange,
        tmp_path,
        mode=mode,
        **(live if mode == preflight.LIVE else {}),
        products=PRODUCTS,
        database=database,
        state_file=tmp_path / state,
        journal_path=tmp_path / f"{name}.jsonl",
        **changes,
    )
    with journal_paced(exchange, tmp_path / f"{name}.jsonl"):
        return sessions.run_session(request)


def _assert_settled(exchange: Exchange, database: str, run_id: str) -> None:
    """One exchange order per client order id; our fills are the exchange's for our orders;
    the run finished; our book equals the exchange's balances."""
    clients = [o.client_order_id for o in exchange.venue.engine_orders()]
    assert len(clients) == len(set(clients)), "an intent reached the exchange twice"
    instruments = {p: instrument_from_symbol(p) for p in PRODUCTS}
    with Store.open(database) as store:
        run = store.get_run(run_id)
        assert run is not None
        assert run.status == "finished"
        assert not store.open_intents(run_id), "an intent was left unsettled"
        ours = {f.trade_id: f for f in store.fills(run_id)}
        orders = {o.order_id: o for o in store.orders(run_id)}
        ledger = store.restore_ledger(run_id, instruments, "USD")
    theirs = {f.trade_id: f for f in exchange.venue.fills() if f.order_id in orders}
    assert set(ours) <= set(theirs), "we booked a fill the exchange does not have"
    # The exchange keeps replaying while the session ends: an order the session last saw open
    # may fill after it stopped looking. Any other fill of ours missing here was lost.
    late = set(theirs) - set(ours)
    for trade_id in late:
        assert not orders[theirs[trade_id].order_id].status.is_terminal, f"{trade_id} was lost"
    if late:
        return  # the book is one late fill short of the exchange by construction
    balances = {c: total for c, (total, _held) in exchange.venue.balances().items()}
    book = expected_balances(ledger, instruments)
    for currency in sorted(set(book) | set(balances)):
        assert book.get(currency, Decimal(0)) == balances.get(currency, Decimal(0)), currency


@pytest.mark.parametrize("point", POINTS)
def test_a_two_instrument_session_killed_at_its_second_instrument_s_first_order_resumes(
    exchange: Exchange, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, point: str
) -> None:
    database = f"sqlite:///{tmp_path / 'sandbox.db'}"
    run_id = _killed_session(exchange, tmp_path, f"{point}@{SECOND}:1", database)
    _assert_killed_at_its_first_order_of(SECOND, point, database, run_id)

    use_keys(monkeypatch, exchange.key, live=False)
    outcome = _session(exchange, tmp_path, database, "resumed", resume=run_id, bars=RESUMED_BARS)

    assert outcome.run_id == run_id
    assert any(o.instrument == SECOND for o in outcome.result.orders), "its ETH-USD order"
    _assert_settled(exchange, database, run_id)


# The whole walk in the sandbox; live (the local exchange as its stand-in) where it differs:
# its start check reconciles the account as it stands, history and all.
HISTORY_WALK = [
    *((preflight.SANDBOX, point) for point in POINTS),
    (preflight.LIVE, "order_sent"),
]


@pytest.mark.parametrize(("mode", "point"), HISTORY_WALK)
def test_a_second_session_on_an_account_with_history_is_killed_and_resumes(
    exchange: Exchange, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str, point: str
) -> None:
    database = f"sqlite:///{tmp_path / f'{mode}.db'}"
    use_keys(monkeypatch, exchange.key, live=mode == preflight.LIVE)
    # Its own risk state: its fees alone, minutes ago in wall time, would trip the breaker of
    # the next session on hourly bars replayed this fast.
    first = _session(exchange, tmp_path, database, "first", mode, "first-risk.json", bars=60)
    assert first.result.fills, "the first session traded: the account has a history"
    # One more bar fills what the first session sent last: its history is settled before the
    # next session reads the account (an order left open across sessions is a stranger's).
    exchange.venue.advance(1)

    run_id = _killed_session(exchange, tmp_path, f"{point}@{SECOND}:1", database, mode)
    _assert_killed_at_its_first_order_of(SECOND, point, database, run_id)
    outcome = _session(
        exchange, tmp_path, database, "resumed", mode, resume=run_id, bars=RESUMED_BARS
    )

    assert outcome.run_id == run_id
    history = {f.trade_id for f in first.result.fills}
    assert not history & {f.trade_id for f in outcome.result.fills}, "history booked again"
    _assert_settled(exchange, database, run_id)
