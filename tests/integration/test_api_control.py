"""POST /api/control/pause|resume|stop against the real paper risk state file and audit log.

The server is the one `coinswarm serve` builds (`build_services`), in a temporary
COINSWARM_HOME, with its audit log in a SQLite file of the test's own. Through HTTP: a stop
writes a person's stop to the paper state file, a pause a pause, a resume lifts them; a
resume refuses (409, nothing written) while a total-loss stop holds; every action and every
refusal is in the audit chain, which still verifies. Then a session (`run_live` with the
state file's operator) follows what the API wrote between two bars: a pause cancels its
resting orders and refuses new ones but keeps the position, a resume lets it trade, a stop
flattens.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from coinswarm.api.app import create_app
from coinswarm.api.audit import AUDITOR
from coinswarm.api.build import build_services
from coinswarm.api.control import CONTROLS, Controls
from coinswarm.api.services import Services
from coinswarm.api.settings import ServeSettings
from coinswarm.backtest.defaults import risk_state_path
from coinswarm.backtest.engine import BacktestConfig, run_live
from coinswarm.domain.bar import NS_PER_SECOND, Bar
from coinswarm.domain.clock import Clock, HistoricalClock
from coinswarm.domain.instrument import Instrument
from coinswarm.domain.order import OrderRequest, OrderSide, OrderStatus, OrderType
from coinswarm.exchanges.base import Venue
from coinswarm.exchanges.simulated import SimulatedExchange
from coinswarm.infra import audit
from coinswarm.infra.state import MemoryHotState
from coinswarm.infra.storage import Store
from coinswarm.orchestration.door import Door
from coinswarm.orchestration.state_file_operator import StateFileOperator
from coinswarm.risk.kill_switch import KillSwitch, StopKind
from coinswarm.risk.profiles import profile_for
from coinswarm.risk.state_file import StoredRiskState, load_risk_state, save_risk_state
from coinswarm.strategies.base import Intent, StrategyContext
from generators import INSTRUMENTS

OPERATOR = "operator-token-" + "o" * 24
VIEWER = "viewer-token-" + "v" * 24
AS_OPERATOR = {"Authorization": f"Bearer {OPERATOR}"}
PAPER = profile_for(1)


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'server.db'}"


@pytest.fixture
def server(db: str) -> Iterator[Services]:
    settings = ServeSettings(
        viewer_token=VIEWER,
        operator_token=OPERATOR,
        db=db,  # type: ignore[arg-type]
    )
    found = build_services(settings)
    yield found
    asyncio.run(found.parts[AUDITOR].stop())


def post(found: Services, path: str, body: Any, headers: Mapping[str, str] = AS_OPERATOR):
    """POST through the app in this thread (a session's feed calls it between two bars)."""

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_app(found=found))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.post(path, json=body, headers=dict(headers))

    return asyncio.run(send())


def entries(db: str) -> list[audit.AuditEntry]:
    with Store.open(db, upgrade=True) as store:
        assert audit.verify(store.engine).ok
        return [e for e in audit.entries(store.engine) if e.kind.startswith("api_")]


def paper() -> Path:
    return risk_state_path("paper")


def test_a_stop_writes_a_person_s_stop_to_the_paper_state_file(server: Services, db: str):
    answer = post(server, "/api/control/stop", {"mode": "paper", "reason": "odd fills"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["action"] == "stop"
    assert body["where"] == ["paper"]
    assert body["by"] == "api operator at 127.0.0.1"
    state = body["state"]
    assert state["state_file"] == str(paper())
    assert state["trading"] == "stopped"
    assert state["stops"] == {"MANUAL": "odd fills"}
    assert state["breaker"]["latched"] is True

    stored = load_risk_state(paper())
    (action,) = stored.actions
    assert (action.kind, action.by, action.reason) == (
        "stop",
        "api operator at 127.0.0.1",
        "odd fills",
    )
    assert stored.kill_switch.stops == {StopKind.MANUAL: "odd fills"}
    # Sandbox and live are untouched: the API acts on the mode it names.
    assert not risk_state_path("live").exists()
    assert not risk_state_path("sandbox").exists()

    (entry,) = entries(db)
    assert entry.kind == "api_control"
    assert entry.actor == "api:operator"
    data = entry.data()
    assert data["client"] == "127.0.0.1"
    assert data["action"] == "control.stop"
    assert data["reason"] == "odd fills"
    assert data["outcome"] == "done"
    assert data["detail"]["mode"] == "paper"
    assert any("MANUAL_STOP: odd fills" in line for line in data["detail"]["events"])


def test_pause_then_resume(server: Services, db: str):
    paused = post(server, "/api/control/pause", {"mode": "paper", "reason": "  checking  "})
    assert paused.status_code == 200, paused.text
    assert paused.json()["state"]["trading"] == "paused"
    assert paused.json()["state"]["stops"] == {"PAUSED": "checking"}  # the reason is stripped
    assert not load_risk_state(paper()).breaker.tripped  # a pause latches nothing

    resumed = post(server, "/api/control/resume", {"mode": "paper", "reason": "all clear"})
    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["state"]["trading"] == "allowed"
    assert resumed.json()["events"][0].endswith(
        "RESUME: all clear (lifted PAUSED) (by api operator at 127.0.0.1)"
    )
    assert [a.kind for a in load_risk_state(paper()).actions] == ["pause", "resume"]

    again = post(server, "/api/control/resume", {"mode": "paper", "reason": "again"})
    assert again.status_code == 409
    assert again.json() == {"error": "paper: nothing to resume: no pause or stop holds"}
    assert [e.data()["outcome"] for e in entries(db)] == ["done", "done", "refused"]


def test_resume_after_a_stop_reopens_the_breaker_the_stop_latched(server: Services):
    assert post(server, "/api/control/stop", {"mode": "live", "reason": "x"}).status_code == 200
    answer = post(server, "/api/control/resume", {"mode": "live", "reason": "fixed"})
    assert answer.status_code == 200, answer.text
    state = answer.json()["state"]
    assert state["stops"] == {}
    assert state["breaker"]["tripped"] is False
    assert state["trading"] == "allowed"


def a_total_loss_stop() -> StoredRiskState:
    kill = KillSwitch(PAPER)
    kill.on_mark(1_700_000_000 * NS_PER_SECOND, Decimal(10_000))
    kill.on_mark(1_700_000_060 * NS_PER_SECOND, Decimal(8_500))
    assert StopKind.TOTAL_LOSS in kill.stops
    return StoredRiskState(kill_switch=kill.state(), log=("total loss: by the market",))


def test_resume_refuses_to_clear_a_total_loss_stop(server: Services, db: str):
    save_risk_state(paper(), a_total_loss_stop())
    assert post(server, "/api/control/pause", {"mode": "paper", "reason": "p"}).status_code == 200
    before = paper().read_bytes()

    answer = post(server, "/api/control/resume", {"mode": "paper", "reason": "let it trade"})
    assert answer.status_code == 409
    line = answer.json()["error"]
    assert line.startswith("paper: cannot resume: a total-loss stop holds (total loss: equity 8500")
    assert line.endswith(
        "The API does not clear it: a person at the machine runs "
        "`coinswarm risk reset --mode paper --by NAME --reason TEXT`"
    )
    assert "\n" not in line
    assert paper().read_bytes() == before  # nothing written: not even the pause lifted
    stored = load_risk_state(paper())
    assert set(stored.kill_switch.stops) == {StopKind.TOTAL_LOSS, StopKind.PAUSED}

    # A stop is still allowed on top (stopping is never refused), and still no resume.
    assert post(server, "/api/control/stop", {"mode": "paper", "reason": "s"}).status_code == 200
    assert post(server, "/api/control/resume", {"mode": "paper", "reason": "r"}).status_code == 409
    assert StopKind.TOTAL_LOSS in load_risk_state(paper()).kill_switch.stops
    outcomes = [(e.data()["action"], e.data()["outcome"]) for e in entries(db)]
    assert outcomes == [
        ("control.pause", "done"),
        ("control.resume", "refused"),
        ("control.stop", "done"),
        ("control.resume", "refused"),
    ]
    assert "total-loss stop holds" in entries(db)[1].data()["detail"]["why"]


@pytest.mark.parametrize(
    "body",
    [
        {"mode": "backtest", "reason": "x"},
        {"mode": "paper"},
        {"mode": "paper", "reason": ""},
        {"mode": "paper", "reason": "   "},
        {"mode": "paper", "reason": "x" * 201},
        {"mode": "paper", "reason": "two\nlines"},
        {"mode": "paper", "reason": "x", "limit": "1000000"},
        {"reason": "x"},
        ["paper", "x"],
        "stop",
    ],
)
def test_a_bad_body_is_a_422_with_one_line_and_changes_nothing(server: Services, db: str, body):
    answer = post(server, "/api/control/stop", body)
    assert answer.status_code == 422
    assert list(answer.json()) == ["error"]
    assert "\n" not in answer.json()["error"]
    assert not paper().exists()
    assert entries(db) == []


def test_a_state_file_that_cannot_be_read_is_a_503_not_a_500(server: Services, db: str):
    paper().parent.mkdir(parents=True, exist_ok=True)
    paper().write_text("{not json", encoding="utf-8")
    answer = post(server, "/api/control/stop", {"mode": "paper", "reason": "x"})
    assert answer.status_code == 503
    assert "the risk state cannot be changed" in answer.json()["error"]
    assert paper().read_text(encoding="utf-8") == "{not json"  # never cleared
    assert [e.data()["outcome"] for e in entries(db)] == ["failed"]


def test_stop_sets_the_shared_kill_switch_and_resume_clears_it(server: Services):
    shared = MemoryHotState()
    server.parts[CONTROLS] = Controls(shared=shared)
    stop = post(server, "/api/control/stop", {"mode": "sandbox", "reason": "everywhere"})
    assert stop.json()["where"] == ["sandbox", "shared kill switch"]
    flag = shared.kill_switch()
    assert flag is not None
    assert (flag.by, flag.reason) == ("api operator at 127.0.0.1", "everywhere")
    assert (
        stop.json()["state"]["shared_kill_switch"] == "set by api operator at 127.0.0.1: everywhere"
    )

    paused = post(server, "/api/control/pause", {"mode": "sandbox", "reason": "p"})
    assert paused.json()["where"] == ["sandbox"]  # a pause is the mode's own
    resume = post(server, "/api/control/resume", {"mode": "sandbox", "reason": "done"})
    assert resume.json()["where"] == ["sandbox", "shared kill switch"]
    assert shared.kill_switch() is None
    assert resume.json()["state"]["shared_kill_switch"] is None


# -- a session follows what the API wrote ---------------------------------------------------

SYMBOL = "BTC-USDT"
MINUTE = 60 * NS_PER_SECOND
START = 1_600_000_000 * NS_PER_SECOND // MINUTE * MINUTE
D = Decimal


class BuyOnceThenBid:
    """Buy one unit on the first bar; then ask for a small bid far below the market on every
    bar, so that some always rest."""

    name = "buy-once-then-bid"

    def __init__(self) -> None:
        self.placed: dict[str, int] = {}

    def on_bar(self, bar: Bar, context: StrategyContext) -> Sequence[Intent]:
        cid = context.next_client_order_id(bar.instrument)
        self.placed[cid] = bar.ts
        if len(self.placed) == 1:
            return [
                OrderRequest(
                    client_order_id=cid, instrument=SYMBOL, side=OrderSide.BUY, quantity=D(1)
                )
            ]
        return [
            OrderRequest(
                client_order_id=cid,
                instrument=SYMBOL,
                side=OrderSide.BUY,
                type=OrderType.LIMIT,
                quantity=D("0.1"),
                limit_price=D(60),
            )
        ]


def test_a_session_follows_the_api_s_pause_resume_and_stop(server: Services):
    bars = [Bar(SYMBOL, START + i * MINUTE, 100.0, 100.1, 99.9, 100.0, 50.0) for i in range(12)]
    asked = {
        4: ("pause", "checking the feed"),
        7: ("resume", "feed fine"),
        10: ("stop", "enough for today"),
    }
    positions: dict[int, Decimal] = {}
    exchanges: list[SimulatedExchange] = []

    def feed() -> Iterator[Bar]:
        for i, bar in enumerate(bars):
            if exchanges:
                positions[i] = exchanges[0].balances().get("BTC", D(0))
            if i in asked:
                kind, why = asked[i]
                answer = post(server, f"/api/control/{kind}", {"mode": "paper", "reason": why})
                assert answer.status_code == 200, answer.text
            yield bar

    def venue(instruments: Mapping[str, Instrument], clock: Clock, _: object) -> Venue:
        exchange = SimulatedExchange(instruments, clock, balances={"USDT": D(10_000)})
        exchanges.append(exchange)
        return exchange

    clock = HistoricalClock(bars[0].ts)
    strategy = BuyOnceThenBid()
    stored = load_risk_state(paper())
    config = BacktestConfig(
        instruments=INSTRUMENTS, risk=PAPER, operator_reset_after_ns=None, risk_state=stored
    )

    def operator(door: Door) -> StateFileOperator:
        return StateFileOperator(door, paper(), clock, applied=stored.applied)

    result = run_live(
        feed(), strategy, config, instruments=[SYMBOL], clock=clock, venue=venue, operator=operator
    )

    by_bar = {
        strategy.placed[o.client_order_id]: o
        for o in result.orders
        if o.client_order_id in strategy.placed
    }
    at = {i: by_bar[bar.ts] for i, bar in enumerate(bars)}
    # Before the pause: bids rest; the pause cancels them on the bar it is applied.
    assert all(at[i].status is OrderStatus.CANCELLED for i in (1, 2, 3))
    # While paused: every order of the strategy is refused, the position is kept.
    for i in (4, 5, 6):
        assert at[i].status is OrderStatus.REJECTED
        assert "paused by a person: checking the feed" in (at[i].reject_reason or "")
    assert positions[7] == D(1)
    assert not [o for o in result.orders if o.side is OrderSide.SELL and o.created_ts < bars[10].ts]
    # Resumed: bids rest again, until the stop cancels them and flattens.
    assert all(at[i].status is OrderStatus.CANCELLED for i in (7, 8, 9))
    assert all(at[i].status is OrderStatus.REJECTED for i in (10, 11))
    (exit_,) = [o for o in result.orders if o.side is OrderSide.SELL]
    assert exit_.client_order_id.startswith("shutdown-")
    assert exits_filled(exchanges[0]) == D(0)

    saved = load_risk_state(paper())
    assert saved.applied == len(saved.actions) == 3
    assert saved.kill_switch.stops == {StopKind.MANUAL: "enough for today"}
    log = "\n".join(saved.log)
    for line in (
        "PAUSE: checking the feed",
        "RESUME: feed fine (lifted PAUSED)",
        "MANUAL_STOP: enough",
    ):
        assert line in log


def exits_filled(exchange: SimulatedExchange) -> Decimal:
    return exchange.balances().get("BTC", D(0))


def test_the_audit_never_holds_a_token(server: Services, db: str):
    post(server, "/api/control/stop", {"mode": "paper", "reason": "x"})
    post(
        server,
        "/api/control/stop",
        {"mode": "paper", "reason": "x"},
        {"Authorization": f"Bearer {VIEWER}"},
    )
    post(
        server,
        "/api/control/stop",
        {"mode": "paper", "reason": "x"},
        {"Authorization": "Bearer guess"},
    )
    rows = json.dumps([e.payload + e.actor for e in entries(db)])
    assert OPERATOR not in rows
    assert VIEWER not in rows
    assert "guess" not in rows
