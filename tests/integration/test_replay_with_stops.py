"""Every mode's journal replays byte for byte over long runs with stops and resets.

A person's stops and resets reach a paper run between two bars, through the same operator and
risk state file as a sandbox or live session, and the shared kill switch (Redis) the same way;
a backtest's simulated operator resets stops by itself. Each of these is a step of the run, so
the replay of the journal must meet it at the same place and make the same orders and fills.
(Sandbox sessions with a person's stop and reset: tests/integration/test_session_replay.py.)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

from coinswarm import bootstrap
from coinswarm.backtest.session_replay import ReplayDivergenceError, replay_journal
from coinswarm.backtest.stops import stop_rows
from coinswarm.infra.session_journal import GENESIS, read_journal
from coinswarm.infra.state import RedisHotState
from coinswarm.risk.state_file import PersonAction, StoredRiskState, update_risk_state
from redis_harness import REDIS


def _paper_request(*, bars: int, exchange: str = "simulated", **extra: object):
    return bootstrap.BacktestRequest(
        strategy="sma-cross",
        parameters={"fast": "3", "slow": "8"},
        synthetic_bars=bars,
        mode="paper",
        phase="1",
        cash=Decimal(100_000),
        store="none",
        exchange=exchange,
        **extra,
    )


def _at_bars(actions: dict[int, Callable[[], None]]) -> Callable[[int], None]:
    """Return a pace that does `actions[n]` before the n-th bar time: a person at the keys."""
    seen = iter(range(1, 1 << 30))

    def pace(_ts: int) -> None:
        act = actions.get(next(seen))
        if act is not None:
            act()

    return pace


def _person(path: Path, kind: str, by: str) -> Callable[[], None]:
    def act() -> None:
        action = PersonAction.from_dict({"kind": kind, "by": by, "reason": "by hand", "ts": 1})

        def append(stored: StoredRiskState) -> StoredRiskState:
            return StoredRiskState(
                stored.kill_switch,
                stored.breaker,
                stored.log,
                (*stored.actions, action),
                stored.applied,
            )

        update_risk_state(path, append)

    return act


def _without(path: Path, kind: str) -> None:
    """Drop every `kind` record and reseal the chain, as a careful forger would."""
    records = [json.loads(line) for line in path.read_text().splitlines()]
    kept = [r for r in records if r["kind"] != kind]
    prev, lines = GENESIS, []
    for seq, record in enumerate(kept, start=1):
        record["seq"], record["prev"] = seq, prev
        line = json.dumps(record, sort_keys=True, separators=(",", ":"))
        lines.append(line)
        prev = hashlib.sha256(line.encode()).hexdigest()
    path.write_text("\n".join(lines) + "\n")


def _kinds(outcome: bootstrap.BacktestOutcome) -> list[str]:
    return [str(e.kind) for e in outcome.result.risk_events]


@pytest.mark.parametrize("exchange", ["simulated", "local", "local-ccxt"])
def test_a_paper_run_with_a_person_s_stops_and_resets_replays_byte_for_byte(
    tmp_path: Path, exchange: str
) -> None:
    state, path = tmp_path / "risk-state-paper.json", tmp_path / "paper.jsonl"
    person = {
        300: _person(state, "stop", "ada"),
        500: _person(state, "reset", "ada"),
        800: _person(state, "stop", "bo"),
        1000: _person(state, "reset", "bo"),
    }
    request = _paper_request(bars=1200, exchange=exchange, state_file=state)
    outcome = bootstrap.run(request, journal_path=path, pace=_at_bars(person))
    kinds = _kinds(outcome)
    assert kinds.count("MANUAL_STOP") == 2
    assert kinds.count("RESET") >= 2
    # While stopped the strategy still asked, and the door refused: the stop held.
    assert any("kill switch" in reason for reason in outcome.refused())
    people = [r.data["action"]["by"] for r in read_journal(path) if r.kind == "person"]
    assert people == ["ada", "ada", "bo", "bo"]
    report = replay_journal(path)
    assert report.equal, report.first_difference
    assert report.orders == len(outcome.result.orders)
    _without(path, "person")
    with pytest.raises(ReplayDivergenceError):
        replay_journal(path)


def test_a_paper_run_that_starts_stopped_refuses_every_order_and_replays(tmp_path: Path) -> None:
    state, path = tmp_path / "risk-state-paper.json", tmp_path / "paper.jsonl"
    _person(state, "stop", "ada")()
    outcome = bootstrap.run(
        _paper_request(bars=400, state_file=state), journal_path=path, pace=_at_bars({})
    )
    assert outcome.result.orders, "sma-cross 3/8 asks to trade within 400 bars"
    assert len(outcome.refused()) == len(outcome.result.orders)
    assert outcome.result.fills == ()
    assert outcome.summary()["refused_orders"] == len(outcome.result.orders)
    assert replay_journal(path).equal


def test_a_backtest_journal_replays_the_simulated_operator_s_resets(tmp_path: Path) -> None:
    # The committee loses on the synthetic market: total-loss stops, each reset a week later.
    path = tmp_path / "backtest.jsonl"
    request = bootstrap.BacktestRequest(
        strategy="committee", phase="0", reset_after_days=7, store="none"
    )
    outcome = bootstrap.run(request, journal_path=path)
    resets = [e for e in outcome.result.risk_events if str(e.kind) == "RESET"]
    assert resets, "the simulated operator reset at least one stop"
    assert all(e.by and "simulated operator" in e.by for e in resets)
    report = replay_journal(path)
    assert report.equal, report.first_difference
    assert report.bars == bootstrap.SYNTHETIC_BARS
    # Each reset re-based the kill switch's peak: the report shows how far the whole run fell.
    rows = stop_rows(outcome.result.risk_events, outcome.result.curve, 10_000.0)
    assert max(r.drawdown_since_first_peak for r in rows) > 0.10
    html = outcome.write_report(tmp_path / "report.html").read_text()
    assert "drawdown since first peak" in html
    assert "re-bases" in html


def test_with_the_default_no_reset_a_total_loss_stop_ends_trading(tmp_path: Path) -> None:
    request = bootstrap.BacktestRequest(strategy="committee", phase="0", store="none")
    outcome = bootstrap.run(request)
    kinds = _kinds(outcome)
    assert "TOTAL_LOSS_STOP" in kinds
    assert "RESET" not in kinds
    stop_ts = next(e.ts for e in outcome.result.risk_events if e.kind == "TOTAL_LOSS_STOP")
    later = [f for f in outcome.result.fills if f.ts > stop_ts]
    # After the stop only its own exits may fill: nothing is bought again.
    assert all(f.side == "SELL" for f in later)


@pytest.fixture
def hot(redis_namespace: str) -> RedisHotState:
    return RedisHotState(REDIS, namespace=redis_namespace)


def test_a_paper_run_follows_the_shared_kill_switch_and_replays(
    tmp_path: Path, hot: RedisHotState
) -> None:
    path = tmp_path / "paper.jsonl"
    switch = {
        300: lambda: hot.set_kill_switch("exchange outage", "carol", 10),
        700: lambda: hot.clear_kill_switch("carol", 20),
    }
    request = _paper_request(bars=1000, state_file=tmp_path / "state.json", shared_state=REDIS)
    outcome = bootstrap.run(request, journal_path=path, pace=_at_bars(switch))
    kinds = _kinds(outcome)
    assert kinds.count("SHARED_STOP") == 1
    assert kinds.count("SHARED_CLEARED") == 1
    assert any("set by carol: exchange outage" in r for r in outcome.refused())
    assert [r.data["flag"] for r in read_journal(path) if r.kind == "shared"] == [
        {"by": "carol", "reason": "exchange outage", "ts_ns": 10},
        None,
    ]
    assert replay_journal(path).equal
    _without(path, "shared")
    with pytest.raises(ReplayDivergenceError):
        replay_journal(path)
