"""`coinswarm replay` as a user runs it: a real process on a journal a paper run wrote."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from cli_harness import coinswarm
from coinswarm.data import synthetic_market, write_bars
from coinswarm.infra.session_journal import GENESIS


def _journal(home: Path, slippage: str = "model") -> Path:
    data = home / "BTC_USDT-1h.csv"
    write_bars(synthetic_market(instrument="BTC-USDT", bars=500, seed=5), data)
    paper = coinswarm(
        "paper", "--data", str(data), "--speed", "max", "--strategy", "sma-cross",
        "--param", "fast=3", "--param", "slow=8", "--slippage-bps", slippage, "--json",
        home=home,
    )  # fmt: skip
    assert paper.returncode == 0, paper.stderr
    (path,) = (home / "sessions").glob("*.jsonl")
    return path


def test_replay_of_a_paper_journal_prints_equal_digests_and_exits_0(tmp_path: Path) -> None:
    path = _journal(tmp_path)
    done = coinswarm("replay", str(path), "--json", "--shadow", home=tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["equal"] is True
    assert report["original_digest"] == report["replay_digest"]
    assert report["orders"] > 0
    assert report["shadow"]["summary"]["orders"] >= report["orders"]
    human = coinswarm("replay", str(path), home=tmp_path)
    assert human.returncode == 0, human.stderr
    assert "SAME" in human.stdout


def test_replay_exits_1_on_a_difference_and_2_on_a_broken_journal(tmp_path: Path) -> None:
    # Without slippage the session's last fill is a sale after which it orders nothing more, so
    # the replay runs to the end and names that line (with orders after the edited fill, it
    # stops instead at the first later record it cannot match).
    path = _journal(tmp_path, slippage="0")
    records = [json.loads(line) for line in path.read_text().splitlines()]
    last = max(i for i, r in enumerate(records) if r["kind"] == "fills" and r["fills"])
    fill = records[last]["fills"][0]
    fill["price"] = str(float(fill["price"]) * 2)
    prev, lines = GENESIS, []
    for record in records:
        record["prev"] = prev
        line = json.dumps(record, sort_keys=True, separators=(",", ":"))
        lines.append(line)
        prev = hashlib.sha256(line.encode()).hexdigest()
    path.write_text("\n".join(lines) + "\n")
    differs = coinswarm("replay", str(path), home=tmp_path)
    assert differs.returncode == 1, differs.stderr
    assert "DIFFERENT" in differs.stdout
    assert f"journal line {last + 1}" in differs.stdout or f":{last + 1}" in differs.stdout
    path.write_text("\n".join(lines[:-1]) + "\n")
    broken = coinswarm("replay", str(path), home=tmp_path)
    assert broken.returncode == 2
    assert broken.stderr.startswith("error: ")
    assert "without an 'end' record" in broken.stderr
