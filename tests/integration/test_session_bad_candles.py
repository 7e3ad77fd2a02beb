"""Reliability scenario 17 in a sandbox session: a bad candle never reaches the strategy.

The local exchange sends candles whose high is below their low (`crossed_candle`); the session's
candle feed quarantines them at ingestion, so the strategy never sees those bars and no order
is decided on them, while the session goes on trading on the good ones.

The exchange reveals a bar once the session stepped the bar before last (`Lockstep`, read from
the session's journal); a spoiled bar never reaches the journal, so it counts as stepped the
moment it is revealed. A loaded machine slows the replay, never races it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from coinswarm import sessions
from coinswarm.exchanges.local_coinbase.wsfaults import WsFault
from session_harness import (
    PRODUCT,
    Exchange,
    JournalBars,
    Lockstep,
    sandbox_request,
    serve,
    use_keys,
)

SPOILED = 3
SPOIL_AFTER = 5  # stepped bars before the first spoiled one


class SteppedOrSpoiled:
    """The bars the session stepped (its journal) and those spoiled, which it never steps."""

    def __init__(self, stepped: JournalBars) -> None:
        self._stepped = stepped
        self.spoiled: list[int] = []

    @property
    def seen(self) -> list[int]:
        return sorted({*self._stepped.seen, *self.spoiled})


@pytest.fixture
def exchange(tmp_path: Path) -> Iterator[Exchange]:
    yield from serve(tmp_path)


def test_crossed_candles_are_quarantined_and_the_session_trades_on(
    exchange: Exchange, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_keys(monkeypatch, exchange.key, live=False)
    request = sandbox_request(exchange, tmp_path)
    journal = tmp_path / "session.jsonl"
    stepped = JournalBars(journal)
    shown = SteppedOrSpoiled(stepped)
    times = list(exchange.times)

    def spoil(j: int) -> None:
        # The next candles message carries bar j alone: crossed, it is never stepped.
        steps = stepped.seen
        if len(steps) >= SPOIL_AFTER and len(shown.spoiled) < SPOILED:
            exchange.ws_faults.set([WsFault(kind="crossed_candle", channel="candles", times=1)])
            shown.spoiled.append(times[j])

    def gate(j: int) -> bool:
        steps = stepped.seen
        return stepped.started() and (not steps or j <= times.index(steps[0]) + 30 + SPOILED)

    replay = Lockstep(exchange.venue, times, shown, warm_up_s=0.2, gate=gate, before=spoil)
    with replay.running():
        outcome = sessions.run_session(request)
    stepped.close()
    assert exchange.ws_faults.take("crossed_candle", "candles") is False, "all spoiled were sent"

    seen = outcome.result.market[PRODUCT]
    assert len(seen) >= 30
    for i in range(len(seen)):
        bar = seen.bar(i)
        assert all(math.isfinite(v) for v in (bar.open, bar.high, bar.low, bar.close))
        assert bar.low <= min(bar.open, bar.close) <= max(bar.open, bar.close) <= bar.high
    # The exchange revealed every hour in between; the spoiled ones are missing from what the
    # strategy saw.
    revealed = exchange.venue.revealed(PRODUCT)
    assert revealed is not None
    first, last = int(seen.ts[0]), int(seen.ts[-1])
    at_exchange = {int(t) for t in revealed.ts if first <= int(t) <= last}
    missing = at_exchange - {int(t) for t in seen.ts}
    assert 0 < len(missing) <= SPOILED, "the crossed candles were dropped, and only those"
    decided_on = {o.created_ts for o in outcome.result.orders}
    assert not decided_on & missing
