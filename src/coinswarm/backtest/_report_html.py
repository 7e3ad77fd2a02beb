"""HTML pieces of the backtest report: the page shell, number formats and the tables.

Everything here is a pure function of its arguments, so the report is byte-identical for the
same run. Every string that comes from a run (names, identifiers, links) is escaped.
"""

from __future__ import annotations

import html
import json
import math
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Context, Decimal
from typing import TYPE_CHECKING

from coinswarm.domain.money import display_amount

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

    from coinswarm.backtest.metrics import Metrics, MonthlyReturn
    from coinswarm.domain.fill import Fill
    from coinswarm.domain.order import Order
    from coinswarm.domain.position import RoundTrip

__all__ = [
    "costs_list",
    "fills_table",
    "format_ts",
    "metrics_json",
    "metrics_table",
    "monthly_table",
    "orders_table",
    "page",
    "parameters_table",
    "round_trips_table",
]

DASH = "\u2014"
EIGHT_PLACES = Decimal("1e-8")
WIDE = Context(prec=80)  # rounding to 8 places never runs out of digits
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5rem auto; max-width: 1200px;
       color: #222; padding: 0 1rem; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.2rem; margin-top: 2rem; }
table { border-collapse: collapse; margin: 0.5rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.6rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
thead th { background: #f4f4f4; }
.note { color: #666; font-size: 0.85rem; }
.scroll { max-height: 32rem; overflow: auto; }
"""

# Loaded before the bundle, as plotly's own writer does, so plotly.js never looks for MathJax.
PLOTLY_CONFIG_JS = "window.PlotlyConfig = {MathJaxConfig: 'local'};"


def page(title: str, plotly_js: str, body: Iterable[str]) -> str:
    """Return the whole document with plotly.js inlined in the head."""
    return "".join(
        [
            '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n',
            f"<title>{html.escape(title)}</title>\n<style>{CSS}</style>\n",
            f"<script>{PLOTLY_CONFIG_JS}</script>\n<script>{plotly_js}</script>\n",
            "</head>\n<body>\n",
            *body,
            "</body>\n</html>\n",
        ]
    )


# --- formats ------------------------------------------------------------------------------


def _special(value: float | None) -> str:
    if value is None or math.isnan(value):
        return DASH
    return "\u221e" if value > 0 else "-\u221e"


def fmt_pct(value: float | None) -> str:
    """Format a fraction as a percentage with two decimals."""
    if value is None or not math.isfinite(value):
        return _special(value)
    return f"{value * 100:.2f}%"


def fmt_ratio(value: float | None) -> str:
    """Format a ratio with two decimals."""
    if value is None or not math.isfinite(value):
        return _special(value)
    return f"{value:.2f}"


def fmt_money(value: float | Decimal | None) -> str:
    """Format an amount of the quote currency with thousands separators and two decimals."""
    number = None if value is None else float(value)
    if number is None or not math.isfinite(number):
        return _special(number)
    return f"{number:,.2f}"


def fmt_duration(ns: int) -> str:
    """Format nanoseconds as days and hours."""
    hours = ns // (3600 * 1_000_000_000)
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h"


def format_ts(ns: int) -> str:
    """Format UTC nanoseconds as `YYYY-MM-DD HH:MM`."""
    return datetime.fromtimestamp(ns // 1_000_000_000, tz=UTC).strftime("%Y-%m-%d %H:%M")


# --- tables -------------------------------------------------------------------------------

_METRIC_ROWS: tuple[tuple[str, Callable[[Metrics], str]], ...] = (
    ("Final equity", lambda m: fmt_money(m.final_equity)),
    ("Total return", lambda m: fmt_pct(m.total_return)),
    ("CAGR", lambda m: fmt_pct(m.cagr)),
    ("Sharpe (annualised)", lambda m: fmt_ratio(m.sharpe)),
    ("Sortino (annualised)", lambda m: fmt_ratio(m.sortino)),
    ("Max drawdown", lambda m: fmt_pct(m.max_drawdown)),
    ("Longest drawdown", lambda m: fmt_duration(m.max_drawdown_duration_ns)),
    ("Exposure", lambda m: fmt_pct(m.exposure)),
    ("Round trips", lambda m: str(m.trades)),
    ("Win rate", lambda m: fmt_pct(m.win_rate)),
    ("Profit factor", lambda m: fmt_ratio(m.profit_factor)),
    ("Average trade P&L", lambda m: fmt_money(m.average_trade_pnl)),
    ("Average trade return", lambda m: fmt_pct(m.average_trade_return)),
    ("Fees paid", lambda m: fmt_money(m.fees_paid)),
)


def _table(head: Sequence[str], rows: Iterable[Sequence[str]], *, raw: bool = False) -> str:
    """Return a table; cells are escaped unless `raw` says they are already HTML."""
    cell = (lambda text: text) if raw else html.escape
    head_html = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body_html = "".join(
        "<tr>" + "".join(f"<td>{cell(c)}</td>" for c in row) + "</tr>\n" for row in rows
    )
    return f"<table>\n<thead><tr>{head_html}</tr></thead>\n<tbody>\n{body_html}</tbody>\n</table>\n"


_ANNUALISED_ROWS = frozenset({"CAGR", "Sharpe (annualised)", "Sortino (annualised)"})


def metrics_table(strategy: Metrics, benchmark: Metrics, *, annualised: bool = True) -> str:
    """Return the strategy's metrics beside the buy-and-hold benchmark's.

    Without `annualised`, the figures that extrapolate to a year show a dash (too short a run).
    """
    rows = [
        (label, DASH, DASH)
        if not annualised and label in _ANNUALISED_ROWS
        else (label, fmt(strategy), fmt(benchmark))
        for label, fmt in _METRIC_ROWS
    ]
    return _table(("Metric", "Strategy", "Buy & hold"), rows)


def metrics_json(strategy: Metrics, benchmark: Metrics) -> str:
    """Return both metric sets as a JSON script element for machines reading the report."""
    text = json.dumps(
        {"strategy": strategy.to_dict(), "buy_and_hold": benchmark.to_dict()},
        sort_keys=True,
        allow_nan=False,
    )
    # "</" would end the script element early; the escaped form is the same JSON.
    text = text.replace("</", "<\\/")
    return f'<script type="application/json" id="cs-metrics">{text}</script>\n'


def parameters_table(parameters: Mapping[str, str]) -> str:
    """Return the strategy's parameters as a two-column table."""
    return _table(("Parameter", "Value"), sorted(parameters.items()))


def costs_list(lines: Iterable[str]) -> str:
    """Return the run's cost assumptions (fees, slippage, volume cap) as a list."""
    items = "".join(f"<li>{html.escape(line)}</li>" for line in lines)
    return f'<ul class="costs">{items}</ul>\n'


def _month_cell(ret: float | None) -> str:
    if ret is None:
        return "<td></td>"
    # Shade up to full strength at a 10 % month, green for gains and red for losses.
    alpha = min(abs(ret) / 0.10, 1.0) * 0.6
    colour = "0,150,0" if ret >= 0 else "200,0,0"
    return f'<td style="background:rgba({colour},{alpha:.2f})">{fmt_pct(ret)}</td>'


def monthly_table(returns: Sequence[MonthlyReturn]) -> str:
    """Return a year-by-month table of returns, shaded as a heatmap, with each year's total."""
    by_year: dict[int, dict[int, float]] = defaultdict(dict)
    for item in returns:
        by_year[item.year][item.month] = item.ret
    head = "".join(f"<th>{h}</th>" for h in ("Year", *MONTHS, "Year total"))
    rows = []
    for year in sorted(by_year):
        months = by_year[year]
        cells = "".join(_month_cell(months.get(m)) for m in range(1, 13))
        total = math.prod(1.0 + r for r in months.values()) - 1.0
        rows.append(f"<tr><td>{year}</td>{cells}{_month_cell(total)}</tr>\n")
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{''.join(rows)}</tbody>\n</table>\n"


def _links(ids: Iterable[str], explain_links: Mapping[str, str]) -> str:
    anchors = [
        f'<a href="{html.escape(explain_links[i], quote=True)}">{html.escape(i)}</a>'
        for i in sorted(set(ids))
        if i in explain_links
    ]
    return " ".join(anchors)


def round_trips_table(
    trades: Sequence[RoundTrip],
    fills: Sequence[Fill],
    explain_links: Mapping[str, str] | None,
    max_rows: int,
) -> str:
    """Return the closed round trips, linking their entry and exit fills when links are given."""
    by_time: dict[tuple[str, int], list[str]] = defaultdict(list)
    for fill in fills:
        by_time[(fill.instrument, fill.ts)].append(fill.client_order_id)
    head = [
        "#",
        "Instrument",
        "Entry",
        "Exit",
        "Quantity",
        "Entry price",
        "Exit price",
        "P&L",
        "Return",
        "Fees",
    ]
    if explain_links is not None:
        head += ["Entry order", "Exit order"]
    rows = []
    for number, trip in enumerate(trades[:max_rows], start=1):
        row = [
            str(number),
            html.escape(trip.instrument),
            format_ts(trip.entry_ts),
            format_ts(trip.exit_ts),
            str(trip.quantity),
            str(trip.entry_price),
            str(trip.exit_price),
            fmt_money(trip.pnl),
            fmt_pct(trip.return_fraction),
            fmt_money(trip.fees),
        ]
        if explain_links is not None:
            row.append(_links(by_time[(trip.instrument, trip.entry_ts)], explain_links))
            row.append(_links(by_time[(trip.instrument, trip.exit_ts)], explain_links))
        rows.append(row)
    return _truncation_note(len(trades), max_rows) + _table(head, rows, raw=True)


def fills_table(
    fills: Sequence[Fill], explain_links: Mapping[str, str] | None, max_rows: int
) -> str:
    """Return every fill, with a link to its explanation when links are given."""
    head = ["Time", "Instrument", "Side", "Quantity", "Price", "Fee", "Order"]
    if explain_links is not None:
        head.append("Explain")
    rows = []
    for fill in fills[:max_rows]:
        row = [
            format_ts(fill.ts),
            fill.instrument,
            str(fill.side),
            str(fill.quantity),
            str(fill.price),
            f"{display_amount(fill.fee)} {fill.fee_currency}",
            fill.client_order_id,
        ]
        row = [html.escape(c) for c in row]
        if explain_links is not None:
            row.append(_links([fill.client_order_id], explain_links))
        rows.append(row)
    return _truncation_note(len(fills), max_rows) + _table(head, rows, raw=True)


def _order_size(order: Order, quote: str) -> str:
    request = order.request
    if request.quantity is not None:
        return str(request.quantity)
    return f"{request.quote_quantity} {quote}"


def _optional(value: Decimal | None) -> str:
    return "" if value is None else str(value)


def _eight(value: Decimal) -> str:
    # A fee worked out from a rate runs to 20 digits; 8 decimals are a satoshi.
    return format(value.quantize(EIGHT_PLACES, context=WIDE), "f")


def orders_table(
    orders: Sequence[Order],
    quote: str,
    explain_links: Mapping[str, str] | None,
    max_rows: int,
) -> str:
    """Return every order asked for (refused ones too): what it asked, what became of it."""
    head = ["Time", "Instrument", "Side", "Type", "Size", "Limit", "Stop", "Status", "Filled"]
    head += ["Average price", "Fees", "Order", "Why refused"]
    rows = []
    for order in orders[:max_rows]:
        request = order.request
        row = [
            format_ts(order.created_ts),
            order.instrument,
            str(order.side),
            str(request.type),
            _order_size(order, quote),
            _optional(request.limit_price),
            _optional(request.stop_price),
            str(order.status),
            str(order.filled_quantity),
            _eight(order.average_fill_price) if order.filled_quantity else "",
            _eight(order.fees) if order.filled_quantity else "",
        ]
        row = [html.escape(c) for c in row]
        cid = order.client_order_id
        links = explain_links or {}
        row.append(_links([cid], links) if cid in links else html.escape(cid))
        row.append(html.escape(order.reject_reason or ""))
        rows.append(row)
    return _truncation_note(len(orders), max_rows) + _table(head, rows, raw=True)


def risk_events_table(rows: Sequence[Sequence[str]], max_rows: int) -> str:
    """Return the risk events, one row each, beside the drawdown since the first peak."""
    head = ["time", "event", "by", "equity", "drawdown since first peak", "why"]
    return _table(head, rows[:max_rows]) + _truncation_note(len(rows), max_rows)


def _truncation_note(total: int, max_rows: int) -> str:
    if total <= max_rows:
        return ""
    return f'<p class="note">Showing the first {max_rows:,} of {total:,} rows.</p>\n'


def explanation_id(client_order_id: str) -> str:
    """Return the HTML id of an order's explanation block."""
    return "explain-" + "".join(c if c.isalnum() or c in "-_" else "_" for c in client_order_id)


def explanations_section(explanations: Mapping[str, Sequence[str]], max_rows: int) -> str:
    """Return one preformatted block per order, each the target of the trade tables' links."""
    blocks = [
        f'<pre id="{explanation_id(cid)}">{html.escape(chr(10).join(lines))}</pre>\n'
        for cid, lines in list(explanations.items())[:max_rows]
    ]
    return "".join(blocks) + _truncation_note(len(explanations), max_rows)
