"""The daily P&L report of an account, over a store built with known fills around a midnight.

The store (tests/report_harness.py): 10,000 USDT, 1 BTC bought at 100 (fee 0.1) the day
before D; on D, 0.4 sold at 110 (fee 0.044) and 0.2 bought at 90 (fee 0.018); 0.3 sold the day
after. The figures are worked out by hand below, and also read from ledger snapshots the
"engine" (a live `Ledger` fed the same fills) saved at the day's edges: the report folds the
stored events again, so agreeing with both says it neither lost nor invented anything.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date
from decimal import Decimal

import pytest

from coinswarm.infra import audit
from coinswarm.infra.storage import Store
from coinswarm.reporting.daily import (
    BadDateError,
    account_reports,
    day_bounds,
    parse_day,
)
from coinswarm.reporting.daily_files import (
    TRADE_COLUMNS,
    _amount,
    _money,
    _plain,
    report_html,
    write_report,
)
from report_harness import END, HOUR, RUN, START, Book, D, known_day


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Book]:
    """The store, built once: the tests only read it."""
    found = known_day(f"sqlite:///{tmp_path_factory.mktemp('daily') / 'sandbox.db'}")
    yield found
    found.store.close()


def the_report(book: Book, day: date = D):
    (report,) = account_reports(day, db=book.url)
    return report


def test_the_days_figures_are_the_hand_worked_ones(book):
    report = the_report(book)
    assert report.mode == "sandbox"
    (run,) = report.runs
    figures = run.figures
    assert figures is not None
    assert run.marked == "fill"  # a sandbox session's bars are gone: its own fill prices
    # Start: 10000 - 100 - 0.1 cash and 1 BTC marked at its last fill (100).
    assert figures.equity_start == Decimal("9999.9")
    assert figures.unrealised_start == 0
    # Sold 0.4 bought at 100 for 110: +4 realised; fees 0.044 + 0.018.
    assert figures.realised_pnl == Decimal("4")
    assert figures.fees == {"USDT": Decimal("0.062")}
    # End: 0.8 BTC at an average 97.5, marked at 90.
    assert figures.equity_end == Decimal("9997.838")
    assert figures.unrealised_end == Decimal("-6")
    assert figures.net_pnl == Decimal("-2.062")
    assert figures.net_pnl == (
        figures.realised_pnl - figures.fee_total + figures.unrealised_end - figures.unrealised_start
    )
    (held,) = figures.positions
    assert (held.quantity, held.average_cost, held.mark) == (
        Decimal("0.8"),
        Decimal("97.5"),
        Decimal(90),
    )
    limits = run.limits
    assert limits.phase == 2
    assert limits.daily_loss_limit == Decimal("0.05") * Decimal("9999.9")
    assert limits.worst_loss == Decimal("2.062")
    assert limits.orders == 2


def test_realised_pnl_and_fees_equal_the_ledger_snapshots_at_the_days_edges(book):
    (run,) = the_report(book).runs
    before = book.store.snapshot_at(RUN, START - 1)
    after = book.store.snapshot_at(RUN, END - 1)
    assert before is not None
    assert after is not None

    def realised(state):
        return sum((p.realised_pnl for p in state.positions), Decimal(0))

    assert run.figures is not None
    assert run.figures.realised_pnl == realised(after.state) - realised(before.state)
    fees_before, fees_after = dict(before.state.fees), dict(after.state.fees)
    assert run.figures.fees == {"USDT": fees_after["USDT"] - fees_before["USDT"]}


def test_the_trades_csv_rows_are_the_days_fills(book, tmp_path):
    report = the_report(book)
    written = write_report(report, tmp_path / "reports")
    rows = list(csv.DictReader(io.StringIO(written.trades.read_text(encoding="utf-8"))))
    assert list(rows[0]) == list(TRADE_COLUMNS)
    day_fills = [f for f in book.store.fills(RUN) if START <= f.ts < END]
    assert len(day_fills) == 2
    assert [
        (r["trade_id"], r["side"], Decimal(r["quantity"]), Decimal(r["price"]), Decimal(r["fee"]))
        for r in rows
    ] == [(f.trade_id, f.side.name.lower(), f.quantity, f.price, f.fee) for f in day_fills]
    assert [int(r["ts_ns"]) for r in rows] == [f.ts for f in day_fills]
    summary = list(csv.DictReader(io.StringIO(written.summary.read_text(encoding="utf-8"))))
    assert [r["row"] for r in summary] == ["run", "total"]
    assert Decimal(summary[0]["realised_pnl"]) == Decimal(4)
    assert Decimal(summary[1]["net_pnl"]) == Decimal("-2.062")
    assert written.html.name == "daily-2026-12-06-sandbox.html"


def test_only_the_accounts_alerts_of_the_day_are_listed(book):
    report = the_report(book)
    assert [(a.rule, a.title) for a in report.alerts] == [("exchange_errors", "burst")]


def test_the_html_is_one_self_contained_page(book):
    page = report_html(the_report(book))
    assert page.startswith("<!doctype html>")
    assert "<script" not in page
    assert "src=" not in page
    assert "href=" not in page
    for shown in (RUN, "9,999.90", "9,997.84", "-2.06", "burst", "BTC-USDT"):
        assert shown in page


def test_an_empty_day_gives_an_empty_report(book, tmp_path):
    report = the_report(book, date(2026, 12, 20))
    assert report.empty
    assert report.totals() == []
    written = write_report(report, tmp_path)
    assert written.trades.read_text(encoding="utf-8").splitlines() == [",".join(TRADE_COLUMNS)]
    assert len(written.summary.read_text(encoding="utf-8").splitlines()) == 1
    assert "No run of this account was active on 2026-12-20" in written.html.read_text("utf-8")


def test_the_day_after_holds_the_later_fill_and_starts_where_this_one_ended(book):
    today, tomorrow = the_report(book).runs[0], the_report(book, date(2026, 12, 7)).runs[0]
    assert today.figures is not None
    assert tomorrow.figures is not None
    assert tomorrow.figures.equity_start == today.figures.equity_end
    assert [t.fill.trade_id for t in tomorrow.trades] == ["t4"]


def test_accounts_without_a_database_or_a_run_are_not_reported(tmp_path, monkeypatch):
    monkeypatch.setenv("COINSWARM_HOME", str(tmp_path / "home"))
    assert account_reports(D) == []
    assert not (tmp_path / "home").exists()  # looking created nothing


@pytest.mark.parametrize("text", ["2026-13-01", "yesterday", "", "2026/12/06"])
def test_a_bad_date_is_refused_with_one_line(text):
    with pytest.raises(BadDateError, match=r"^--date: expected a day as YYYY-MM-DD"):
        parse_day(text)


def test_days_are_utc_days():
    assert parse_day(" 2026-12-06 ") == D
    start, end = day_bounds(D)
    assert end - start == 24 * HOUR
    assert start == 1_796_515_200 * 1_000_000_000


def test_alerts_are_read_from_the_alert_engines_database_too(book, tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'alerts.db'}"
    with Store.open(url, upgrade=True) as alerts, alerts.transaction() as session:
        payload = {"rule": "session_down", "severity": "critical", "title": "down"}
        audit.append(
            session, ts=START + HOUR, kind="alert", actor="alerts", payload=payload, run_id=RUN
        )
    monkeypatch.setenv("COINSWARM_ALERT_DB", url)
    fired = [(a.title, a.run_id) for a in the_report(book).alerts]
    assert fired == [("down", RUN), ("burst", None)]


def test_amounts_read_plainly_in_both_files():
    assert _plain(Decimal("0E-16")) == "0"
    assert _plain(Decimal("-2.062")) == "-2.062"
    assert _amount(Decimal("14.99999921797095561120")) == "14.99999922"
    assert _amount(Decimal("0.10000")) == "0.1"
    assert _money(Decimal("1234567.891")) == "1,234,567.89"
    assert _money(Decimal("1e30")) == f"{10**30:,}.00"
