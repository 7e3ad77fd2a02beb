"""Every mode writes the backtest's report: orders, the mode, how it ended, honest figures.

A session of an afternoon cannot say anything about a year: its report leaves out the
figures that extrapolate to one, and keeps every order it asked for, refused ones too.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from decimal import Decimal

import numpy as np

from coinswarm import bootstrap
from coinswarm.backtest.engine import BacktestConfig, run_backtest
from coinswarm.backtest.metrics import MIN_ANNUALISED_DAYS
from coinswarm.backtest.report import RunHeading, render_report
from coinswarm.data import synthetic_market
from coinswarm.domain.order import Order, OrderRequest, OrderSide, OrderType
from coinswarm.strategies.sma_cross import SmaCross, SmaCrossConfig

TAKER = Decimal("0.006")


def session(bars: int, *, stopped=None) -> bootstrap.BacktestOutcome:
    market = [synthetic_market(instrument="BTC-USD", bars=bars, seed=21)]
    result = run_backtest(
        market, SmaCross(SmaCrossConfig(fast=3, slow=8)), BacktestConfig(), stopped=stopped
    )
    return bootstrap.outcome("sandbox-abc", result, fee_rate=TAKER, risk=None, mode="sandbox")


def body(path) -> str:
    return path.read_text(encoding="utf-8").split("</head>", 1)[1]  # past plotly.js


def section(html: str, title: str) -> str:
    start = html.index(f"<h2>{title}</h2>")
    return html[start : html.index("<h2>", start + 4)]


def test_a_session_report_names_its_mode_run_and_end_and_lists_every_order(tmp_path) -> None:
    outcome = session(120)
    note = "Stopped with Ctrl-C: <until then>"
    html = body(outcome.write_report(tmp_path / "s.html", notes=[note]))
    assert "<h1>Sandbox session: sma-cross</h1>" in html
    assert "<strong>Stopped with Ctrl-C: &lt;until then&gt;</strong>" in html
    assert "Run sandbox-abc: " in html
    orders = section(html, "Orders")
    assert orders.count("<tr><td>") == len(outcome.result.orders) > 5
    for order in outcome.result.orders:
        assert order.client_order_id in orders
    # The exchange's fills are the truth; the simulated costs are the shadow's assumption.
    costs = section(html, "Costs")
    assert "the exchange&#x27;s own" in costs
    assert "Costs assumed" not in html


def test_a_refused_order_shows_why(tmp_path) -> None:
    outcome = session(60)
    request = OrderRequest(
        client_order_id="refused-1",
        instrument="BTC-USD",
        side=OrderSide.SELL,
        type=OrderType.LIMIT,
        quantity=Decimal("0.5"),
        limit_price=Decimal("101.25"),
    )
    refused = Order("o-refused", request, int(outcome.result.curve.ts[3]))
    refused.reject("blocked: circuit breaker <tripped>", refused.created_ts)
    result = replace(outcome.result, orders=(*outcome.result.orders, refused))
    html = render_report(result, outcome.metrics, outcome.benchmark)
    row = next(line for line in html.splitlines() if "refused-1" in line)
    assert "<td>LIMIT</td><td>0.5</td><td>101.25</td><td></td><td>REJECTED</td>" in row
    assert "blocked: circuit breaker &lt;tripped&gt;" in row


def test_a_run_under_a_month_leaves_out_what_extrapolates_to_a_year(tmp_path) -> None:
    short = session(24 * 5)
    assert short.metrics.covered_days == 5
    html = body(short.write_report(tmp_path / "short.html"))
    metrics = section(html, "Metrics")
    for label in ("CAGR", "Sharpe (annualised)", "Sortino (annualised)"):
        assert f"<tr><td>{label}</td><td>\u2014</td><td>\u2014</td></tr>" in metrics
    assert f"under {MIN_ANNUALISED_DAYS} days (this one covers 5.0)" in metrics
    # Machines still read every figure.
    embedded = re.search(r'id="cs-metrics">(.*?)</script>', html)
    assert embedded is not None
    assert json.loads(embedded.group(1))["strategy"]["sharpe"] is not None

    long = session(24 * (MIN_ANNUALISED_DAYS + 1))
    html = body(long.write_report(tmp_path / "long.html"))
    sharpe = f"<tr><td>Sharpe (annualised)</td><td>{long.metrics.sharpe:.2f}</td>"
    assert sharpe in section(html, "Metrics")


def test_a_session_stopped_before_its_first_bar_still_has_a_report(tmp_path) -> None:
    outcome = session(50, stopped=lambda: True)
    assert outcome.metrics.bars == 0
    assert outcome.metrics.final_equity == 10_000.0
    assert np.isnan(outcome.metrics.sharpe)
    summary = outcome.summary()
    assert summary["bars"] == 0
    assert summary["orders"] == 0
    html = body(outcome.write_report(tmp_path / "empty.html"))
    assert "no bars, 0 bars of 1h" in html


def test_a_backtest_report_is_still_a_backtest_s() -> None:
    outcome = session(60)
    as_backtest = render_report(outcome.result, outcome.metrics, outcome.benchmark)
    assert "<title>Backtest: sma-cross</title>" in as_backtest
    assert "<h2>Costs assumed</h2>" in as_backtest
    paper = render_report(
        outcome.result, outcome.metrics, outcome.benchmark, heading=RunHeading(mode="paper")
    )
    assert "<h1>Paper session: sma-cross</h1>" in paper
    assert "<h2>Costs assumed</h2>" in paper  # paper's fills are the simulated ones
