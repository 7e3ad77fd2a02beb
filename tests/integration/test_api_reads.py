"""The read endpoints answer what the stores hold, over a real committee backtest and paper run.

One data folder holds a finished committee backtest (1,500 synthetic hours, stored in full with
a checkpoint every 120 bars), a finished paper run of the committee (400 hours), and a small
discovery run planted through the store (a proven, a rejected and a retired pattern with their
lineage). Every endpoint is asked through the real application (`create_app`, httpx over ASGI)
and its answer checked against the store read directly: counts, paging that covers every fill
once, an order's votes and fills, the equity curve against the run's own final equity, each
agent's hits recomputed from the bars, the risk state after a person's stop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from coinswarm import bootstrap
from coinswarm.api import ServeSettings, create_app
from coinswarm.api.services import Services
from coinswarm.backtest.defaults import risk_state_path
from coinswarm.domain.fill import Fill
from coinswarm.domain.instrument import instrument_from_symbol
from coinswarm.domain.ledger import Deposit, Ledger
from coinswarm.domain.order import Order, OrderRequest, OrderSide
from coinswarm.domain.pattern import Condition, Exit, Pattern, Sample, Score, Side, Source
from coinswarm.infra.storage import PatternUpdate, RunRecord, Store, Trial
from coinswarm.infra.storage.batch import Deposited, Filled, Ordered
from coinswarm.risk.state_file import PersonAction, StoredRiskState, update_risk_state

START = 1_640_995_200 * 1_000_000_000
HOUR = 3_600 * 1_000_000_000


def _backtest() -> bootstrap.BacktestOutcome:
    request = bootstrap.BacktestRequest(
        strategy="committee", synthetic_bars=1500, checkpoint_every=120
    )
    return bootstrap.run(request)


def _paper() -> bootstrap.BacktestOutcome:
    request = bootstrap.BacktestRequest(
        strategy="committee", synthetic_bars=400, cash=Decimal(100_000), phase="1", mode="paper"
    )
    return bootstrap.run(request)


def _rule(threshold: float, parents: tuple[str, ...] = (), source: Source = Source.CHAOS):
    return Pattern(
        entry=(Condition("rsi:14", "<", threshold),),
        side=Side.LONG,
        exit=Exit(max_bars=24),
        source=source,
        parents=parents,
    )


def _score(sample: Sample, sharpe: float, cycle: int, **judged: Any) -> Score:
    return Score(
        sample=sample,
        start_ns=START + cycle * HOUR,
        end_ns=START + (cycle + 500) * HOUR,
        instruments=("SYN-USDT",),
        timeframe="1h",
        trades=40,
        net_return=0.05 * sharpe,
        sharpe=sharpe,
        cycle=cycle,
        **judged,
    )


PARENT = _rule(30.0)
PROVEN = _rule(25.0, parents=(PARENT.id,), source=Source.EVOLVED)
REJECTED = _rule(20.0, parents=(PROVEN.id,), source=Source.EVOLVED)
JUDGED = {
    "n_trials": 12,
    "deflated_sharpe": 0.97,
    "pbo": 0.2,
    "spa_p": 0.03,
    "random_entry_p": 0.01,
}


def _discovery(store: Store) -> str:
    run_id = "evo-api-reads"
    store.create_evolution_run(run_id, '{"config": {"cycles": 4}}', START)
    store.commit_cycle(
        run_id,
        0,
        trials=[Trial(kind="chaos", in_sample_sharpe=0.1 * n) for n in range(7)],
        patterns=[
            PatternUpdate(pattern=PARENT, status="candidate", born_cycle=0),
            PatternUpdate(pattern=PROVEN, status="candidate", born_cycle=0),
            PatternUpdate(pattern=REJECTED, status="candidate", born_cycle=0),
        ],
        scores=[
            (PROVEN.id, _score(Sample.IN_SAMPLE, 2.0, 0)),
            (REJECTED.id, _score(Sample.IN_SAMPLE, 3.0, 0)),
        ],
        state_json="{}",
    )
    store.commit_cycle(
        run_id,
        1,
        trials=[Trial(kind="child", in_sample_sharpe=0.5) for _ in range(5)],
        patterns=[
            PatternUpdate(
                pattern=PARENT,
                status="retired",
                born_cycle=0,
                reason="demoted: decay",
                retired_cycle=1,
            ),
            PatternUpdate(pattern=PROVEN, status="proven", born_cycle=0, reason="passed"),
            PatternUpdate(pattern=REJECTED, status="rejected", born_cycle=0, reason="pbo 0.6"),
        ],
        scores=[
            (PROVEN.id, _score(Sample.OUT_OF_SAMPLE, 1.5, 1, **JUDGED)),
            (PROVEN.id, _score(Sample.HOLDOUT, 1.1, 1)),
            (REJECTED.id, _score(Sample.OUT_OF_SAMPLE, -0.4, 1, **{**JUDGED, "pbo": 0.6})),
        ],
        state_json="{}",
    )
    return run_id


SANDBOX = "sandbox-api-reads"


def _fill(n: int, side: OrderSide, quantity: str, price: str, fee: str, ts: int):
    request = OrderRequest(
        client_order_id=f"c{n}", instrument="BTC-USD", side=side, quantity=Decimal(quantity)
    )
    order = Order(f"o{n}", request, ts)
    order.accept(ts)
    fill = Fill(
        trade_id=f"t{n}",
        order_id=order.order_id,
        client_order_id=request.client_order_id,
        instrument="BTC-USD",
        side=side,
        quantity=Decimal(quantity),
        price=Decimal(price),
        fee=Decimal(fee),
        fee_currency="USD",
        ts=ts + 1,
    )
    order.apply_fill(fill)
    return [Ordered(order), Filled(fill, order)], fill


def _sandbox() -> None:
    """Store a sandbox session as an exchange would leave it: no bars kept, two fills."""
    ledger = Ledger({"BTC-USD": instrument_from_symbol("BTC-USD")}, "USD")
    deposit = Deposit("USD", Decimal(1000), START, "opening balance")
    ledger.deposit(deposit.currency, deposit.amount, deposit.ts, deposit.reference)
    bought, first = _fill(1, OrderSide.BUY, "1", "100", "1", START + HOUR)
    sold, second = _fill(2, OrderSide.SELL, "0.5", "120", "0.6", START + 2 * HOUR)
    with bootstrap.open_store(None, mode="sandbox") as store:
        store.create_run(
            RunRecord(
                run_id=SANDBOX,
                mode="sandbox",
                venue="local:api-reads",
                strategy="sma-cross",
                inputs={"products": ["BTC-USD"], "phase": "2", "url": None},
                status="finished",
                created_ts=START,
                updated_ts=START + 3 * HOUR,
            )
        )
        store.write_batch(SANDBOX, [Deposited(deposit), *bought, *sold])
        ledger.record(first)
        ledger.record(second)
        store.save_snapshot(SANDBOX, START + 3 * HOUR, ledger.state())


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Return the data folder with the two runs and the discovery run, and their ids."""
    folder = tmp_path_factory.mktemp("api-reads-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COINSWARM_HOME", str(folder))
        backtest, paper = _backtest(), _paper()
        backtest.save(folder / "runs")
        paper.save(folder / "runs")
        with bootstrap.open_store(None) as store:
            discovery = _discovery(store)
        _sandbox()
    return {
        "folder": folder,
        "backtest": backtest,
        "paper": paper,
        "discovery": discovery,
    }


@pytest.fixture
def inside(home: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Point this test's COINSWARM_HOME at the module's data folder."""
    monkeypatch.setenv("COINSWARM_HOME", str(home["folder"]))
    return home


def _store(folder: Path, mode: str = "backtest") -> Store:
    name = "coinswarm.db" if mode == "backtest" else f"{mode}.db"
    return Store.open(f"sqlite:///{folder / name}")


class Api:
    """The application over ASGI, with one event loop of its own: call it from plain tests."""

    def __init__(self, settings: ServeSettings | None = None) -> None:
        self.found = Services(settings=settings or ServeSettings(public=True))
        self.loop = asyncio.new_event_loop()
        transport = httpx.ASGITransport(app=create_app(found=self.found))
        self.client = httpx.AsyncClient(transport=transport, base_url="http://api")

    def get(
        self, path: str, headers: dict[str, str] | None = None, **params: Any
    ) -> httpx.Response:
        return self.loop.run_until_complete(self.client.get(path, params=params, headers=headers))

    def ok(self, path: str, **params: Any) -> Any:
        response = self.get(path, **params)
        assert response.status_code == 200, response.text
        return response.json()

    def close(self) -> None:
        self.loop.run_until_complete(self.client.aclose())
        part = self.found.parts.get("reads")
        if part is not None:
            self.loop.run_until_complete(part.stop())
        self.loop.close()


@pytest.fixture(scope="module")
def api() -> Iterator[Api]:
    served = Api()
    yield served
    served.close()


# -- runs --------------------------------------------------------------------------------------


def test_runs_lists_both_runs_newest_first_and_filters(api, inside):
    backtest, paper = inside["backtest"].run_id, inside["paper"].run_id
    listed = api.ok("/api/runs")
    # The paper run started last; the sandbox session is stamped 2022 by its (planted) clock.
    assert [r["run"] for r in listed] == [paper, backtest, SANDBOX]
    assert [r["mode"] for r in listed] == ["paper", "backtest", "sandbox"]
    assert [r["run"] for r in api.ok("/api/runs", mode="paper")] == [paper]
    both = api.ok("/api/runs", mode=["paper", "sandbox"])
    assert [r["run"] for r in both] == [paper, SANDBOX]
    assert [r["run"] for r in api.ok("/api/runs", status="finished", limit=1)] == [paper]
    assert api.ok("/api/runs", status="running") == []
    shown = {r["run"]: r for r in listed}[backtest]
    assert shown["orders"] == len(inside["backtest"].result.orders)
    assert shown["final_equity"] == str(inside["backtest"].summary()["final_equity"])
    assert isinstance(shown["metrics"]["fees_paid"], str)  # money is text


def test_one_run_and_a_comparison(api, inside):
    backtest, paper = inside["backtest"].run_id, inside["paper"].run_id
    detail = api.ok(f"/api/runs/{backtest}")
    assert detail["status"] == "finished"
    assert detail["explained"] is True
    assert detail["rows"]["fills"] == len(inside["backtest"].result.fills)
    assert detail["last_checkpoint"]["positions"] or detail["last_checkpoint"]["cash"]
    compared = api.ok("/api/runs/compare", run=[backtest, paper])
    assert [r["run"] for r in compared["runs"]] == [backtest, paper]
    assert len(compared["metrics"]["sharpe"]) == 2
    assert compared["metrics"]["orders"] == [
        len(inside["backtest"].result.orders),
        len(inside["paper"].result.orders),
    ]


def test_unknown_runs_and_bad_queries_are_clear_4xx(api, inside):
    assert api.get("/api/runs/run-nope").status_code == 404
    assert api.get("/api/runs/run-nope/orders").status_code == 404
    assert api.get("/api/runs/compare", run=["run-nope"]).status_code == 404
    assert api.get("/api/runs", mode="moon").status_code == 422
    run = inside["backtest"].run_id
    for params in ({"limit": 0}, {"limit": 1001}, {"after": -1}, {"order": "up"}):
        response = api.get(f"/api/runs/{run}/fills", **params)
        assert response.status_code == 422, params
        assert set(response.json()) == {"error"}
    assert api.get(f"/api/runs/{run}/orders/nope/explain").status_code == 404


# -- orders, fills, verdicts -------------------------------------------------------------------


def _all_pages(api: Api, path: str, limit: int, order: str) -> tuple[list[dict[str, Any]], int]:
    items: list[dict[str, Any]] = []
    after = None
    while True:
        params: dict[str, Any] = {"limit": limit, "order": order}
        if after is not None:
            params["after"] = after
        page = api.ok(path, **params)
        assert len(page["items"]) <= limit
        items += page["items"]
        after = page["next"]
        if after is None:
            return items, page["total"]


def test_orders_count_and_pages_equal_the_store(api, inside):
    run = inside["backtest"].run_id
    with _store(inside["folder"]) as store:
        stored = store.orders(run)
    items, total = _all_pages(api, f"/api/runs/{run}/orders", 7, "oldest")
    assert total == len(stored)
    assert [i["client_order_id"] for i in items] == [o.client_order_id for o in stored]
    assert [i["status"] for i in items] == [str(o.status) for o in stored]
    assert items[0]["filled_quantity"] == str(stored[0].filled_quantity)
    newest = api.ok(f"/api/runs/{run}/orders", limit=3)["items"]
    assert [i["client_order_id"] for i in newest] == [o.client_order_id for o in stored[::-1][:3]]
    assert api.ok(f"/api/runs/{run}/orders", open="true")["items"] == []  # a finished backtest


@settings(max_examples=40)
@given(limit=st.integers(1, 40), oldest=st.booleans())
def test_fill_pages_cover_every_fill_exactly_once(api, home, limit, oldest):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COINSWARM_HOME", str(home["folder"]))
        run = home["backtest"].run_id
        order = "oldest" if oldest else "newest"
        items, total = _all_pages(api, f"/api/runs/{run}/fills", limit, order)
    expected = [f.trade_id for f in home["backtest"].result.fills]
    got = [i["trade_id"] for i in items]
    assert total == len(expected)
    assert len(got) == len(set(got))  # no duplicates
    assert got == (expected if oldest else expected[::-1])
    seqs = [i["seq"] for i in items]
    assert seqs == sorted(seqs, reverse=not oldest)


def test_verdicts_carry_their_votes_as_stored(api, inside):
    run = inside["backtest"].run_id
    with _store(inside["folder"]) as store:
        stored = store.verdicts(run)
    page = api.ok(f"/api/runs/{run}/verdicts", limit=50, order="oldest")
    assert page["total"] == len(stored)
    for item, verdict in zip(page["items"], stored[:50], strict=True):
        assert (item["instrument"], item["ts"]) == (verdict.instrument, verdict.ts)
        assert item["direction"] == int(verdict.direction)
        assert [v["agent"] for v in item["votes"]] == [v.agent for v in verdict.votes]
        assert [v["weight"] for v in item["votes"]] == list(verdict.weights)


def test_an_order_explains_itself_with_its_votes_verdict_risk_and_fills(api, inside):
    run = inside["backtest"].run_id
    filled = next(o for o in inside["backtest"].result.orders if o.filled_quantity > 0)
    explained = api.ok(f"/api/runs/{run}/orders/{filled.order_id}/explain")
    fills = [f for f in inside["backtest"].result.fills if f.order_id == filled.order_id]
    assert [f["trade_id"] for f in explained["fills"]] == [f.trade_id for f in fills]
    assert [Decimal(f["price"]) for f in explained["fills"]] == [f.price for f in fills]
    assert explained["votes"], "a committee order has the votes behind it"
    assert explained["verdict"]["action"] == str(filled.side)
    assert [v["agent"] for v in explained["verdict"]["votes"]] == [
        v["agent"] for v in explained["votes"]
    ]
    assert explained["risk"]["action"] == "approved"
    assert explained["bar"]["ts"] == filled.created_ts
    assert explained["lines"][0].startswith(f"order {filled.order_id}")
    assert explained["history"][-1]["to_status"] == "FILLED"
    by_client = api.ok(f"/api/runs/{run}/orders/{filled.client_order_id}/explain")
    assert by_client["order"] == explained["order"]


# -- the account -------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["backtest", "paper"])
def test_the_equity_curve_ends_at_the_runs_final_equity(api, inside, which):
    outcome = inside[which]
    curve = api.ok(f"/api/runs/{outcome.run_id}/equity")
    points = curve["points"]
    assert points
    assert curve["marked"] == "close"  # the synthetic market is rebuilt from the stored request
    assert all(p["drawdown"] <= 0 for p in points)
    assert float(points[0]["equity"]) == float(curve["initial_cash"])
    assert float(points[-1]["equity"]) == pytest.approx(outcome.metrics.final_equity, rel=1e-9)
    assert curve["max_drawdown"] == pytest.approx(-outcome.metrics.max_drawdown, rel=1e-6)
    # Under 2,000 bars nothing is thinned: the curve is the report's, point for point.
    reported = outcome.result.curve
    assert curve["total_points"] == len(reported.ts) == len(points)
    assert [p["ts"] for p in points] == reported.ts.tolist()
    assert [float(p["equity"]) for p in points] == pytest.approx(reported.equity.tolist(), rel=1e-9)
    thinned = api.ok(f"/api/runs/{outcome.run_id}/equity", points=50)
    assert 2 <= len(thinned["points"]) <= 50
    assert min(p["drawdown"] for p in thinned["points"]) == curve["max_drawdown"]


def test_positions_are_the_final_ledger_marked_at_the_last_close(api, inside):
    outcome = inside["backtest"]
    held = api.ok(f"/api/runs/{outcome.run_id}/positions")
    final = {p["instrument"]: Decimal(p["quantity"]) for p in held["positions"]}
    with _store(inside["folder"]) as store:
        snapshot = store.latest_snapshot(outcome.run_id)
    assert snapshot is not None
    assert final == {p.instrument: p.quantity for p in snapshot.state.positions if p.quantity}
    assert held["as_of_ts"] == snapshot.ts
    assert float(held["equity"]) == pytest.approx(outcome.metrics.final_equity, rel=1e-9)
    for position in held["positions"]:
        assert 0 < position["share_of_equity"] <= 0.26  # phase 0: at most 25% of equity


def test_a_session_without_bars_is_marked_at_its_fills(api, inside):
    curve = api.ok(f"/api/runs/{SANDBOX}/equity")
    assert curve["marked"] == "fill"
    assert curve["currency"] == "USD"
    # The deposit, each fill (cash + holdings at the last traded price), the last checkpoint.
    assert [(p["ts"], Decimal(p["equity"])) for p in curve["points"]] == [
        (START, Decimal(1000)),
        (START + HOUR + 1, Decimal(999)),  # 1000 - 100 - 1 fee + 1 BTC at 100
        (START + 2 * HOUR + 1, Decimal("1018.4")),  # 899 + 60 - 0.6 + 0.5 BTC at 120
        (START + 3 * HOUR, Decimal("1018.4")),
    ]
    assert curve["points"][1]["drawdown"] == pytest.approx(-0.001)
    held = api.ok(f"/api/runs/{SANDBOX}/positions")
    assert [(p["instrument"], p["quantity"], p["mark"]) for p in held["positions"]] == [
        ("BTC-USD", "0.5", "120")
    ]
    assert Decimal(held["equity"]) == Decimal("1018.4")
    agents = api.ok("/api/agents", run=SANDBOX)
    assert agents == {"run": SANDBOX, "hit_basis": "unavailable", "agents": []}


# -- risk --------------------------------------------------------------------------------------


def test_risk_shows_the_paper_runs_limits_and_a_persons_stop(api, inside, tmp_path, monkeypatch):
    paper = inside["paper"].run_id
    report = api.ok("/api/risk")
    modes = {m["mode"]: m for m in report["modes"]}
    assert list(modes) == ["paper", "sandbox", "live"]
    assert report["shared"] is None
    shown = modes["paper"]
    assert (shown["run"], shown["phase"], shown["profile"]) == (paper, 1, "paper")
    limits = {limit["name"]: limit for limit in shown["limits"]}
    assert set(limits) == {"daily_loss", "total_loss", "position"}
    assert limits["total_loss"]["limit"] == 0.10
    for limit in limits.values():
        assert limit["used"] is not None
        assert limit["used"] >= 0
        assert limit["closeness"] == pytest.approx(limit["used"] / limit["limit"])
    with _store(inside["folder"], "paper") as store:
        events = [e for e in store.risk_events(paper) if e.source != "oversight"]
    assert [(e["kind"], e["reason"]) for e in shown["breaker_history"]] == [
        (e.kind, e.reason) for e in sorted(events, key=lambda e: e.ts, reverse=True)
    ]
    assert modes["sandbox"]["run"] == SANDBOX
    assert modes["sandbox"]["phase"] == 2
    assert modes["live"]["run"] is None
    assert modes["live"]["phase"] == 3
    assert {limit["name"] for limit in modes["live"]["limits"]} >= {"trades_today", "positions"}

    # A person's stop, not yet applied by any session, already shows as the stop in force.
    stop = PersonAction(kind="stop", by="ops", reason="3 a.m. check", ts=START)
    update_risk_state(
        risk_state_path("paper"),
        lambda s: StoredRiskState(s.kill_switch, s.breaker, s.log, (*s.actions, stop), s.applied),
    )
    try:
        paper_now = {m["mode"]: m for m in api.ok("/api/risk")["modes"]}["paper"]
        assert paper_now["stopped"] is True
        assert paper_now["pending_actions"] == 1
        assert {"kind": "MANUAL", "reason": "3 a.m. check"} in paper_now["stops"]
        assert paper_now["breaker_latched"] is True
    finally:
        risk_state_path("paper").unlink()


# -- patterns, agents, evolution ---------------------------------------------------------------


def test_patterns_name_their_samples_and_lineage(api, inside):
    listed = api.ok("/api/patterns")
    assert next(p["pattern_id"] for p in listed) == PROVEN.id  # the proven rank first
    by_id = {p["pattern_id"]: p for p in listed}
    assert set(by_id) == {PARENT.id, PROVEN.id, REJECTED.id}
    proven = by_id[PROVEN.id]
    assert (proven["status"], proven["proven"], proven["reason"]) == ("proven", True, "passed")
    assert proven["source"] == "EVOLVED"
    assert proven["in_sample_sharpe"] == 2.0
    assert proven["out_of_sample_sharpe"] == 1.5
    assert proven["out_of_sample_deflated_sharpe"] == 0.97
    assert proven["search_pbo"] == 0.2
    assert proven["holdout_sharpe"] == 1.1
    assert proven["parents"] == [PARENT.id]
    assert by_id[PARENT.id]["status"] == "retired"
    assert by_id[PARENT.id]["reason"] == "demoted: decay"
    assert [p["pattern_id"] for p in api.ok("/api/patterns", proven="true")] == [PROVEN.id]
    assert PROVEN.id not in {p["pattern_id"] for p in api.ok("/api/patterns", proven="false")}
    detail = api.ok(f"/api/patterns/{REJECTED.id}")
    assert [(link["child_id"], link["parent_id"]) for link in detail["lineage"]] == [
        (REJECTED.id, PROVEN.id),
        (PROVEN.id, PARENT.id),
    ]
    assert [s["sample"] for s in detail["scores"]] == ["in_sample", "out_of_sample"]
    assert api.get("/api/patterns/0000000000000000").status_code == 404


def _expected_hits(outcome: bootstrap.BacktestOutcome, agent: str) -> tuple[int, int]:
    """Count an agent's hits the slow way: each directional vote against the next close."""
    series = next(iter(outcome.result.market.values()))
    row = {int(ts): i for i, ts in enumerate(series.ts)}
    with _store_of(outcome) as store:
        verdicts = store.verdicts(outcome.run_id)
    hits = scored = 0
    for verdict in verdicts:
        i = row[verdict.ts]
        for vote in verdict.votes:
            if vote.agent != agent or vote.veto or not vote.direction or i + 1 >= len(series):
                continue
            scored += 1
            hits += (series.close[i + 1] - series.close[i]) * vote.direction > 0
    return hits, scored


def _store_of(outcome: bootstrap.BacktestOutcome) -> Store:
    return bootstrap.open_store(None, mode=outcome.mode)


def test_agents_track_records_recount_to_the_votes_and_the_bars(api, inside):
    outcome = inside["backtest"]
    report = api.ok("/api/agents", run=outcome.run_id)
    assert report["hit_basis"] == "next bar close"
    with _store_of(outcome) as store:
        verdicts = store.verdicts(outcome.run_id)
    agents = {a["agent"]: a for a in report["agents"]}
    assert set(agents) == {v.agent for verdict in verdicts for v in verdict.votes}
    for name, record in agents.items():
        assert record["votes"] == sum(v.agent == name for d in verdicts for v in d.votes)
        assert sum(day["votes"] for day in record["days"]) == record["votes"]
        hits, scored = _expected_hits(outcome, name)
        assert (record["hits"], record["scored"]) == (hits, scored)
        if scored:
            assert record["hit_rate"] == pytest.approx(hits / scored)
    # Without a run named, the newest run that voted: the paper run.
    assert api.ok("/api/agents")["run"] == inside["paper"].run_id


def test_evolution_progress_counts_the_stored_run(api, inside):
    progress = api.ok("/api/evolution")
    assert progress["status"] == "running"  # planted cycles, never finished
    (run,) = progress["runs"]
    assert run["run_id"] == inside["discovery"]
    assert (run["cycles_done"], run["cycles_planned"], run["progress"]) == (2, 4, 0.5)
    assert run["trials"] == 12
    assert run["patterns"] == {"proven": 1, "rejected": 1, "retired": 1}
    assert (progress["trials"], progress["proven"], progress["candidates"]) == (12, 1, 0)


# -- an empty installation, and who may look ---------------------------------------------------


def test_an_empty_installation_reads_as_empty_and_creates_nothing(api, tmp_path, monkeypatch):
    monkeypatch.setenv("COINSWARM_HOME", str(tmp_path))
    assert api.ok("/api/runs") == []
    assert api.ok("/api/patterns") == []
    assert api.ok("/api/agents") == {"run": None, "hit_basis": "unavailable", "agents": []}
    assert api.ok("/api/evolution")["runs"] == []
    assert [m["run"] for m in api.ok("/api/risk")["modes"]] == [None, None, None]
    assert api.get("/api/runs/run-x/equity").status_code == 404
    assert list(tmp_path.iterdir()) == []


def test_reads_need_a_viewer_token_unless_public(inside):
    guarded = Api(ServeSettings(viewer_token=SecretStr("look")))
    try:
        assert guarded.get("/api/runs").status_code == 401
        assert guarded.get("/api/risk").status_code == 401
        assert guarded.get("/api/runs", headers={"Authorization": "Bearer nope"}).status_code == 401
        assert guarded.get("/api/runs", headers={"Authorization": "Bearer look"}).status_code == 200
    finally:
        guarded.close()
