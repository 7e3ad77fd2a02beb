"""API latency over a store of 100,000 fills: the portfolio and the orders and fills pages.

    python benchmarks/bench_api.py [--fills 100000] [--requests 300] [--bars 52560]

Builds, in a temporary COINSWARM_HOME, one finished backtest run on a synthetic hourly market
(`--bars`, six years by default) holding `--fills` orders of one fill each, a deposit, a final
ledger snapshot and a committee verdict with three votes on every bar, written through the
store's batch path (`write_batch`, as a backtest's checkpoint writes them). Then serves the
API with uvicorn on 127.0.0.1 (port 0, in a thread) and asks over real HTTP with one httpx
client (keep-alive), one request at a time:

- portfolio: GET /positions then GET /equity, the two calls the portfolio page makes (the
  equity curve is marked at every bar's close and thinned to 2,000 points);
- orders and fills: a page of 100 at a random place (`after`), newest first, and the first
  page of 1,000; verdicts with their votes, a page of 100.

The first equity request computes the curve from every fill (the server keeps it until the
store changes): its time is printed on its own, as "cold", and the percentiles are of the
requests after it. Figures only: nothing is asserted. The goal (issue 14): p99 under 100 ms.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import httpx
import uvicorn

from coinswarm import bootstrap
from coinswarm.agents.base import Direction, Vote
from coinswarm.agents.committee import Verdict
from coinswarm.api import ServeSettings, create_app
from coinswarm.api.services import Services
from coinswarm.domain.fill import Fill
from coinswarm.domain.instrument import instrument_from_symbol
from coinswarm.domain.ledger import Deposit, Ledger
from coinswarm.domain.order import Order, OrderRequest, OrderSide
from coinswarm.infra.storage import RunRecord
from coinswarm.infra.storage.batch import Deposited, Entry, Filled, Ordered

GOAL_MS = 100.0
HOUR = 3_600 * 1_000_000_000
SYMBOL = "SYN-USDT"
RUN_ID = "run-bench-api"


def _build(home: Path, fills: int, bars: int) -> str:
    """Store the benchmark's run in `home`; return its id."""
    request = bootstrap.BacktestRequest(strategy="committee", synthetic_bars=bars)
    (series,) = bootstrap.load_market(request)
    run_id = RUN_ID
    instrument = instrument_from_symbol(SYMBOL)
    ledger = Ledger({SYMBOL: instrument}, "USDT")
    cash = Decimal(10_000_000)
    start = int(series.ts[0])
    with bootstrap.open_store(None) as store:
        store.create_run(
            RunRecord(
                run_id=run_id,
                mode="backtest",
                venue=f"simulated:{run_id}",
                strategy="committee",
                inputs=bootstrap.request_to_json(request),
                status="running",
                created_ts=start,
                updated_ts=start,
            )
        )
        deposit = Deposit("USDT", cash, start, "initial cash")
        ledger.deposit(deposit.currency, deposit.amount, deposit.ts, deposit.reference)
        entries: list[Entry] = [Deposited(deposit)]
        for n in range(fills):
            bar = n * (len(series) - 1) // fills
            ts = int(series.ts[bar])
            side = OrderSide.BUY if n % 2 == 0 else OrderSide.SELL
            quantity = Decimal("0.01")
            order = Order(
                f"SIM-{n:08d}",
                OrderRequest(
                    client_order_id=f"{SYMBOL}-{ts}-{n}",
                    instrument=SYMBOL,
                    side=side,
                    quantity=quantity,
                ),
                ts,
            )
            order.accept(ts)
            price = Decimal(str(round(float(series.close[bar]), 2)))
            fill = Fill(
                trade_id=f"SIM-T-{n:08d}",
                order_id=order.order_id,
                client_order_id=order.client_order_id,
                instrument=SYMBOL,
                side=side,
                quantity=quantity,
                price=price,
                fee=(price * quantity * Decimal("0.006")).quantize(Decimal("0.00000001")),
                fee_currency="USDT",
                ts=ts + HOUR,
            )
            order.apply_fill(fill)
            ledger.record(fill)
            entries += [Ordered(order), Filled(fill, order)]
            if len(entries) >= 20_000:
                store.write_batch(run_id, entries)
                entries = []
        verdicts = [
            Verdict(
                SYMBOL,
                int(ts),
                Direction.HOLD,
                0.0,
                0.0,
                tuple(
                    Vote(name, SYMBOL, Direction.HOLD, 0.0, 0.0, "no view")
                    for name in ("trend", "mean_reversion", "risk")
                ),
                (0.5, 0.5, 0.5),
                (),
                "bench",
            )
            for ts in series.ts
        ]
        store.write_batch(run_id, entries, verdicts)
        end = int(series.ts[-1])
        store.save_snapshot(run_id, end, ledger.state())
        store.set_run_status(run_id, "finished", end)
    return run_id


def _serve(app: object) -> tuple[Callable[[], None], int]:
    """Serve `app` on 127.0.0.1 (a free port) in a thread; return its stop and its port."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", access_log=False)  # type: ignore[arg-type]
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]

    def stop() -> None:
        server.should_exit = True
        thread.join(10)

    return stop, port


def _percentiles(times: list[float]) -> tuple[float, float, float]:
    ordered = sorted(times)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return statistics.median(ordered) * 1000, p99 * 1000, ordered[-1] * 1000


def _timed(ask: Callable[[], object], count: int) -> list[float]:
    times = []
    for _ in range(count):
        started = time.perf_counter()
        ask()
        times.append(time.perf_counter() - started)
    return times


def _measure(base: str, run_id: str, fills: int, count: int) -> list[tuple[str, list[float]]]:
    rng = random.Random(7)
    with httpx.Client(base_url=base, timeout=60) as client:

        def get(path: str, **params: object) -> httpx.Response:
            response = client.get(f"/api/runs/{run_id}{path}", params=params)  # type: ignore[arg-type]
            response.raise_for_status()
            return response

        started = time.perf_counter()
        curve = get("/equity").json()
        cold = time.perf_counter() - started
        print(
            f"cold equity curve: {cold * 1000:,.0f} ms "
            f"({curve['total_points']:,} points, marked at each {curve['marked']}, "
            f"{len(curve['points']):,} sent)"
        )
        positions = get("/positions").json()
        assert positions["equity"] is not None
        total = get("/orders", limit=1).json()["total"]
        assert total == fills, (total, fills)

        def portfolio() -> None:
            get("/positions")
            get("/equity")

        return [
            ("portfolio (positions + equity)", _timed(portfolio, count)),
            ("  positions", _timed(lambda: get("/positions"), count)),
            ("  equity (2,000 points)", _timed(lambda: get("/equity"), count)),
            (
                "orders, 100 at a random place",
                _timed(lambda: get("/orders", limit=100, after=rng.randint(1, fills)), count),
            ),
            ("orders, first page of 1,000", _timed(lambda: get("/orders", limit=1000), count)),
            (
                "fills, 100 at a random place",
                _timed(lambda: get("/fills", limit=100, after=rng.randint(2, fills + 1)), count),
            ),
            ("fills, first page of 1,000", _timed(lambda: get("/fills", limit=1000), count)),
            ("verdicts with votes, 100", _timed(lambda: get("/verdicts", limit=100), count)),
        ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fills", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--bars", type=int, default=6 * 365 * 24)
    parser.add_argument(
        "--home", type=Path, help="keep the store in this folder, and reuse it when there"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-api-") as temporary:
        folder = args.home or Path(temporary)
        folder.mkdir(parents=True, exist_ok=True)
        os.environ["COINSWARM_HOME"] = str(folder)
        os.environ.pop("COINSWARM_DATABASE_URL", None)
        database = folder / "coinswarm.db"
        if database.exists():
            run_id = RUN_ID
            print(f"reusing the store in {folder}")
        else:
            started = time.perf_counter()
            run_id = _build(folder, args.fills, args.bars)
            print(
                f"stored {args.fills:,} orders and fills and {args.bars:,} verdicts "
                f"({database.stat().st_size / 1e6:,.0f} MB of SQLite) "
                f"in {time.perf_counter() - started:,.1f} s"
            )
        app = create_app(found=Services(settings=ServeSettings(public=True)))
        stop, port = _serve(app)
        try:
            rows = _measure(f"http://127.0.0.1:{port}", run_id, args.fills, args.requests)
        finally:
            stop()
    how = f"{args.requests} requests each, one at a time, over HTTP on 127.0.0.1"
    load = ", ".join(f"{figure:.1f}" for figure in os.getloadavg())
    print(f"\n{how}; goal p99 < {GOAL_MS:.0f} ms; load average {load} on {os.cpu_count()} CPUs")
    print(f"{'endpoint':<34}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}  goal")
    for name, times in rows:
        p50, p99, worst = _percentiles(times)
        verdict = "" if name.startswith("  ") else ("met" if p99 < GOAL_MS else "MISSED")
        print(f"{name:<34}{p50:>9.1f}{p99:>9.1f}{worst:>9.1f}  {verdict}")


if __name__ == "__main__":
    sys.exit(main())
