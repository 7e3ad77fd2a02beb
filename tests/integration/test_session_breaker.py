"""RELIABILITY scenario 19 through a sandbox session, over HTTPS against the local exchange.

A 12% fall inside one bar trips the circuit breaker: the session cancels its resting orders at
the exchange and sends no new one, and the risk state file says the breaker tripped. The
session dies; restarted with `--resume` on the same database and state file, it still blocks.
Then a person runs `coinswarm risk reset --state FILE`, and the running session trades again.

The exchange is asked what it holds (its own record), never the session's record of it. Its
bars are revealed in step with the session, so each bar reaches the session in a known order
relative to the person's command, however slow the machine.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from coinswarm import bootstrap, preflight, sessions
from coinswarm.cli import app
from coinswarm.domain.bar import Bar, BarSeries
from coinswarm.domain.order import Order, OrderRequest, OrderSide, OrderStatus, OrderType
from coinswarm.exchanges.local_coinbase import Venue
from coinswarm.risk.state_file import load_risk_state
from coinswarm.strategies.base import Intent, StrategyContext
from session_harness import (
    PRODUCT,
    Exchange,
    Lockstep,
    flat_hourly_market,
    serve,
    use_keys,
    use_strategy,
)

BARS = 100
CRASH = 20  # the bar with a 12% fall from its open to its low
PRICE = 20_000.0
WARM_UP_S = 0.5  # the pace before the session shows its first bar: time enough to subscribe
D = Decimal


class SessionDiedError(Exception):
    """The end of a session's first life, as a crash would end it."""


def crash_market() -> BarSeries:
    """Return flat BTC-USD bars with one 12% fall inside bar `CRASH`.

    The bars are hourly, as sessions trade; the breaker judges the move inside any one bar
    from its open, the one price whose time is known (`risk.circuit_breaker`).
    """
    low = np.full(BARS, PRICE - 10.0)
    low[CRASH] = PRICE * 0.88
    return flat_hourly_market(PRICE, low)


class RestingBids:
    """Bid for a little at half the price, so the bids rest: on the first `opening` bars it
    sees, then on every bar from `eager_from` on (every bar, by default).

    Resting orders are few on purpose: a session looks at each of them on every bar.
    `dies_at` ends the session's life with an exception on the first bar at or after it.
    """

    name = "resting-bids"

    def __init__(
        self, *, opening: int = 0, eager_from: int = 0, dies_at: int | None = None
    ) -> None:
        self.seen: list[int] = []  # bar times, in the order the session showed them
        self.placed: dict[str, int] = {}  # client order id -> the bar it was asked on
        self._opening, self._eager_from, self._dies_at = opening, eager_from, dies_at

    def on_bar(self, bar: Bar, context: StrategyContext) -> Sequence[Intent]:
        self.seen.append(bar.ts)
        if self._dies_at is not None and bar.ts >= self._dies_at:
            raise SessionDiedError(f"killed at bar {bar.ts}")
        if len(self.seen) > self._opening and bar.ts < self._eager_from:
            return []
        cid = context.next_client_order_id(bar.instrument)
        self.placed[cid] = bar.ts
        request = OrderRequest(
            client_order_id=cid,
            instrument=bar.instrument,
            side=OrderSide.BUY,
            type=OrderType.LIMIT,
            quantity=D("0.001"),
            limit_price=D(PRICE / 2),
        )
        return [request]

    def asked(self, *, since: int = 0, before: int | None = None) -> set[str]:
        """Return the client order ids asked for on bars in [since, before)."""
        return {
            c for c, ts in self.placed.items() if ts >= since and (before is None or ts < before)
        }


@pytest.fixture
def exchange(tmp_path: Path) -> Iterator[Exchange]:
    """Serve the crash market over HTTPS on 127.0.0.1 with $100k on the account."""
    yield from serve(tmp_path, market=[crash_market()])


def _session(exchange: Exchange, tmp_path: Path, **changes: object) -> sessions.SessionRequest:
    values: dict[str, object] = {
        "mode": preflight.SANDBOX,
        "url": exchange.url,
        "products": (PRODUCT,),
        "strategy": "resting-bids",
        "idle_timeout_s": 30.0,
        "ca_file": exchange.ca_file,
        "state_file": tmp_path / "risk-state.json",
        "database": _database(tmp_path),
    }
    values.update(changes)
    return sessions.SessionRequest(**values)  # type: ignore[arg-type]


def _database(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'sessions.db'}"


def _at_exchange(exchange: Exchange) -> dict[str, Order]:
    """Return every order the exchange holds, by client order id: its own record."""
    return {o.client_order_id: o for o in exchange.venue.engine_orders()}


def _started_on_balances(venue: Venue, started: threading.Event) -> None:
    # A new session reads its cash first; its stream subscribes right after.
    balances = venue.balances

    def reading() -> dict[str, tuple[Decimal, Decimal]]:
        started.set()
        return balances()

    venue.balances = reading  # type: ignore[method-assign]


def test_a_crash_trips_the_breaker_which_survives_a_restart_until_a_person_resets_it(
    exchange: Exchange, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    use_keys(monkeypatch, exchange.key, live=False)
    times = [int(t) for t in crash_market().ts]
    crash_ts = times[CRASH]
    state = tmp_path / "risk-state.json"

    # -- first life: trades, sees the crash, blocks, dies three bars later ---------------
    first = RestingBids(opening=3, eager_from=crash_ts, dies_at=times[CRASH + 3])
    use_strategy(monkeypatch, first, RestingBids)
    replay = Lockstep(
        exchange.venue,
        times,
        first,
        warm_up_s=WARM_UP_S,
        awaits_start=True,
        gate=lambda j: j < CRASH or len(first.seen) >= 3,
    )
    _started_on_balances(exchange.venue, replay.started)
    with replay.running(), pytest.raises(SessionDiedError):
        sessions.run_session(_session(exchange, tmp_path, journal_path=tmp_path / "first.jsonl"))

    held = _at_exchange(exchange)
    before_crash = first.asked(before=crash_ts)
    assert len(before_crash) == 3
    assert set(held) == before_crash  # every bid asked before the crash reached the exchange
    assert {o.status for o in held.values()} == {OrderStatus.CANCELLED}  # and none rests now
    after_crash = first.asked(since=crash_ts)
    assert len(after_crash) == 3  # asked on the crash bar and the two after it
    assert not after_crash & set(held)  # the exchange received none of them

    stored = load_risk_state(state)
    assert stored.breaker.tripped
    assert not stored.breaker.latched  # the sandbox's first trip cools down for an hour
    assert "BTC-USD moved -12.0% within one bar" in (stored.breaker.reason or "")
    assert any(" TRIP: BTC-USD moved -12.0%" in line for line in stored.log)
    with bootstrap.open_store(_database(tmp_path)) as store:
        (record,) = store.runs()
        reason = store.status_reason(record.run_id) or ""
    assert record.status == "failed"  # it died, and says why: a person may resume it
    assert reason.startswith("SessionDiedError")
    run = record.run_id

    # -- second life: resumed from the database and the file, blocked until a reset -------
    second = RestingBids()
    use_strategy(monkeypatch, second, RestingBids)
    reset_at: list[int] = []

    def person_resets(j: int) -> None:
        if not reset_at and len(second.seen) >= 3:
            command = ["risk", "reset", "--by", "bob", "--reason", "feed checked"]
            outcome = CliRunner().invoke(app, [*command, "--state", str(state)])
            assert outcome.exit_code == 0, outcome.output
            reset_at.append(times[j - 1])  # the first bar the session handles after it

    replay = Lockstep(exchange.venue, times, second, warm_up_s=WARM_UP_S, before=person_resets)
    with replay.running():
        resumed = _session(
            exchange, tmp_path, resume=run, bars=10, journal_path=tmp_path / "second.jsonl"
        )
        outcome = sessions.run_session(resumed)

    (reset_ts,) = reset_at
    held = _at_exchange(exchange)
    blocked = second.asked(before=reset_ts)
    assert len(blocked) >= 3
    assert not blocked & set(held)  # the restarted session sent nothing while tripped
    refusals = [o for o in outcome.result.orders if o.client_order_id in blocked]
    assert len(refusals) == len(blocked)
    assert all("circuit breaker: BTC-USD moved -12.0%" in (o.reject_reason or "") for o in refusals)
    traded = second.asked(since=reset_ts)
    assert len(traded) >= 3
    assert traded <= set(held)  # after the reset, every bid reached the exchange
    assert {held[c].status for c in traded} == {OrderStatus.OPEN}  # and rests there

    stored = load_risk_state(state)
    assert not stored.breaker.tripped
    assert stored.applied == len(stored.actions) == 1
    assert any("RESET: feed checked (by bob)" in line for line in stored.log)
    assert outcome.run_id == run
