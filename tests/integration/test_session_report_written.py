"""A sandbox session on the local exchange tells its progress and leaves the backtest's report.

The session starts warm (the exchange has already revealed bars, which it reads as history),
so its report must cover the bars it traded and not the warm-up: buy-and-hold buys at the
session's first bar. Stopped part way (Ctrl-C sets the same event), it still reports what
happened until then.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from coinswarm import sessions
from coinswarm.backtest.progress import RunProgress
from session_harness import (
    PRODUCT,
    Exchange,
    JournalBars,
    after_bars,
    journal_paced,
    sandbox_request,
    serve,
    use_keys,
)

WARM = 60  # bars revealed before the session starts (its warm-up), past the crash at bar 51


@pytest.fixture
def exchange(tmp_path: Path) -> Iterator[Exchange]:
    yield from serve(tmp_path)


def _stepped(journal: Path) -> list[int]:
    bars = JournalBars(journal)
    try:
        return list(bars.seen)
    finally:
        bars.close()


def test_a_sandbox_session_tells_its_progress_and_its_report_covers_what_it_traded(
    exchange: Exchange, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_keys(monkeypatch, exchange.key, live=False)
    exchange.venue.advance(WARM)
    heard: list[RunProgress] = []
    request = sandbox_request(exchange, tmp_path, bars=30)
    with journal_paced(exchange, request.journal_path, bars=30):
        outcome = sessions.run_session(request, progress=heard.append)
    result = outcome.result
    stepped = _stepped(tmp_path / "session.jsonl")
    assert stepped[0] > exchange.times[WARM - 1], "the first bar stepped is after the warm-up"
    # Progress: every bar as it was stepped, then the end from the result itself.
    assert [p.bars for p in heard[:-1]] == list(range(1, len(stepped) + 1))
    assert [p.market_ts for p in heard[:-1]] == stepped
    end = heard[-1]
    assert end.done
    assert end.total == 30
    assert (end.equity, end.orders, end.fills) == (
        result.final_equity,
        len(result.orders),
        len(result.fills),
    )
    assert end.fills >= 1, [(o.status, o.reject_reason) for o in result.orders]
    # The session's bars, not the warm-up: the curve and buy-and-hold start at its first bar.
    assert np.array_equal(result.curve.ts, stepped)
    assert np.array_equal(outcome.benchmark_curve.ts, stepped)
    assert outcome.metrics.bars == len(stepped)
    html = outcome.write_report(tmp_path / "report.html").read_text(encoding="utf-8")
    page = html.split("</head>", 1)[1]
    assert "<h1>Sandbox session: sma-cross</h1>" in page
    assert f"Run {outcome.run_id}: " in page
    assert f"{len(stepped)} bars of 1h" in page
    for order in result.orders:
        assert order.client_order_id in page
    for fill in result.fills:
        assert f"<td>{fill.price}</td>" in page


def test_a_stopped_session_still_reports_what_happened_until_then(
    exchange: Exchange, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_keys(monkeypatch, exchange.key, live=False)
    request = sandbox_request(exchange, tmp_path, bars=200)
    stop = threading.Event()
    after_bars(tmp_path / "session.jsonl", 12, stop.set)
    with journal_paced(exchange, request.journal_path):
        outcome = sessions.run_session(request, stop=stop)
    stepped = _stepped(tmp_path / "session.jsonl")
    assert 12 <= len(stepped) < 200
    assert np.array_equal(outcome.result.curve.ts, stepped)
    notes = ["Stopped with Ctrl-C: this report covers the sandbox session until then."]
    page = outcome.write_report(tmp_path / "stopped.html", notes=notes).read_text("utf-8")
    assert f"<strong>{notes[0]}</strong>" in page
    assert f"{len(stepped)} bars of 1h" in page
    assert PRODUCT in page
