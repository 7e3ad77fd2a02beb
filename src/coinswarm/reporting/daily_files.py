"""Write a daily report: a self-contained HTML page and two CSV files, each atomically.

`daily-D-mode.html` is for a person (no script, no link out: it opens from an email), the
`-trades.csv` has one row per fill of the day and the `-summary.csv` one row per run and one
total per currency, money at full precision, for a spreadsheet. Each file is written beside
itself and renamed into place, so a reader (or the mailer) never sees half of one.
"""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Context, Decimal
from pathlib import Path

from coinswarm.data._atomic import atomic_writer
from coinswarm.reporting.daily import AccountReport, RunDay, Totals, TradeRow

__all__ = [
    "SUMMARY_COLUMNS",
    "TRADE_COLUMNS",
    "WrittenReport",
    "report_html",
    "report_text",
    "summary_csv",
    "trades_csv",
    "write_report",
]

DASH = "\u2014"
CENT = Decimal("0.01")
EIGHT_PLACES = Decimal("1e-8")
WIDE = Context(prec=80)  # rounding to places never runs out of digits
TRADE_COLUMNS = (
    "time_utc",
    "ts_ns",
    "run_id",
    "trade_id",
    "order_id",
    "instrument",
    "side",
    "quantity",
    "price",
    "notional",
    "fee",
    "fee_currency",
)
SUMMARY_COLUMNS = (
    "row",
    "run_id",
    "strategy",
    "currency",
    "equity_start",
    "equity_end",
    "realised_pnl",
    "fees",
    "unrealised_start",
    "unrealised_end",
    "deposits",
    "net_pnl",
    "trades",
    "orders",
    "max_trades",
    "worst_loss",
    "daily_loss_limit",
    "loss_used",
    "marked",
)


@dataclass(frozen=True, slots=True)
class WrittenReport:
    """A report and the files it was written to."""

    report: AccountReport
    html: Path
    trades: Path
    summary: Path

    @property
    def paths(self) -> tuple[Path, Path, Path]:
        return (self.html, self.trades, self.summary)


# -- formats ----------------------------------------------------------------------------------


def _time(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def _money(value: Decimal | None) -> str:
    return DASH if value is None else f"{value.quantize(CENT, context=WIDE):,}"


def _pct(value: Decimal | None) -> str:
    return DASH if value is None else f"{(value * 100).quantize(CENT)}%"


def _plain(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal) and not value:
        return "0"  # a zero the arithmetic left as 0E-16 reads as 0 in a spreadsheet too
    return str(value)


def _amount(value: Decimal) -> str:
    """Return an amount at most 8 places long, without trailing zeros (a fee, a quantity)."""
    rounded = value.quantize(EIGHT_PLACES, context=WIDE).normalize(WIDE)
    return f"{rounded:f}"


# -- CSV --------------------------------------------------------------------------------------


def _csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([_plain(cell) for cell in row] for row in rows)
    return text.getvalue().encode("utf-8")


def _trade_row(trade: TradeRow) -> tuple[object, ...]:
    fill = trade.fill
    return (
        _time(fill.ts),
        fill.ts,
        trade.run_id,
        fill.trade_id,
        fill.order_id,
        fill.instrument,
        fill.side.name.lower(),
        fill.quantity,
        fill.price,
        trade.notional,
        fill.fee,
        fill.fee_currency,
    )


def trades_csv(report: AccountReport) -> bytes:
    """Return the day's fills, one row each, in time order."""
    return _csv(TRADE_COLUMNS, (_trade_row(trade) for trade in report.trades))


def _run_row(run: RunDay) -> tuple[object, ...]:
    figures, limits = run.figures, run.limits
    money: tuple[object, ...] = (None,) * 8
    if figures is not None:
        money = (
            figures.equity_start,
            figures.equity_end,
            figures.realised_pnl,
            figures.fee_total,
            figures.unrealised_start,
            figures.unrealised_end,
            figures.deposits,
            figures.net_pnl,
        )
    return (
        "run",
        run.run_id,
        run.strategy,
        run.currency,
        *money,
        len(run.trades),
        limits.orders,
        limits.max_trades,
        limits.worst_loss,
        limits.daily_loss_limit,
        limits.loss_used,
        run.marked,
    )


def _total_row(totals: Totals) -> tuple[object, ...]:
    return (
        "total",
        None,
        None,
        totals.currency,
        totals.equity_start,
        totals.equity_end,
        totals.realised_pnl,
        totals.fees,
        totals.unrealised_start,
        totals.unrealised_end,
        totals.deposits,
        totals.net_pnl,
        totals.trades,
        *(None,) * 6,
    )


def summary_csv(report: AccountReport) -> bytes:
    """Return one row per run and one total per currency."""
    rows = [*(_run_row(run) for run in report.runs), *(_total_row(t) for t in report.totals())]
    return _csv(SUMMARY_COLUMNS, rows)


# -- HTML -------------------------------------------------------------------------------------

CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5rem auto; max-width: 1100px;
       color: #222; padding: 0 1rem; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.1rem; margin-top: 1.8rem; }
table { border-collapse: collapse; margin: 0.5rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.6rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
thead th { background: #f4f4f4; }
.note { color: #666; font-size: 0.85rem; }
"""


def _table(head: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    head_html = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>\n"
        for row in rows
    )
    return f"<table>\n<thead><tr>{head_html}</tr></thead>\n<tbody>\n{body}</tbody>\n</table>\n"


def _totals_html(totals: Sequence[Totals]) -> str:
    if not totals:
        return ""
    rows = [
        ("Equity at the day's start", *(_money(t.equity_start) for t in totals)),
        ("Equity at the day's end", *(_money(t.equity_end) for t in totals)),
        ("Realised P&L (before fees)", *(_money(t.realised_pnl) for t in totals)),
        ("Fees", *(_money(t.fees) for t in totals)),
        ("Unrealised P&L at the end", *(_money(t.unrealised_end) for t in totals)),
        ("Change in unrealised P&L", *(_money(t.unrealised_change) for t in totals)),
        ("Deposits and withdrawals", *(_money(t.deposits) for t in totals)),
        ("Net P&L", *(_money(t.net_pnl) for t in totals)),
        ("Trades (fills)", *(str(t.trades) for t in totals)),
    ]
    return _table(("", *(t.currency for t in totals)), rows)


def _limit_cells(run: RunDay) -> tuple[str, str]:
    limits = run.limits
    if limits.daily_loss_limit is None:
        loss = f"{_money(limits.worst_loss)} (no daily limit)"
    else:
        loss = (
            f"{_money(limits.worst_loss)} of {_money(limits.daily_loss_limit)}"
            f" ({_pct(limits.loss_used)})"
        )
    trades = str(limits.orders) + ("" if limits.max_trades is None else f" of {limits.max_trades}")
    return loss, trades


def _runs_html(runs: Sequence[RunDay]) -> str:
    rows = []
    for run in runs:
        figures = run.figures
        loss, trades = _limit_cells(run)
        rows.append(
            (
                run.run_id,
                run.strategy,
                run.status,
                "" if run.limits.phase is None else str(run.limits.phase),
                str(len(run.trades)),
                _money(None if figures is None else figures.realised_pnl),
                _money(None if figures is None else figures.fee_total),
                _money(None if figures is None else figures.net_pnl),
                _money(None if figures is None else figures.equity_end),
                loss,
                trades,
                {"close": "bar closes", "fill": "last fills"}.get(run.marked, run.marked),
            )
        )
    head = (
        "Run",
        "Strategy",
        "Status",
        "Phase",
        "Trades",
        "Realised",
        "Fees",
        "Net P&L",
        "Equity at end",
        "Daily loss used",
        "Orders (of max a day)",
        "Valued at",
    )
    return _table(head, rows)


def _positions_html(runs: Sequence[RunDay]) -> str:
    rows = [
        (
            run.run_id,
            held.instrument,
            str(held.quantity),
            _money(held.average_cost),
            _money(held.mark),
            _money(held.unrealised_pnl),
        )
        for run in runs
        if run.figures is not None
        for held in run.figures.positions
    ]
    if not rows:
        return '<p class="note">No position open at the end of the day.</p>\n'
    return _table(("Run", "Instrument", "Quantity", "Average cost", "Mark", "Unrealised"), rows)


def _trades_html(trades: Sequence[TradeRow]) -> str:
    if not trades:
        return '<p class="note">No trade this day.</p>\n'
    rows = [
        (
            _time(t.fill.ts),
            t.run_id,
            t.fill.instrument,
            t.fill.side.name.lower(),
            str(t.fill.quantity),
            str(t.fill.price),
            _money(t.notional),
            f"{_amount(t.fill.fee)} {t.fill.fee_currency}",
        )
        for t in trades
    ]
    head = ("Time (UTC)", "Run", "Instrument", "Side", "Quantity", "Price", "Notional", "Fee")
    return _table(head, rows)


def _alerts_html(report: AccountReport) -> str:
    if not report.alerts:
        return '<p class="note">No alert fired this day.</p>\n'
    rows = [(_time(a.ts), a.severity, a.rule, a.title, a.run_id or "") for a in report.alerts]
    return _table(("Time (UTC)", "Severity", "Rule", "Alert", "Run"), rows)


def _title(report: AccountReport) -> str:
    return f"Daily P&L \u2014 {report.mode} \u2014 {report.day.isoformat()} (UTC)"


def report_html(report: AccountReport) -> str:
    """Return the report as one self-contained HTML page."""
    title = _title(report)
    notes = [note for run in report.runs for note in (f"{run.run_id}: {n}" for n in run.notes)]
    made = f", made {_time(report.made_ns)} UTC" if report.made_ns else ""
    parts = [
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n',
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n',
        f"<title>{html.escape(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n",
        f"<h1>{html.escape(title)}</h1>\n",
        f'<p class="note">Account: {html.escape(report.mode)} in '
        f"{html.escape(report.where)}{html.escape(made)}. Times by each run's clock "
        "(market time for a paper replay).</p>\n",
    ]
    if report.empty:
        parts.append(
            f"<p>No run of this account was active on {report.day.isoformat()}: "
            "no trade, no P&amp;L.</p>\n"
        )
    else:
        parts += [
            "<h2>Account</h2>\n",
            _totals_html(report.totals()),
            "<h2>Runs and limits</h2>\n",
            _runs_html(report.runs),
            "<h2>Positions at the end of the day</h2>\n",
            _positions_html(report.runs),
            "<h2>Trades</h2>\n",
            _trades_html(report.trades),
        ]
    parts += ["<h2>Alerts fired</h2>\n", _alerts_html(report)]
    if notes:
        items = "".join(f"<li>{html.escape(note)}</li>" for note in notes)
        parts.append(f'<h2>Notes</h2>\n<ul class="note">{items}</ul>\n')
    parts.append("</body>\n</html>\n")
    return "".join(parts)


def report_text(report: AccountReport) -> str:
    """Return the report's gist in plain text (the message the alert channels carry)."""
    lines = [_title(report)]
    if report.empty:
        lines.append("No run of this account was active that day.")
    lines.extend(
        f"{totals.currency}: net P&L {_money(totals.net_pnl)}, realised "
        f"{_money(totals.realised_pnl)}, fees {_money(totals.fees)}, unrealised at the end "
        f"{_money(totals.unrealised_end)}; equity {_money(totals.equity_start)} -> "
        f"{_money(totals.equity_end)}; {totals.trades} trades"
        for totals in report.totals()
    )
    for run in report.runs:
        loss, trades = _limit_cells(run)
        lines.append(f"{run.run_id}: daily loss used {loss}; orders {trades}")
    lines.append(f"{len(report.alerts)} alerts fired.")
    return "\n".join(lines)


# -- writing ----------------------------------------------------------------------------------


def _write(path: Path, data: bytes) -> Path:
    with atomic_writer(path) as stream:
        stream.write(data)
    return path


def write_report(report: AccountReport, folder: Path) -> WrittenReport:
    """Write the report's HTML and CSV files into `folder` (made if missing)."""
    base = folder / report.name
    return WrittenReport(
        report=report,
        html=_write(base.with_name(f"{report.name}.html"), report_html(report).encode("utf-8")),
        trades=_write(base.with_name(f"{report.name}-trades.csv"), trades_csv(report)),
        summary=_write(base.with_name(f"{report.name}-summary.csv"), summary_csv(report)),
    )
