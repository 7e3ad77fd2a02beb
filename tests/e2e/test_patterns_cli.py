"""`coinswarm backtest --strategy committee --patterns FILE`, as a person runs it: the proven
pattern votes and `coinswarm explain` shows its vote with its evidence; the file is pinned, so
an edited one is a new run and the old run will not resume on it; a file that cannot be
traded is one `error:` line, exit 2, and nothing written."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from cli_harness import coinswarm
from coinswarm.backtest.runs import read_explanations
from coinswarm.data import synthetic_market, write_bars
from coinswarm.data.pattern_file import ExportedPattern, write_patterns
from coinswarm.domain.pattern import Condition, Exit, Pattern, Side
from proven_patterns import proven

OVERSOLD = Pattern((Condition("rsi:14", "<", 30),), Side.LONG, Exit(24, take_profit=0.04))
BARS = 2_000


@pytest.fixture(scope="module")
def market(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("market") / "BTC_USDT-1h.csv.gz"
    write_bars(synthetic_market(instrument="BTC-USDT", bars=BARS, seed=3), path)
    return path


def patterns_file(folder: Path, *items: ExportedPattern, source: str = "evo-1") -> Path:
    path = folder / "proven.jsonl"
    write_patterns(path, items, source=source)
    return path


def backtest(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return coinswarm(
        "backtest", "--strategy", "committee", "--json", "--quiet", "--runs-dir",
        str(home / "runs"), *args, home=home,
    )  # fmt: skip


def test_a_proven_pattern_votes_and_explain_shows_it_with_its_evidence(tmp_path, market):
    path = patterns_file(tmp_path, proven(OVERSOLD, mean=0.004, std=0.03))
    ran = backtest(tmp_path, "--patterns", str(path), "--data", str(market))
    assert ran.returncode == 0, ran.stderr
    summary = json.loads(ran.stdout)
    assert summary["parameters"]["agents"] == "trend,mean_reversion,risk,pattern"
    assert summary["parameters"]["patterns"].startswith(f"{path.resolve()}@sha256:")
    stored = read_explanations(tmp_path / "runs", summary["run"])
    voted = [
        cid
        for cid, explanation in stored.items()
        if any(line.startswith("  vote pattern: ") for line in explanation["lines"])
    ]
    assert voted, "no order of the run had a vote of the pattern agent"
    shown = coinswarm("explain", summary["run"], voted[0], "--runs-dir", str(tmp_path / "runs"))
    assert shown.returncode == 0, shown.stderr
    (line,) = [line for line in shown.stdout.splitlines() if line.startswith("  vote pattern: ")]
    assert f"pattern {OVERSOLD.id} ({OVERSOLD.describe()})" in line
    # The evidence is in the trail wherever the pattern enters or holds; an exit names the rule.
    evidence = "out-of-sample Sharpe 1.90 over 80 trades (+0.40% a trade), deflated Sharpe 0.97"
    lines = [line for e in stored.values() for line in e["lines"]]
    assert any(evidence in line and "PBO 0.10" in line for line in lines)


def test_an_edited_patterns_file_is_a_new_run_and_the_old_one_will_not_resume_on_it(
    tmp_path, market
):
    path = patterns_file(tmp_path, proven(OVERSOLD))
    args = ("--patterns", str(path), "--data", str(market), "--end", "2022-02-01")
    first = backtest(tmp_path, *args)
    assert first.returncode == 0, first.stderr
    run = json.loads(first.stdout)["run"]
    patterns_file(tmp_path, proven(OVERSOLD), source="evo-2")  # the same pattern, new bytes
    refused = coinswarm("resume", run, home=tmp_path)
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1
    assert refused.stderr.startswith(f"error: {path.resolve()}: patterns file changed since the")
    assert "its sha256 is now " in refused.stderr
    second = backtest(tmp_path, *args)
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["run"] != run


BAD = {
    "corrupt": lambda folder: corrupt(patterns_file(folder, proven(OVERSOLD))),
    "unknown feature": lambda folder: patterns_file(
        folder, proven(Pattern((Condition("astrology:3", ">", 1),), Side.LONG, Exit(5)))
    ),
    "nothing proven": lambda folder: patterns_file(folder, proven(OVERSOLD, status="rejected")),
}
SAYS = {
    "corrupt": "proven.jsonl: corrupt: its header promises 1 patterns",
    "unknown feature": "proven.jsonl:2: field 'feature': feature 'astrology:3': unknown family",
    "nothing proven": "proven.jsonl: holds no proven pattern to trade (its patterns: 1 rejected)",
}


def corrupt(path: Path) -> Path:
    path.write_text(path.read_text().replace('"threshold":30.0', '"threshold":35.0'))
    return path


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_patterns_file_that_cannot_be_traded_is_one_line_exit_2_and_nothing_written(
    tmp_path, case
):
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir()
    path = BAD[case](work)
    before = set(work.rglob("*"))
    done = coinswarm(
        "backtest", "--strategy", "committee", "--patterns", str(path), "--bars", "300",
        "--report", str(work / "report.html"), "--json", "--quiet", home=home,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(f"error: {path}"), done.stderr
    assert SAYS[case] in done.stderr
    assert done.stdout == ""
    assert not home.exists()
    assert set(work.rglob("*")) == before


def test_patterns_with_another_strategy_are_refused_and_paper_takes_them(tmp_path):
    path = patterns_file(tmp_path, proven(OVERSOLD))
    home = tmp_path / "home"
    done = coinswarm("backtest", "--patterns", str(path), "--bars", "300", "--quiet", home=home)
    assert done.returncode == 2
    assert done.stderr == (
        "error: --patterns: only the committee strategy trades patterns (its pattern agent), "
        "found --strategy sma-cross\n"
    )
    assert not home.exists()
    paper = coinswarm(
        "paper", "--patterns", str(path), "--speed", "max", "--bars", "300", "--json",
        home=home,
    )  # fmt: skip
    assert paper.returncode == 0, paper.stderr
    assert json.loads(paper.stdout)["parameters"]["patterns"].startswith(str(path.resolve()))
