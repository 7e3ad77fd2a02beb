"""The self-contained HTML report of one run: a backtest, or a paper, sandbox or live session.

Every mode runs the same engine and gets the same report; `RunHeading` says which mode it was
and how it ended. A session's result covers the bars it traded (not its warm-up), so its
equity, metrics and buy-and-hold are over the same bars. Figures that extrapolate to a year
(CAGR, Sharpe, Sortino) are shown only for runs of at least a month (`Metrics.annualised_
meaningful`); the embedded JSON keeps them all.

One file, opened with no network: plotly.js is inlined once in the head and every chart is a
plotly div with a fixed id, so the same run always gives the same bytes. Lines longer than
`max_line_points` are decimated for display only, keeping each bucket's minimum and maximum
(see `decimate`); the metrics are always computed on the full data before they get here.
"""

from __future__ import annotations

import contextlib
import html
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from coinswarm.backtest import _report_html as markup
from coinswarm.backtest.metrics import MIN_ANNUALISED_DAYS, drawdown_series, monthly_returns
from coinswarm.backtest.stops import stop_rows, stops_section
from coinswarm.domain.money import display_amount
from coinswarm.domain.order import OrderSide

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from coinswarm.backtest.metrics import Metrics
    from coinswarm.backtest.result import BacktestResult, EquityCurve
    from coinswarm.domain.bar import BarSeries
    from coinswarm.domain.fill import Fill

__all__ = [
    "DEFAULT_MAX_LINE_POINTS",
    "DEFAULT_MAX_TABLE_ROWS",
    "RunHeading",
    "decimate",
    "render_report",
    "write_report",
]

FloatArray = npt.NDArray[np.float64]

# A screen is at most a few thousand pixels wide: 10,000 points (5,000 min/max pairs) keep
# every visible spike while an hourly six-year series (~52,000 bars) shrinks five-fold.
DEFAULT_MAX_LINE_POINTS = 10_000
DEFAULT_MAX_TABLE_ROWS = 10_000
NS_PER_MS = 1_000_000
TEMPLATE = "plotly_white"  # named explicitly so a global plotly default cannot change the bytes
PLOT_CONFIG = {"displaylogo": False, "responsive": True}
SIDE_STYLE = {
    OrderSide.BUY: ("triangle-up", "#1a9850"),
    OrderSide.SELL: ("triangle-down", "#d73027"),
}
TITLES = {
    "backtest": "Backtest",
    "paper": "Paper session",
    "sandbox": "Sandbox session",
    "live": "Live session",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class RunHeading:
    """What the report says a run was, above its figures.

    `mode` names it ("backtest", "paper", "sandbox", "live"); `notes` are said under the
    title (how a session ended); `exchange_costs` says the fills and fees are an exchange's
    own, so the simulated costs are only what the shadow backtest beside it assumed.
    """

    mode: str = "backtest"
    run_id: str | None = None
    notes: tuple[str, ...] = ()
    exchange_costs: bool = False

    @property
    def title(self) -> str:
        return TITLES.get(self.mode, self.mode.capitalize())


def write_report(
    result: BacktestResult,
    metrics: Metrics,
    benchmark: Metrics,
    path: str | os.PathLike[str],
    *,
    heading: RunHeading | None = None,
    explain_links: Mapping[str, str] | None = None,
    explanations: Mapping[str, Sequence[str]] | None = None,
    total_loss_limit: float | None = None,
    benchmark_curve: EquityCurve | None = None,
    max_line_points: int = DEFAULT_MAX_LINE_POINTS,
    max_table_rows: int = DEFAULT_MAX_TABLE_ROWS,
) -> Path:
    """Write the run's report to `path` as one self-contained HTML file and return the path.

    `benchmark_curve` (from `metrics.buy_and_hold_benchmark`) adds buy and hold to the equity
    and drawdown charts. `explain_links` maps a fill's `client_order_id` to a URL; when given,
    the trade and fill tables link each order to it. The risk layer's events (breaker trips,
    stops, resets) are listed beside the drawdown since the run's first peak at each, and
    `total_loss_limit` (the profile's) is named above them. `explanations` maps a `client_order_id`
    to the lines of its explanation; they are written into the report and, unless
    `explain_links` says otherwise, the tables link to them. The file is written to a temporary file
    in the same directory and moved into place, so a failed write leaves the old file intact.
    """
    target = Path(path)
    document = render_report(
        result,
        metrics,
        benchmark,
        heading=heading,
        explain_links=explain_links,
        explanations=explanations,
        total_loss_limit=total_loss_limit,
        benchmark_curve=benchmark_curve,
        max_line_points=max_line_points,
        max_table_rows=max_table_rows,
    )
    _write_atomically(target, document)
    return target


def render_report(
    result: BacktestResult,
    metrics: Metrics,
    benchmark: Metrics,
    *,
    heading: RunHeading | None = None,
    explain_links: Mapping[str, str] | None = None,
    explanations: Mapping[str, Sequence[str]] | None = None,
    total_loss_limit: float | None = None,
    benchmark_curve: EquityCurve | None = None,
    max_line_points: int = DEFAULT_MAX_LINE_POINTS,
    max_table_rows: int = DEFAULT_MAX_TABLE_ROWS,
) -> str:
    """Return the report's HTML; `write_report` documents the arguments."""
    heading = heading or RunHeading()
    if explanations and explain_links is None:
        explain_links = {cid: "#" + markup.explanation_id(cid) for cid in explanations}
    equity = _equity_figure(result, benchmark_curve, max_line_points)
    body = [
        _header(result, heading),
        "<h2>Metrics</h2>\n",
        markup.metrics_table(metrics, benchmark, annualised=metrics.annualised_meaningful),
        _conventions_note(metrics),
        *_costs(result, heading),
        markup.metrics_json(metrics, benchmark),
        "<h2>Equity and drawdown</h2>\n",
        _div(equity, "cs-equity", "640px"),
    ]
    for number, (name, series) in enumerate(sorted(result.market.items()), start=1):
        fills = [f for f in result.fills if f.instrument == name]
        figure = _price_figure(series, fills, max_line_points)
        body += [f"<h2>{html.escape(name)}</h2>\n", _div(figure, f"cs-price-{number}", "480px")]
    start = float(result.initial_cash)
    body += [
        "<h2>Monthly returns</h2>\n",
        markup.monthly_table(monthly_returns(result.curve, start_equity=start)),
        '<h2>Orders</h2>\n<div class="scroll">\n',
        markup.orders_table(result.orders, result.quote_currency, explain_links, max_table_rows),
        "</div>\n<h2>Round trips</h2>\n",
        '<div class="scroll">\n',
        markup.round_trips_table(result.trades, result.fills, explain_links, max_table_rows),
        '</div>\n<h2>Fills</h2>\n<div class="scroll">\n',
        markup.fills_table(result.fills, explain_links, max_table_rows),
        "</div>\n",
    ]
    rows = stop_rows(result.risk_events, result.curve, start)
    if rows:
        body += [
            "<h2>Risk events: stops, trips and resets</h2>\n",
            *(f"<p>{html.escape(line)}</p>\n" for line in stops_section(rows, total_loss_limit)),
            '<div class="scroll">\n',
            markup.risk_events_table([r.cells() for r in rows], max_table_rows),
            "</div>\n",
        ]
    if explanations:
        body += [
            "<h2>Why did it trade?</h2>\n",
            markup.explanations_section(explanations, max_table_rows),
        ]
    return markup.page(f"{heading.title}: {result.strategy}", get_plotlyjs(), body)


def decimate(x: npt.ArrayLike, y: npt.ArrayLike, max_points: int) -> tuple[FloatArray, FloatArray]:
    """Return at most `max_points` points of a line that still show its every peak and trough.

    The line is cut into `(max_points - 2) // 2` buckets of consecutive points; each bucket
    keeps its lowest and highest point, in time order, and the first and last points are
    always kept. A line that already fits is returned unchanged.
    """
    xs = np.asarray(x, dtype=np.float64)
    ys = np.asarray(y, dtype=np.float64)
    n = len(ys)
    if max_points < 4:
        msg = f"max_points must be at least 4 to keep a line's shape, got {max_points}"
        raise ValueError(msg)
    if n <= max_points:
        return xs, ys
    buckets = (max_points - 2) // 2
    size = -(-n // buckets)
    rows = -(-n // size)
    # Padding with the last value adds no new extremes, so clipping the indices is safe.
    padded = np.pad(ys, (0, rows * size - n), mode="edge").reshape(rows, size)
    offsets = np.arange(rows) * size
    keep = np.concatenate(
        (offsets + padded.argmin(axis=1), offsets + padded.argmax(axis=1), [0, n - 1])
    )
    index = np.unique(np.clip(keep, 0, n - 1))
    return xs[index], ys[index]


# --- figures ------------------------------------------------------------------------------


def _ms(ts_ns: npt.ArrayLike) -> FloatArray:
    # Plotly's date axes read numbers as milliseconds since the epoch, which float64 holds
    # exactly and plotly ships as a compact binary array instead of 52,000 date strings.
    return (np.asarray(ts_ns, dtype=np.int64) // NS_PER_MS).astype(np.float64)


def _line(ts_ns: npt.ArrayLike, y: npt.ArrayLike, name: str, max_points: int, **style: Any) -> Any:
    x, ys = decimate(_ms(ts_ns), y, max_points)
    return go.Scattergl(
        x=x,
        y=ys,
        name=name,
        mode="lines",
        hovertemplate="%{x|%Y-%m-%d %H:%M}<br>%{y:,.2f}<extra>" + name + "</extra>",
        **style,
    )


def _drawdown_percent(curve: EquityCurve, start: float) -> FloatArray:
    # The opening cash is the first peak, as in `compute_metrics`, so the chart agrees with
    # the table about a loss on the first bar.
    series = drawdown_series(np.concatenate(([start], curve.equity)).astype(np.float64))
    return -100.0 * series[1:]


def _equity_figure(result: BacktestResult, benchmark: EquityCurve | None, max_points: int) -> Any:
    figure = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        row_heights=[0.7, 0.3],
        vertical_spacing=0.05,
    )
    start = float(result.initial_cash)
    curves = [("Strategy", result.curve, "#1f77b4")]
    if benchmark is not None:
        curves.append(("Buy & hold", benchmark, "#7f7f7f"))
    for name, curve, colour in curves:
        figure.add_trace(
            _line(curve.ts, curve.equity, name, max_points, line={"color": colour}), row=1, col=1
        )
        drawdown = _line(
            curve.ts,
            _drawdown_percent(curve, start),
            f"{name} drawdown",
            max_points,
            line={"color": colour, "width": 1},
            showlegend=False,
        )
        figure.add_trace(drawdown, row=2, col=1)
    figure.update_yaxes(title_text=f"Equity ({result.quote_currency})", row=1, col=1)
    figure.update_yaxes(title_text="Drawdown (%)", row=2, col=1)
    figure.update_xaxes(type="date")
    figure.update_layout(template=TEMPLATE, margin={"t": 30, "b": 30}, hovermode="x")
    return figure


def _price_figure(series: BarSeries, fills: Sequence[Fill], max_points: int) -> Any:
    figure = go.Figure()
    figure.add_trace(_line(series.ts, series.close, "Close", max_points, line={"width": 1}))
    for side, (symbol, colour) in SIDE_STYLE.items():
        chosen = [f for f in fills if f.side is side]
        if chosen:
            figure.add_trace(_fill_markers(chosen, side, symbol, colour))
    figure.update_xaxes(type="date")
    figure.update_layout(
        template=TEMPLATE,
        margin={"t": 30, "b": 30},
        yaxis_title=f"{series.instrument} close",
    )
    return figure


def _fill_markers(fills: Sequence[Fill], side: OrderSide, symbol: str, colour: str) -> Any:
    text = [
        f"{markup.format_ts(f.ts)}<br>{f.side} {f.quantity} @ {f.price}<br>"
        f"fee {display_amount(f.fee)} {f.fee_currency}<br>{html.escape(f.client_order_id)}"
        for f in fills
    ]
    return go.Scattergl(
        x=_ms([f.ts for f in fills]),
        y=np.array([float(f.price) for f in fills], dtype=np.float64),
        mode="markers",
        name=str(side).lower(),
        text=text,
        marker={"symbol": symbol, "color": colour, "size": 9},
        hovertemplate="%{text}<extra></extra>",
    )


def _div(figure: Any, div_id: str, height: str) -> str:
    # A fixed div id replaces plotly's random uuid: the report must be byte-identical.
    div: str = pio.to_html(
        figure,
        include_plotlyjs=False,
        full_html=False,
        div_id=div_id,
        default_height=height,
        config=PLOT_CONFIG,
    )
    return div + "\n"


# --- page text ----------------------------------------------------------------------------


def _header(result: BacktestResult, heading: RunHeading) -> str:
    ts = result.curve.ts
    period = "no bars"
    if len(ts):
        period = f"{markup.format_ts(int(ts[0]))} to {markup.format_ts(int(ts[-1]))} UTC"
    run = "" if heading.run_id is None else f"Run {html.escape(heading.run_id)}: "
    notes = "".join(f"<p><strong>{html.escape(note)}</strong></p>\n" for note in heading.notes)
    return (
        f"<h1>{html.escape(heading.title)}: {html.escape(result.strategy)}</h1>\n"
        + notes
        + f"<p>{run}{html.escape(period)}, {len(ts):,} bars of "
        f"{_interval(result.bar_interval_ns)}, quote currency "
        f"{html.escape(result.quote_currency)}, initial cash "
        f"{markup.fmt_money(result.initial_cash)}.</p>\n"
        + (markup.parameters_table(result.parameters) if result.parameters else "")
    )


def _costs(result: BacktestResult, heading: RunHeading) -> list[str]:
    if not heading.exchange_costs:
        return ["<h2>Costs assumed</h2>\n", markup.costs_list(result.costs.describe())]
    return [
        "<h2>Costs</h2>\n",
        '<p class="note">Every fill, its price and its fee are the exchange&#x27;s own, as the '
        "session booked them. The shadow backtest beside the session assumed:</p>\n",
        markup.costs_list(result.costs.describe()),
    ]


def _interval(ns: int) -> str:
    seconds = ns // 1_000_000_000
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _conventions_note(metrics: Metrics) -> str:
    short = ""
    if not metrics.annualised_meaningful:
        short = (
            f"CAGR, Sharpe and Sortino extrapolate to a year: they are left out of a run of "
            f"under {MIN_ANNUALISED_DAYS} days (this one covers {metrics.covered_days:.1f}), "
            "where they would measure noise; the JSON of the figures keeps them. "
        )
    return (
        f'<p class="note">{short}Per-bar simple returns from the opening cash on, risk-free '
        f"rate 0. Sharpe = mean / sample std (ddof 1) &times; "
        f"&radic;{metrics.periods_per_year:,.0f}; "
        "Sortino uses the downside deviation over all bars. A year is 365 days. "
        "Buy and hold splits the cash equally, buys at each instrument's first open with the "
        "fee and never sells, so it has no round trips.</p>\n"
    )


def _write_atomically(target: Path, text: str) -> None:
    """Write `text` beside `target`, then move it into place in one step.

    A failure names `target`, the file the user asked for, never the temporary file.
    """
    try:
        _replace(target, text)
    except OSError as error:
        raise OSError(error.errno, error.strerror, str(target)) from None


def _replace(target: Path, text: str) -> None:
    handle, temp_name = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=".tmp", dir=target.parent
    )
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        # mkstemp creates the file private to its owner; a report is an ordinary document.
        Path(temp_name).chmod(0o644)
        os.replace(temp_name, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            Path(temp_name).unlink()
        raise
