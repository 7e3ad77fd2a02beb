"""The dashboards in a real browser, as a person at the desk (or on a phone) sees them.

One `coinswarm serve` runs over a finished committee backtest (`coinswarm demo`), a discovery
run (`coinswarm evolve --demo`) and an imported proven pattern, beside a paper session on the
local exchange that publishes its live events over NATS (`--bus` on both). Debian's chromium,
driven by Playwright (no browser download), opens every dashboard and checks what a person
sees: the equity chart has points and grows while the session trades, a trade opens its
explanation, the leaderboard lists patterns with their source labels and names each score's
sample, the architecture diagram shows the session, the bus and the server, the emergency stop
asks for the mode's name before it stops the paper session, which then flattens, and no page
is wider than a 390-pixel phone. Screenshots go to $COINSWARM_SCREENSHOTS (or a temporary
folder); the path is printed.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from absent import absent
from coinswarm.data.pattern_file import write_patterns
from coinswarm.domain.pattern import Condition, Exit, Pattern, Side
from proven_patterns import proven

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
NATS = "nats://127.0.0.1:4222"
PAGES = ("index", "trades", "risk", "patterns", "agents", "architecture", "alerts")
PHONE = {"width": 390, "height": 844}
DESK = {"width": 1366, "height": 900}
WAIT_S = 60.0
OVERSOLD = Pattern((Condition("rsi:14", "<", 30),), Side.LONG, Exit(24, take_profit=0.04))

# A strategy that buys once and holds, so the emergency stop has a position to flatten.
HOLD = """
from decimal import Decimal

from coinswarm.domain.order import OrderRequest, OrderSide
from coinswarm.strategies.base import Rationale


class Hold:
    name = "hold"

    def __init__(self) -> None:
        self._asked: set[str] = set()

    def on_bar(self, bar, context):
        if bar.instrument in self._asked or context.has_open_orders(bar.instrument):
            return []
        self._asked.add(bar.instrument)
        spend = min(context.equity() * Decimal("0.2"), context.cash())
        order = context.next_client_order_id(bar.instrument)
        context.explain(order, Rationale(summary="buy once and hold"))
        return [OrderRequest(client_order_id=order, instrument=bar.instrument,
                             side=OrderSide.BUY, quote_quantity=spend)]
"""


def _nats_is_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 4222), timeout=0.5):
            return True
    except OSError:
        return False


def _needs() -> None:
    if not CHROMIUM.is_file():
        absent(f"no chromium at {CHROMIUM} (Debian's `chromium` package; no browser is downloaded)")
    if importlib.util.find_spec("playwright") is None:
        absent("playwright is not installed (the dev extra)")
    if not _nats_is_up():
        absent("no NATS server on 127.0.0.1:4222 (the session and the server meet there)")


def _until(check: Callable[[], Any], what: str, timeout_s: float = WAIT_S) -> Any:
    """Return `check()`'s first truthy value, asking every 0.25 s; fail after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.25)


@dataclass
class Stage:
    """The server, the session beside it and what they were seeded with."""

    url: str
    viewer: str
    operator: str
    home: Path
    shots: Path
    backtest_run: str
    paper_run: str
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def api(self, path: str, **params: Any) -> Any:
        answer = httpx.get(
            f"{self.url}{path}",
            params=params,
            headers={"Authorization": f"Bearer {self.viewer}"},
            timeout=10,
        )
        assert answer.status_code == 200, f"{path}: {answer.status_code} {answer.text[:300]}"
        return answer.json()

    def held(self) -> dict[str, Decimal]:
        """Return what the paper session holds, as GET /api/system reports it (instrument:
        quantity): a paper session stores its account only at checkpoints, so while it runs
        the server's record of its latest equity event is the API's fresh figure."""
        sessions = self.api("/api/system")["sessions"]
        found = next((s for s in sessions if s["run_id"] == self.paper_run), None)
        account = (found or {}).get("account") or {}
        return {k: Decimal(v) for k, v in (account.get("positions") or {}).items()}


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "coinswarm", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )


def _finish(process: subprocess.Popen[bytes], log: Path, what: str) -> None:
    code = process.wait(timeout=300)
    assert code == 0, f"{what} exited {code}:\n{log.read_text(errors='replace')[-3000:]}"


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Ctrl-C the process (its clean stop); kill it if it has not stopped after 15 s."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def _drop_stream(stream: str, prefix: str) -> None:
    from coinswarm.infra.bus import NatsBus, NatsBusConfig  # noqa: PLC0415 - NATS only here

    async def drop() -> None:
        bus = await NatsBus.connect(NatsBusConfig(url=NATS, stream=stream, prefix=prefix))
        await bus.delete_stream()
        await bus.close()

    with contextlib.suppress(Exception):  # a stream never made is nothing to drop
        asyncio.run(drop())


def _served_url(log: Path, process: subprocess.Popen[bytes]) -> str | None:
    if process.poll() is not None:
        pytest.fail(f"coinswarm serve exited {process.returncode}:\n{log.read_text()[-3000:]}")
    found = re.search(r"serving (http://127\.0\.0\.1:\d+/)", log.read_text(errors="replace"))
    return found.group(1).rstrip("/") if found else None


def _shots_folder(tmp: Path) -> Path:
    chosen = os.environ.get("COINSWARM_SCREENSHOTS")
    folder = Path(chosen) if chosen else tmp / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _say(config: pytest.Config, line: str) -> None:
    """Print past pytest's capture, so the path shows in every run's output."""
    capture = config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        sys.stdout.write(f"\n{line}\n")
        sys.stdout.flush()


def _seed(env: dict[str, str], tmp: Path) -> str:
    """Import a proven pattern, then run the committee demo and a discovery demo at once;
    return the demo's run id. The import goes first: it makes the database, which two
    commands starting at the same moment on a fresh home would both try to make."""
    patterns = tmp / "proven.jsonl"
    write_patterns(patterns, [proven(OVERSOLD)], source="evo-browser")
    imported = subprocess.run(
        [sys.executable, "-m", "coinswarm", "patterns", "import", str(patterns)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert imported.returncode == 0, imported.stderr
    demo_log, evolve_log = tmp / "demo.log", tmp / "evolve.log"
    demo = _start(["demo", "--quiet", "--report", str(tmp / "demo.html")], env, demo_log)
    evolve = _start(["evolve", "--demo"], env, evolve_log)
    try:
        _finish(demo, demo_log, "coinswarm demo")
        _finish(evolve, evolve_log, "coinswarm evolve --demo")
    finally:
        _stop(demo)
        _stop(evolve)
    found = re.search(r"coinswarm explain (run-[0-9a-f]+)", demo_log.read_text())
    assert found, demo_log.read_text()[-2000:]
    return found.group(1)


@pytest.fixture(scope="module")
def stage(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Stage]:
    _needs()
    tmp = tmp_path_factory.mktemp("dashboards")
    home = tmp / "home"
    home.mkdir()
    tag = secrets.token_hex(5)
    stream, prefix = f"DASH{tag.upper()}", f"dash{tag}"
    viewer, operator = f"viewer-{secrets.token_hex(12)}", f"operator-{secrets.token_hex(12)}"
    env = {
        **os.environ,
        "COINSWARM_HOME": str(home),
        "COINSWARM_API_VIEWER_TOKEN": viewer,
        "COINSWARM_API_OPERATOR_TOKEN": operator,
        "COINSWARM_BUS_STREAM": stream,
        "COINSWARM_BUS_PREFIX": prefix,
    }
    processes: list[subprocess.Popen[bytes]] = []
    try:
        backtest_run = _seed(env, tmp)
        serve_log = tmp / "serve.log"
        serve = _start(["serve", "--port", "0", "--bus", NATS], env, serve_log)
        processes.append(serve)
        url = _until(lambda: _served_url(serve_log, serve), "coinswarm serve to listen")
        strategy = tmp / "hold.py"
        strategy.write_text(HOLD, encoding="utf-8")
        paper_log = tmp / "paper.log"
        paper = _start(
            ["paper", "--exchange", "local", "--strategy", f"{strategy}:Hold", "--bars", "5000",
             "--speed", "7200", "--bus", NATS, "--heartbeat", "1", "--quiet"],
            env,
            paper_log,
        )  # fmt: skip
        processes.append(paper)
        shots = _shots_folder(tmp)
        _say(request.config, f"dashboard screenshots: {shots}")
        partial = Stage(url, viewer, operator, home, shots, backtest_run, "", processes)

        def running_paper() -> str | None:
            if paper.poll() is not None:
                said = paper_log.read_text(errors="replace")[-3000:]
                pytest.fail(f"the paper session exited {paper.returncode}:\n{said}")
            runs = partial.api("/api/runs", mode="paper", status="running")
            return runs[0]["run"] if runs else None

        partial.paper_run = _until(running_paper, "the paper session to start")
        _until(lambda: any(q > 0 for q in partial.held().values()), "the paper session to buy")
        yield partial
    finally:
        for process in reversed(processes):
            _stop(process)
        _drop_stream(stream, prefix)


@pytest.fixture(scope="module")
def browser(stage: Stage) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright  # noqa: PLC0415 - only with chromium

    with sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


class Tab:
    """One browser page that records what went wrong in it (uncaught errors, failed loads)."""

    def __init__(self, browser: Any, stage: Stage, *, token: str | None, viewport: dict[str, int]):
        self.stage = stage
        self.context = browser.new_context(viewport=viewport)
        if token is not None:
            self.context.add_init_script(f"sessionStorage.setItem('coinswarm.token', '{token}')")
        self.page = self.context.new_page()
        self.page.set_default_timeout(WAIT_S * 1000)
        self.errors: list[str] = []
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on(
            "requestfailed",
            lambda r: None if "/api/ws" in r.url else self.errors.append(f"failed {r.url}"),
        )

    def open(self, page: str, **query: str) -> Any:
        suffix = "&".join(f"{k}={v}" for k, v in query.items())
        self.page.goto(f"{self.stage.url}/{page}.html{'?' + suffix if suffix else ''}")
        self.page.wait_for_selector("body[data-ready=true]")
        return self.page

    def shot(self, name: str, *, full: bool = True) -> Path:
        path = self.stage.shots / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=full)
        return path

    def close(self) -> None:
        self.context.close()
        assert not self.errors, f"the page reported errors: {self.errors}"


@pytest.fixture
def desk(browser: Any, stage: Stage) -> Iterator[Tab]:
    tab = Tab(browser, stage, token=stage.viewer, viewport=DESK)
    yield tab
    tab.close()


def _points(page: Any, chart: str) -> int:
    return int(page.get_attribute(chart, "data-points") or 0)


def test_the_portfolio_draws_the_finished_committee_run(desk: Tab, stage: Stage) -> None:
    page = desk.open("index", run=stage.backtest_run)
    curve = stage.api(f"/api/runs/{stage.backtest_run}/equity")
    assert _points(page, "#equity-chart") == len(curve["points"]) > 100
    assert _points(page, "#drawdown-chart") == len(curve["points"])
    assert page.locator("#equity-chart canvas").count() > 0, "the chart drew nothing"
    shown = Decimal(page.get_attribute("#equity-value", "data-equity") or "nan")
    assert abs(shown - Decimal(curve["points"][-1]["equity"])) < Decimal("0.01")
    assert "Run figures (in-sample" in page.inner_text("#run-figures")
    desk.shot("portfolio-backtest")


def test_the_paper_session_s_equity_grows_live_and_survives_a_dropped_feed(
    desk: Tab, stage: Stage
) -> None:
    feeds: list[str] = []
    desk.page.on("websocket", lambda socket: feeds.append(socket.url))
    page = desk.open("index", run=stage.paper_run)
    page.wait_for_selector("body[data-live=live]")
    before = _points(page, "#equity-chart")
    assert before > 0, "the session's history so far is replayed from the server's buffer"
    page.wait_for_function(
        f"Number(document.querySelector('#equity-chart').dataset.points) > {before + 2}"
    )
    assert int(page.get_attribute("#positions", "data-count") or 0) >= 1
    desk.shot("portfolio-paper-live")

    seen = int(page.get_attribute("body", "data-last-seq") or 0)
    assert seen > 0, "no live event reached the page"
    page.evaluate("window.coinswarmLive.socket.close(4000, 'a dropped connection')")
    page.wait_for_function("document.body.dataset.live !== 'live'")
    page.wait_for_selector("body[data-live=live]")
    again = [url for url in feeds if "run=" not in url][-1]  # the page's feed, not a replay
    after = int(re.search(r"after=(\d+)", again).group(1))  # type: ignore[union-attr]
    assert after >= seen, f"the feed came back from where it was ({again})"
    grown = _points(page, "#equity-chart")
    page.wait_for_function(
        f"Number(document.querySelector('#equity-chart').dataset.points) > {grown}"
    )


def test_a_trade_opens_its_explanation(desk: Tab, stage: Stage) -> None:
    page = desk.open("trades", run=stage.backtest_run)
    first = page.locator("tr[data-order]").first
    order = first.get_attribute("data-order")
    first.click()
    page.wait_for_selector(f"#explanation[data-order='{order}'][data-loaded=true]")
    explained = stage.api(f"/api/runs/{stage.backtest_run}/orders/{order}/explain")
    text = page.inner_text("#explanation")
    assert f"Why order {order} was placed" in text
    agents = {v["agent"] for v in explained["votes"]}
    assert agents, "a committee order has votes"
    shown = set(page.locator("#explanation table.votes tr[data-agent]").evaluate_all(
        "rows => rows.map(r => r.dataset.agent)"
    ))  # fmt: skip
    assert shown == agents
    assert explained["summary"] in page.inner_text("#verdict")
    assert explained["risk"]["reason"] in page.inner_text("#risk-decision")
    assert f"Fills ({len(explained['fills'])})" in text
    desk.shot("trades-explanation")

    oldest = stage.api(f"/api/runs/{stage.backtest_run}/orders", limit=1000, order="oldest")
    filled = next(o for o in oldest["items"] if Decimal(o["filled_quantity"]) > 0)
    page = desk.open("trades", run=stage.backtest_run, order=filled["order_id"])
    page.wait_for_selector("#explanation[data-loaded=true]")
    assert "Fills (0)" not in page.inner_text("#explanation")


def test_the_leaderboard_lists_patterns_with_labels_and_samples(desk: Tab, stage: Stage) -> None:
    page = desk.open("patterns")
    patterns = stage.api("/api/patterns", limit=500)
    rows = page.locator("#leaderboard-table tbody tr[data-pattern]")
    assert rows.count() == len(patterns) > 1
    headers = page.inner_text("#leaderboard-table thead")
    for label in ("In-sample Sharpe", "Out-of-sample Sharpe", "Out-of-sample deflated Sharpe"):
        assert label in headers
    labels = rows.locator(".source").all_inner_texts()
    assert labels == [p["source"] for p in patterns]
    assert all(label.strip() for label in labels)
    statuses = set(rows.evaluate_all("rows => rows.map(r => r.dataset.status)"))
    assert {"proven", "imported"} & statuses, f"the imported proven pattern is listed: {statuses}"
    rows.first.click()
    page.wait_for_selector("#pattern-detail[data-loaded=true]")
    detail = page.inner_text("#pattern-detail")
    assert "out-of-sample" in detail
    desk.shot("patterns", full=False)


def test_agents_architecture_and_alerts_show_what_the_server_knows(desk: Tab, stage: Stage) -> None:
    page = desk.open("agents", run=stage.backtest_run)
    assert page.locator("#swarm .card[data-agent]").count() >= 2
    assert _points(page, "#hit-rate-chart") > 0
    desk.shot("agents")

    page = desk.open("architecture")
    diagram = page.locator("#diagram svg")
    ids = set(diagram.locator("g.node").evaluate_all("nodes => nodes.map(n => n.dataset.id)"))
    assert {"server", "bus", f"session:{stage.paper_run}"} <= ids
    flows = diagram.locator(f"g.edge[data-from='session:{stage.paper_run}']")
    assert int(flows.first.get_attribute("data-events") or 0) > 0
    desk.shot("architecture")

    page = desk.open("alerts")
    assert page.locator("#alerts h2").count() == 1
    desk.shot("alerts")


def test_without_a_token_a_page_asks_for_one(browser: Any, stage: Stage) -> None:
    tab = Tab(browser, stage, token=None, viewport=DESK)
    page = tab.open("index")
    assert page.locator("[data-error='401']").is_visible()
    assert "A token is needed" in page.inner_text("main")
    tab.context.close()  # a 401 is what this page is meant to show


@pytest.mark.parametrize("name", PAGES)
def test_a_phone_sees_each_page_without_sideways_scrolling(
    browser: Any, stage: Stage, name: str
) -> None:
    tab = Tab(browser, stage, token=stage.viewer, viewport=PHONE)
    page = tab.open(name)
    page.wait_for_timeout(300)  # charts and the diagram lay out after their data
    wider = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert wider <= 0, f"{name} is {wider}px wider than a 390px phone"
    tab.shot(f"phone-{name}", full=name != "patterns")  # hundreds of rows: the top will do
    tab.close()


def test_the_kill_switch_is_guarded_and_stops_and_flattens_the_session(
    browser: Any, stage: Stage
) -> None:
    assert any(q > 0 for q in stage.held().values()), "the session holds a position to flatten"
    viewer = Tab(browser, stage, token=stage.viewer, viewport=DESK)
    page = viewer.open("risk")
    page.click("#kill-paper")
    page.fill("#confirm-reason", "browser test: a viewer tries")
    page.fill("#confirm-mode", "paper")
    page.click("#confirm-send")
    page.wait_for_selector("#confirm-outcome [data-error='403']")
    viewer.context.close()  # the refusal is what the page must show

    tab = Tab(browser, stage, token=stage.operator, viewport=DESK)
    page = tab.open("risk")
    limits = page.locator("#mode-paper [data-limit] .meter")
    assert limits.count() >= 3, "each limit of the paper profile is a bar"
    daily = page.get_attribute("#mode-paper [data-limit=daily_loss] .meter", "data-closeness")
    assert daily, "the running session's daily loss is measured against its limit"
    page.click("#kill-paper")
    assert page.is_disabled("#confirm-send"), "nothing is sent before the mode is typed"
    page.fill("#confirm-reason", "browser test: stop and flatten")
    page.fill("#confirm-mode", "papr")
    assert page.is_disabled("#confirm-send"), "a misspelt mode sends nothing"
    page.fill("#confirm-mode", "paper")
    tab.shot("risk-kill-switch-dialog", full=False)
    page.click("#confirm-send")
    page.wait_for_selector("#confirm-outcome [data-done=stop]")
    page.wait_for_selector("#confirm", state="hidden")  # it closes itself once sent
    page.wait_for_selector("#mode-paper[data-stopped=true]")
    page.wait_for_selector("#mode-paper .breaker-history :text('stop and flatten')")

    _until(lambda: not any(stage.held().values()), "the paper session to flatten", 90)
    tab.shot("risk-after-stop")
    page = tab.open("index", run=stage.paper_run)
    page.wait_for_selector("#positions[data-count='0']")
    tab.shot("portfolio-flattened")

    page = tab.open("alerts")  # every stop is an alert by default
    page.wait_for_selector("#alerts-table tr[data-rule] :text('stop and flatten')")
    tab.shot("alerts-after-stop")
    tab.close()
