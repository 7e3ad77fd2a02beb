"""The HTML report: self-contained, complete, deterministic and written atomically."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from plotly.offline import get_plotlyjs

from coinswarm.backtest.metrics import buy_and_hold_benchmark, compute_metrics
from coinswarm.backtest.report import decimate, write_report
from coinswarm.backtest.result import BacktestResult, EquityCurve
from coinswarm.domain.bar import NS_PER_HOUR, BarSeries
from coinswarm.domain.costs import FeeSchedule, FillModel
from coinswarm.domain.fill import Fill
from coinswarm.domain.order import OrderSide
from coinswarm.domain.position import RoundTrip
from coinswarm.domain.slippage import SlippageModel

T0 = 1_704_067_200 * 1_000_000_000  # 2024-01-01 00:00 UTC
FEE = Decimal("0.001")
COSTS = FillModel(
    fees=FeeSchedule(maker_bps=Decimal(4), taker_bps=Decimal(10)),
    slippage=SlippageModel(floor_bps=Decimal(12), range_share=Decimal("0.2")),
    max_volume_share=Decimal("0.05"),
)
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def bars(instrument: str, n: int, base: float) -> BarSeries:
    ts = T0 + np.arange(n, dtype=np.int64) * NS_PER_HOUR
    close = base * (1 + 0.1 * np.sin(np.arange(n) / 50.0))
    opens = np.concatenate(([base], close[:-1]))
    return BarSeries(
        instrument,
        NS_PER_HOUR,
        ts,
        opens,
        np.maximum(opens, close) * 1.001,
        np.minimum(opens, close) * 0.999,
        close,
        np.ones(n),
    )


def fill(n: int, side: OrderSide, ts: int, price: str, coid: str) -> Fill:
    return Fill(
        trade_id=f"t{n}",
        order_id=f"o{n}",
        client_order_id=coid,
        instrument="BTC/USDT",
        side=side,
        quantity=Decimal("0.5"),
        price=Decimal(price),
        fee=Decimal("0.05"),
        fee_currency="USDT",
        ts=ts,
    )


def make_result(n: int = 72, strategy: str = "sma_cross") -> BacktestResult:
    market = {"BTC/USDT": bars("BTC/USDT", n, 100.0), "ETH/USDT": bars("ETH/USDT", n, 20.0)}
    ts = market["BTC/USDT"].ts
    equity = 10_000 * (1 + 0.05 * np.sin(np.arange(n) / 7.0))
    exposure = (np.arange(n) % 3 > 0).astype(np.float64)
    entry, exit_ = T0 + 5 * NS_PER_HOUR, T0 + 9 * NS_PER_HOUR
    fills = (
        fill(1, OrderSide.BUY, entry, "101.5", "sma-entry-1"),
        fill(2, OrderSide.SELL, exit_, "104.25", "sma-exit-1"),
    )
    trips = (
        RoundTrip(
            "BTC/USDT",
            entry,
            exit_,
            Decimal("0.5"),
            Decimal("101.5"),
            Decimal("104.25"),
            Decimal("1.275"),
            Decimal("0.1"),
        ),
    )
    return BacktestResult(
        strategy=strategy,
        parameters={"fast": "10", "slow": "30"},
        initial_cash=Decimal(10_000),
        final_equity=Decimal(repr(float(equity[-1]))),
        quote_currency="USDT",
        bar_interval_ns=NS_PER_HOUR,
        curve=EquityCurve(ts=ts, equity=equity, exposure=exposure),
        trades=trips,
        fills=fills,
        fees_paid=Decimal("0.1"),
        costs=COSTS,
        market=market,
    )


def write(result: BacktestResult, path, **kwargs):
    metrics = compute_metrics(
        result.curve,
        result.trades,
        fees_paid=result.fees_paid,
        initial_cash=result.initial_cash,
        bar_interval_ns=result.bar_interval_ns,
    )
    bh_curve, bh = buy_and_hold_benchmark(result, fee_rate=FEE)
    written = write_report(result, metrics, bh, path, benchmark_curve=bh_curve, **kwargs)
    return written, metrics, bh


def test_report_is_self_contained_and_holds_the_metrics(tmp_path):
    path, metrics, bh = write(make_result(), tmp_path / "report.html")
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!doctype html>")
    # No script is fetched from anywhere: plotly.js is inlined.
    assert not re.search(r"<script[^>]*\bsrc=", text)
    assert "Plotly.newPlot" in text
    assert len(text) > 3_000_000  # the plotly.js bundle itself
    embedded = re.search(r'<script type="application/json" id="cs-metrics">(.*?)</script>', text)
    assert embedded is not None
    assert json.loads(embedded.group(1)) == {
        "strategy": metrics.to_dict(),
        "buy_and_hold": bh.to_dict(),
    }
    assert f"{metrics.total_return * 100:.2f}%" in text
    assert f"{bh.total_return * 100:.2f}%" in text
    for needle in (
        "Buy &amp; hold",
        "Max drawdown",
        "Sharpe",
        "Win rate",
        "cs-equity",
        "cs-price-1",
        "cs-price-2",
        "BTC/USDT",
        "ETH/USDT",
        "Monthly returns",
        "sma-entry-1",
        "8,760",
    ):
        assert needle in text


def test_report_states_the_cost_assumptions_of_the_run(tmp_path):
    path, _, _ = write(make_result(), tmp_path / "report.html")
    text = path.read_text(encoding="utf-8")
    section = text[text.index("<h2>Costs assumed</h2>") :]
    section = section[: section.index("</ul>")]
    assert "maker 4 bps, taker 10 bps" in section
    # The model's own parameters, not the defaults: the report reads them from the run.
    assert "model: 12 bps + 0.2 x the bar&#x27;s range" in section
    assert "100 bps x sqrt(order / bar volume), at most 1000 bps" in section
    assert "volume cap: 0.05 of each bar&#x27;s volume" in section


def test_report_is_byte_identical_across_writes(tmp_path):
    result = make_result()
    first, _, _ = write(result, tmp_path / "a.html")
    second, _, _ = write(result, tmp_path / "b.html")
    assert first.read_bytes() == second.read_bytes()
    assert not UUID.search(first.read_text(encoding="utf-8"))


def test_explain_links_turn_orders_into_links(tmp_path):
    links = {"sma-entry-1": "explain/sma-entry-1.html", "sma-exit-1": "#why-<exit>"}
    path, _, _ = write(make_result(), tmp_path / "r.html", explain_links=links)
    text = path.read_text(encoding="utf-8")
    assert '<a href="explain/sma-entry-1.html">sma-entry-1</a>' in text
    assert '<a href="#why-&lt;exit&gt;">sma-exit-1</a>' in text
    without, _, _ = write(make_result(), tmp_path / "plain.html")
    body = without.read_text(encoding="utf-8").split("</head>", 1)[1]  # past plotly.js
    assert "<a href=" not in body


def test_strings_from_the_run_are_escaped(tmp_path):
    path, _, _ = write(make_result(strategy="<b>bold</b>"), tmp_path / "r.html")
    text = path.read_text(encoding="utf-8")
    assert "<b>bold</b>" not in text
    assert "&lt;b&gt;bold&lt;/b&gt;" in text


def test_a_failing_write_leaves_the_previous_report_and_no_partial_file(tmp_path):
    path, _, _ = write(make_result(), tmp_path / "report.html")
    before = path.read_bytes()
    # A lone surrogate cannot be encoded as UTF-8: the write fails halfway through the file.
    with pytest.raises(UnicodeEncodeError):
        write(make_result(strategy="bad \ud800 name"), path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]


def test_a_failing_move_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "taken"
    target.mkdir()
    with pytest.raises(OSError):  # noqa: PT011 - the platform decides which OSError
        write(make_result(), target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


def test_a_long_run_is_decimated_for_display(tmp_path):
    n = 52_000
    path, metrics, _ = write(make_result(n), tmp_path / "big.html")
    assert metrics.bars == n  # the metrics saw every bar
    size = path.stat().st_size
    assert size - len(get_plotlyjs()) < 2_000_000  # charts and tables beside the bundle
    small, _, _ = write(make_result(n), tmp_path / "small.html", max_line_points=500)
    assert small.stat().st_size < size


# --- decimation ---------------------------------------------------------------------------


def test_decimate_keeps_a_short_line_unchanged():
    x, y = decimate([1, 2, 3], [5, 4, 6], 10)
    np.testing.assert_array_equal(x, [1, 2, 3])
    np.testing.assert_array_equal(y, [5, 4, 6])


def test_decimate_refuses_a_budget_too_small_for_a_shape():
    with pytest.raises(ValueError, match="at least 4"):
        decimate([1, 2, 3], [1, 2, 3], 3)


@given(
    values=st.lists(st.floats(min_value=-1e6, max_value=1e6), min_size=1, max_size=400),
    budget=st.integers(min_value=4, max_value=60),
)
def test_decimate_keeps_extremes_ends_and_order(values, budget):
    x = np.arange(len(values), dtype=np.float64)
    y = np.asarray(values)
    dx, dy = decimate(x, y, budget)
    assert len(dx) <= max(budget, len(values) if len(values) <= budget else 0)
    assert np.all(np.diff(dx) > 0)
    assert dx[0] == 0
    assert dx[-1] == len(values) - 1
    assert dy.max() == y.max()
    assert dy.min() == y.min()
    np.testing.assert_array_equal(dy, y[dx.astype(int)])
