"""`coinswarm explain RUN ORDER` on an sma-cross order, as a person runs it."""

from __future__ import annotations

import json
import re

from cli_harness import coinswarm
from coinswarm.backtest.runs import read_explanations
from coinswarm.data import synthetic_market, write_bars


def test_explain_shows_the_cross_and_a_fee_a_person_can_read(tmp_path):
    data = tmp_path / "BTC_USDT-1h.csv.gz"
    write_bars(synthetic_market(instrument="BTC-USDT", bars=24 * 15, seed=4), data)
    runs = tmp_path / "runs"
    ran = coinswarm(
        "backtest", "--data", str(data), "--param", "fast=3", "--param", "slow=8",
        "--json", "--quiet", "--runs-dir", str(runs), home=tmp_path / "home",
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    run = json.loads(ran.stdout)["run"]
    stored = read_explanations(runs, run)
    first = next(iter(stored))
    done = coinswarm("explain", run, first, "--runs-dir", str(runs))
    assert done.returncode == 0, done.stderr
    assert "no rationale" not in done.stdout
    assert re.search(
        r"^why: fast SMA\(3\) [\d.]+ crossed above slow SMA\(8\) [\d.]+ at the close [\d.]+$",
        done.stdout,
        re.MULTILINE,
    ), done.stdout
    fee = re.search(r"fee (\S+) USDT \(taker\)", done.stdout)
    assert fee is not None, done.stdout
    assert len(fee.group(1).partition(".")[2]) <= 6, fee.group(1)
