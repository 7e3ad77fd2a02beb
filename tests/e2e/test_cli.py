"""The command line as a user runs it: a real process, real files, exit codes and output."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest

from cli_harness import coinswarm
from coinswarm.backtest.runs import read_explanations
from coinswarm.data import synthetic_market, write_bars

HEADER = "timestamp,open,high,low,close,volume\n"
GOOD_ROWS = [
    "2024-01-01T00:00:00Z,100.0,101.0,99.0,100.5,10.0\n",
    "2024-01-01T01:00:00Z,100.5,102.0,100.0,101.5,12.0\n",
    "2024-01-01T02:00:00Z,101.5,103.0,101.0,102.5,11.0\n",
]


def test_backtest_json_is_byte_identical_across_runs(tmp_path):
    args = ("backtest", "--json", "--fee-bps", "10", "--param", "fast=10", "--param", "slow=30")
    first, second = coinswarm(*args), coinswarm(*args)
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    payload = json.loads(first.stdout)
    for key in ("final_equity", "total_return", "sharpe", "max_drawdown", "win_rate", "trades"):
        assert key in payload
    assert payload["parameters"] == {"fast": "10", "slow": "30"}
    assert payload["trades"] > 0


def test_backtest_defaults_to_the_slippage_model_and_states_its_costs(tmp_path):
    common = ("backtest", "--quiet", "--bars", "3000", "--param", "fast=10", "--param", "slow=30")
    modelled = coinswarm(*common, "--json")
    frictionless = coinswarm(*common, "--json", "--slippage-bps", "0")
    table = coinswarm(*common)
    for done in (modelled, frictionless, table):
        assert done.returncode == 0, done.stderr
    assumed, none = json.loads(modelled.stdout), json.loads(frictionless.stdout)
    assert assumed["costs"]["slippage"] == {
        "kind": "model",
        "floor_bps": "10",
        "range_share": "0.1",
        "impact_bps": "100",
        "ceiling_bps": "1000",
    }
    assert none["costs"]["slippage"] == {"kind": "fixed", "bps": "0"}
    assert assumed["final_equity"] < none["final_equity"]
    assert assumed["run"] != none["run"]
    for line in (
        "costs: fees: maker 60 bps, taker 60 bps",
        "costs: slippage (taker fills, always adverse): model: 10 bps + 0.1 x the bar's range",
        "costs: volume cap: none",
    ):
        assert line in table.stdout


def test_backtest_on_a_file_writes_the_report(tmp_path):
    data = tmp_path / "ETH_USDT-1h.csv.gz"
    write_bars(synthetic_market(instrument="ETH-USDT", bars=2000, seed=3), data)
    report = tmp_path / "out" / "report.html"
    report.parent.mkdir()
    done = coinswarm("backtest", "--data", str(data), "--report", str(report), "--quiet")
    assert done.returncode == 0, done.stderr
    assert "sharpe" in done.stdout
    assert report.stat().st_size > 100_000
    assert "ETH-USDT" in report.read_text()


def test_demo_runs_with_no_arguments(tmp_path):
    done = coinswarm("demo", "--quiet", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "coinswarm-report.html").is_file()
    assert "buy-and-hold" in done.stdout
    assert "costs: slippage (taker fills, always adverse): model: 10 bps" in done.stdout


def test_data_inspect_prints_coverage_and_gaps(tmp_path):
    path = tmp_path / "BTC_USDT-1h.csv"
    rows = [GOOD_ROWS[0], GOOD_ROWS[1], GOOD_ROWS[2].replace("T02", "T05")]
    path.write_text(HEADER + "".join(rows))
    done = coinswarm("data", "inspect", str(path))
    assert done.returncode == 0, done.stderr
    assert "BTC-USDT" in done.stdout
    assert "gap" in done.stdout.lower()


def truncated_gzip(path: Path) -> None:
    body = gzip.compress((HEADER + "".join(GOOD_ROWS) * 1).encode())
    path.write_bytes(body[: len(body) // 2])


BAD_FILES = {
    "truncated.csv.gz": (truncated_gzip, None),
    "missing_column.csv": (
        HEADER.replace(",volume", "") + "2024-01-01T00:00:00Z,1,2,0.5,1\n",
        "volume",
    ),
    "nan_row.csv": (HEADER + GOOD_ROWS[0] + GOOD_ROWS[1].replace("102.0", "nan"), "high"),
    "high_below_low.csv": (
        HEADER + GOOD_ROWS[0] + "2024-01-01T01:00:00Z,100,99,101,100,1\n",
        "high",
    ),
    "duplicate.csv": (HEADER + GOOD_ROWS[0] + GOOD_ROWS[0], "timestamp"),
    "empty.csv": ("", None),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_input_is_one_clear_line_exit_2_and_nothing_written(tmp_path, name):
    content, field = BAD_FILES[name]
    path = tmp_path / name
    if callable(content):
        content(path)
    else:
        path.write_text(content)
    report = tmp_path / "report.html"
    done = coinswarm(
        "backtest", "--data", str(path), "--pair", "BTC-USDT", "--report", str(report), "--json"
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ")
    assert str(path) in lines[0]
    if field is not None:
        assert f"'{field}'" in lines[0]
    if name != "empty.csv" and name != "missing_column.csv" and name != "truncated.csv.gz":
        assert f"{path}:3" in lines[0] or f"{path}:2" in lines[0]
    assert done.stdout == ""
    assert not report.exists()
    assert list(tmp_path.iterdir()) == [path]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--strategy", "nope"), "unknown strategy 'nope'"),
        (("--param", "fast=60"), "expected fast < slow"),
        (("--param", "speed=3"), "speed"),
        (("--fee-bps", "abc"), "--fee-bps: expected a number"),
        (("--slippage-bps", "lots"), "--slippage-bps: expected a number"),
        (("--slippage-bps", "-1"), "--slippage-bps: expected a finite number of 0 or more"),
        (("--start", "yesterday"), "--start: expected a UTC date"),
    ],
)
def test_bad_options_are_one_clear_line(args, message):
    done = coinswarm("backtest", "--quiet", *args)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert message in done.stderr


def test_explain_says_why_the_committee_traded(tmp_path):
    runs = tmp_path / "runs"
    report = tmp_path / "report.html"
    done = coinswarm(
        "backtest",
        "--strategy",
        "committee",
        "--json",
        "--runs-dir",
        str(runs),
        "--report",
        str(report),
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["risk_phase"] == 0
    stored = read_explanations(runs, summary["run"])
    filled = next(oid for oid, e in stored.items() if e["status"] == "FILLED")
    explained = coinswarm("explain", summary["run"], filled, "--runs-dir", str(runs))
    assert explained.returncode == 0, explained.stderr
    text = explained.stdout
    for expected in (
        "decided at the close of the bar",
        "why: committee verdict",
        "vote trend",
        "weight",
        "risk: ",
        "fill ",
    ):
        assert expected in text, text
    html = report.read_text()
    assert "Why did it trade?" in html
    assert 'href="#explain-' in html
    missing = coinswarm("explain", summary["run"], "NOPE", "--runs-dir", str(runs))
    assert missing.returncode == 2
    assert "has no order 'NOPE'" in missing.stderr


def test_a_manual_stop_holds_until_a_person_resets_it(tmp_path):
    state = str(tmp_path / "risk-state.json")
    assert (
        coinswarm(
            "risk", "stop", "--by", "alice", "--reason", "maintenance", "--state", state
        ).returncode
        == 0
    )
    status = coinswarm("risk", "status", "--state", state)
    assert "stop MANUAL: maintenance" in status.stdout
    assert "latched until reset" in status.stdout
    nobody = coinswarm("risk", "reset", "--by", "", "--reason", "x", "--state", state)
    assert nobody.returncode == 2
    assert "must name the person" in nobody.stderr
    assert (
        coinswarm("risk", "reset", "--by", "bob", "--reason", "done", "--state", state).returncode
        == 0
    )
    after = coinswarm("risk", "status", "--state", state)
    assert "no stops: trading allowed" in after.stdout
    assert "(by bob)" in after.stdout


def test_paper_on_replayed_bars_trades_like_the_backtest_of_the_same_bars(tmp_path):
    """One engine: a paper session at full speed makes the backtest's orders and fills."""
    common = ["--strategy", "committee", "--json", "--cash", "100000", "--phase", "1"]
    paper = coinswarm("paper", *common, "--speed", "max", "--quiet")
    backtest = coinswarm("backtest", *common, "--quiet")
    assert paper.returncode == 0, paper.stderr
    assert backtest.returncode == 0, backtest.stderr
    paper_summary, backtest_summary = json.loads(paper.stdout), json.loads(backtest.stdout)
    for key in ("final_equity", "trades", "orders", "fees_paid", "sharpe"):
        assert paper_summary[key] == backtest_summary[key], key
    # The default paper journal, over the exchange, replays byte for byte (it once diverged
    # where the backtest's simulated operator reset a stop that the replay never reset).
    journal = Path(os.environ["COINSWARM_HOME"]) / "sessions" / f"{paper_summary['run']}.jsonl"
    replayed = coinswarm("replay", str(journal), "--json")
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert json.loads(replayed.stdout)["equal"] is True
    assert paper_summary["risk_phase"] == 1


def test_paper_through_the_local_exchange_trades_like_the_backtest(tmp_path):
    """`--exchange local`: every order over HTTPS to a local Coinbase-compatible exchange."""
    common = ["--strategy", "committee", "--json", "--cash", "100000", "--phase", "1"]
    paper = coinswarm("paper", *common, "--speed", "max", "--exchange", "local", "--quiet")
    backtest = coinswarm("backtest", *common, "--quiet")
    assert paper.returncode == 0, paper.stderr
    paper_summary, backtest_summary = json.loads(paper.stdout), json.loads(backtest.stdout)
    for key in ("final_equity", "trades", "orders", "fees_paid", "sharpe"):
        assert paper_summary[key] == backtest_summary[key], key
    # The default paper journal, over the exchange, replays byte for byte (it once diverged
    # where the backtest's simulated operator reset a stop that the replay never reset).
    journal = Path(os.environ["COINSWARM_HOME"]) / "sessions" / f"{paper_summary['run']}.jsonl"
    replayed = coinswarm("replay", str(journal), "--json")
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert json.loads(replayed.stdout)["equal"] is True
    unknown = coinswarm("paper", "--exchange", "nowhere", "--speed", "max", "--quiet")
    assert unknown.returncode == 2
    assert unknown.stderr.startswith("error:")
    assert "nowhere" in unknown.stderr


def test_a_paced_paper_session_writes_each_bar_as_it_passes(tmp_path):
    """What a paced session has done is in the database at once (the API reads it there); a
    session at full speed checkpoints like a backtest."""
    from coinswarm.bootstrap import open_store  # noqa: PLC0415 - loads the engine

    common = ["--strategy", "sma-cross", "--bars", "48", "--json", "--quiet"]
    paced = coinswarm("paper", *common, "--speed", "3600000", "--cash", "50000")
    fast = coinswarm("paper", *common, "--speed", "max", "--cash", "60000")
    assert paced.returncode == 0, paced.stderr
    assert fast.returncode == 0, fast.stderr
    store = open_store(None, mode="paper")
    try:
        paced_rows = store.row_counts(json.loads(paced.stdout)["run"])
        fast_rows = store.row_counts(json.loads(fast.stdout)["run"])
    finally:
        store.close()
    assert paced_rows["ledger_snapshots"] >= 46
    assert fast_rows["ledger_snapshots"] <= 2
