"""Session journals and `coinswarm replay`: a recorded session re-runs to the same digest.

A paper run (the simulated exchange, or a local Coinbase-compatible exchange over HTTPS) and a
sandbox session (wall clock, websocket candles, a local exchange) each write an append-only
journal; replaying it reproduces every order and fill byte for byte. An edited journal is caught
by its hash chain, naming the line; an edit that keeps the chain intact makes the replay diverge,
naming the line; a cut-off journal is refused with a clear error.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from coinswarm import bootstrap, preflight, sessions
from coinswarm.backtest.session_replay import ReplayDivergenceError, replay_journal
from coinswarm.backtest.shadow import (
    MATCHED,
    MISSED,
    PARTIAL,
    SHADOW_ONLY,
    TradedOrder,
    attribute,
    shadow_journal,
)
from coinswarm.domain.order import Order, OrderRequest, OrderSide
from coinswarm.infra.session_journal import GENESIS, JournalError, read_journal
from coinswarm.risk.state_file import (
    PersonAction,
    StoredRiskState,
    load_risk_state,
    save_risk_state,
)
from session_harness import PRODUCT, Exchange, journal_paced, serve, use_keys


def _paper(
    path: Path, *, exchange: str = "simulated", bars: int = 300
) -> bootstrap.BacktestOutcome:
    request = bootstrap.BacktestRequest(
        strategy="sma-cross",
        parameters={"fast": "3", "slow": "8"},
        synthetic_bars=bars,
        mode="paper",
        phase="1",
        cash=Decimal(100_000),
        store="none",
        exchange=exchange,
    )
    return bootstrap.run(request, journal_path=path)


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _reseal(path: Path, records: list[dict]) -> None:
    """Write `records` back with a fresh hash chain, as a careful forger would."""
    prev, out = GENESIS, []
    for record in records:
        record["prev"] = prev
        line = json.dumps(record, sort_keys=True, separators=(",", ":"))
        out.append(line)
        prev = hashlib.sha256(line.encode()).hexdigest()
    path.write_text("\n".join(out) + "\n")


@pytest.mark.parametrize("exchange", ["simulated", "local"])
def test_a_paper_run_replays_to_the_same_digest(tmp_path: Path, exchange: str) -> None:
    path = tmp_path / "paper.jsonl"
    outcome = _paper(path, exchange=exchange)
    assert len(outcome.result.fills) >= 10, "sma-cross 3/8 trades often on 300 bars"
    report = replay_journal(path)
    assert report.equal, report.first_difference
    assert report.first_difference is None
    assert (report.orders, report.fills, report.bars) == (
        len(outcome.result.orders),
        len(outcome.result.fills),
        300,
    )
    kinds = {r.kind for r in read_journal(path)}
    assert {"start", "bar", "fills", "ack", "end"} <= kinds


def test_a_default_paper_journal_lands_under_the_data_folder(tmp_path: Path) -> None:
    request = bootstrap.BacktestRequest(
        strategy="sma-cross", synthetic_bars=50, mode="paper", phase="1", store="none"
    )
    first = bootstrap.run(request)
    second = bootstrap.run(request)  # a paper run is a session: the same command, a new run
    assert second.run_id != first.run_id
    folder = Path(os.environ["COINSWARM_HOME"]) / "sessions"
    names = sorted(p.name for p in folder.iterdir())
    assert names == sorted([f"{first.run_id}.jsonl", f"{second.run_id}.jsonl"])
    assert all(replay_journal(folder / n).equal for n in names)


def test_an_edited_line_breaks_the_chain_and_is_named(tmp_path: Path) -> None:
    path = tmp_path / "paper.jsonl"
    _paper(path)
    records = _lines(path)
    index = next(i for i, r in enumerate(records) if r["kind"] == "fills" and r["fills"])
    records[index]["fills"][0]["price"] = "1"
    path.write_text(
        "\n".join(json.dumps(r, sort_keys=True, separators=(",", ":")) for r in records) + "\n"
    )
    with pytest.raises(
        JournalError, match=rf"paper.jsonl:{index + 2}: field 'prev'.*line {index + 1} was edited"
    ):
        replay_journal(path)


def _edit_fill(path: Path, which: int) -> int:
    """Double the price of the first fill of the `which`-th bar with fills; return its line."""
    records = _lines(path)
    index = [i for i, r in enumerate(records) if r["kind"] == "fills" and r["fills"]][which]
    fill = records[index]["fills"][0]
    fill["price"] = str(Decimal(fill["price"]) * 2)
    _reseal(path, records)
    return index + 1


def test_an_edited_early_fill_makes_the_replay_diverge_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / "paper.jsonl"
    _paper(path)
    line = _edit_fill(path, 0)
    # Less cash after the dearer fill: the risk layer's next look differs from the session's.
    with pytest.raises(ReplayDivergenceError, match=r"paper.jsonl:\d+: replay diverged") as error:
        replay_journal(path)
    assert error.value.line is not None
    assert error.value.line > line


def test_an_edited_last_fill_changes_the_digest_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / "paper.jsonl"
    _paper(path)
    line = _edit_fill(path, -1)
    report = replay_journal(path)
    assert not report.equal
    assert report.first_difference is not None
    assert f"the fill recorded at journal line {line}" in report.first_difference


@pytest.mark.parametrize("cut", ["mid-line", "whole-lines"])
def test_a_cut_off_journal_is_refused_clearly(tmp_path: Path, cut: str) -> None:
    path = tmp_path / "paper.jsonl"
    _paper(path, bars=60)
    raw = path.read_bytes()
    if cut == "mid-line":
        path.write_bytes(raw[: len(raw) // 2])
        expected = r"paper.jsonl:\d+: truncated: the last line has no end of line"
    else:
        lines = raw.splitlines(keepends=True)
        path.write_bytes(b"".join(lines[: len(lines) // 2]))
        expected = r"paper.jsonl:\d+: the journal ends without an 'end' record"
    with pytest.raises(JournalError, match=expected):
        replay_journal(path)


# -- a sandbox session: wall clock, websocket candles, orders over HTTPS -----------------------


@pytest.fixture
def exchange(tmp_path: Path) -> Iterator[Exchange]:
    yield from serve(tmp_path)


def _session(
    exchange: Exchange,
    monkeypatch: pytest.MonkeyPatch,
    journal: Path | None,
    state_file: Path | None = None,
    mode: str = preflight.SANDBOX,
) -> str:
    live = mode == preflight.LIVE
    use_keys(monkeypatch, exchange.key, live=live)
    request = sessions.SessionRequest(
        mode=mode,
        # Live trades under phase 3 with the typed confirmation; otherwise the same session.
        phase="3" if live else None,
        confirm=preflight.confirmation_text(exchange.url) if live else None,
        url=exchange.server.base_url,
        products=(PRODUCT,),
        strategy="sma-cross",
        parameters={"fast": "2", "slow": "5"},
        bars=40,
        idle_timeout_s=20.0,
        ca_file=exchange.ca_file,
        journal_path=journal,
        state_file=state_file,
    )
    # Paced by the session's own journal: a loaded machine slows the bars, never races them.
    folder = Path(os.environ["COINSWARM_HOME"]) / "sessions"
    with journal_paced(exchange, journal or folder, bars=request.bars):
        return sessions.run_session(request).run_id


def test_a_sandbox_session_replays_to_the_same_digest_and_its_shadow_is_attributed(
    exchange: Exchange, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "sandbox.jsonl"
    _session(exchange, monkeypatch, path)
    records = read_journal(path)
    assert any(r.kind == "clock" for r in records), "the wall clock's readings are recorded"
    report = replay_journal(path)
    assert report.equal, report.first_difference
    assert report.bars == 40
    assert report.fills >= 2
    gap = shadow_journal(path)
    session_orders = [g for g in gap.gaps if g.kind != SHADOW_ONLY]
    assert len(session_orders) == report.orders
    # The session's fills are matched with the shadow's, each with a price and a latency.
    matched = [g for g in gap.gaps if g.kind == MATCHED]
    assert matched
    for g in matched:
        assert g.slippage_bps is not None
        assert g.latency_bars is not None


def test_a_sandbox_session_journal_defaults_to_the_data_folder(
    exchange: Exchange, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = _session(exchange, monkeypatch, None)
    path = Path(os.environ["COINSWARM_HOME"]) / "sessions" / f"{run_id}.jsonl"
    assert replay_journal(path).equal


@pytest.mark.parametrize("mode", [preflight.SANDBOX, preflight.LIVE])
def test_a_person_s_stop_and_reset_during_a_session_are_journalled_and_replayed(
    exchange: Exchange, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, mode: str
) -> None:
    # Asked for before the session's first bar and not yet applied: the session applies both
    # on that bar, through its door, exactly as it would a stop typed while it runs.
    state = tmp_path / "risk-state.json"
    actions = (
        PersonAction(kind="stop", by="ada", reason="checking the feed", ts=1),
        PersonAction(kind="reset", by="ada", reason="feed is fine", ts=2),
    )
    save_risk_state(state, StoredRiskState(actions=actions, applied=0))
    path = tmp_path / f"{mode}.jsonl"
    _session(exchange, monkeypatch, path, state, mode)
    people = [r for r in read_journal(path) if r.kind == "person"]
    done = [(r.data["action"]["kind"], r.data["action"]["by"]) for r in people]
    assert done == [("stop", "ada"), ("reset", "ada")]
    assert load_risk_state(state).applied == len(actions)
    report = replay_journal(path)
    assert report.equal, report.first_difference
    # Without the person's records the replay cannot reproduce the session's risk events.
    records = [line for line in _lines(path) if line["kind"] != "person"]
    for seq, record in enumerate(records, start=1):
        record["seq"] = seq
    _reseal(path, records)
    with pytest.raises(ReplayDivergenceError, match="the engine asked for"):
        replay_journal(path)


# -- the shadow's attribution on hand-made orders -------------------------------------------


def _traded(
    cid: str, quantity: str, price: str | None, bar: int | None, filled: str
) -> TradedOrder:
    request = OrderRequest(
        client_order_id=cid, instrument=PRODUCT, side=OrderSide.BUY, quantity=Decimal(quantity)
    )
    order = Order(f"id-{cid}", request, 0)
    return TradedOrder(order, Decimal(filled), None if price is None else Decimal(price), bar)


def test_the_shadow_attributes_slippage_latency_missed_and_partial_fills() -> None:
    session = [
        _traded("a", "1", "101", 5, "1"),  # 1% dearer, two bars late
        _traded("b", "1", None, None, "0"),  # never filled
        _traded("c", "2", "100", 3, "1"),  # half filled
        _traded("wall-d", "1", "100", 9, "1"),  # another id, paired by instrument and side
    ]
    shadow = [
        _traded("a", "1", "100", 3, "1"),
        _traded("b", "1", "100", 4, "1"),
        _traded("c", "2", "100", 3, "2"),
        _traded("bar-d", "1", "100", 9, "1"),
    ]
    report = attribute(session, shadow)
    kinds = [(g.client_order_id, g.kind) for g in report.gaps]
    assert kinds == [("a", MATCHED), ("b", MISSED), ("c", PARTIAL), ("wall-d", MATCHED)]
    a = report.gaps[0]
    assert a.slippage_bps == Decimal(100)
    assert a.slippage_cost == Decimal(1)
    assert a.latency_bars == 2
    assert report.summary()["missed"] == 1
    assert report.table()[-1].startswith("shadow gap: ")
