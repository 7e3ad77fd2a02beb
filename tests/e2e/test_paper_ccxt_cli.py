"""`coinswarm paper --exchange local-ccxt` as a user runs it: a real process, ccxt on the wire.

The paper session serves a local Coinbase-compatible exchange on 127.0.0.1 and reaches it only
through ccxt's `coinbase` class; it must trade as the backtest of the same bars does.
"""

from __future__ import annotations

import json
from pathlib import Path

from cli_harness import coinswarm
from coinswarm.data import synthetic_market, write_bars


def test_paper_through_ccxt_prints_the_backtests_figures(tmp_path: Path) -> None:
    data = tmp_path / "SYN_USD-1h.csv.gz"
    write_bars(synthetic_market(instrument="SYN-USD", bars=600, seed=9), data)
    common = [
        *("--data", str(data), "--strategy", "sma-cross", "--param", "fast=5"),
        *("--param", "slow=20", "--fee-bps", "10", "--cash", "100000", "--phase", "1"),
        *("--json", "--quiet"),
    ]
    paper = coinswarm("paper", *common, "--speed", "max", "--exchange", "local-ccxt")
    backtest = coinswarm("backtest", *common)
    assert paper.returncode == 0, paper.stderr
    assert backtest.returncode == 0, backtest.stderr
    paper_summary, backtest_summary = json.loads(paper.stdout), json.loads(backtest.stdout)
    assert paper_summary["trades"] > 0
    for key in ("final_equity", "trades", "orders", "fees_paid", "sharpe", "total_return"):
        assert paper_summary[key] == backtest_summary[key], key
    assert paper_summary["run"] != backtest_summary["run"]  # the exchange is part of the run


def test_an_unknown_exchange_names_the_choices() -> None:
    unknown = coinswarm("paper", "--exchange", "ccxt-nowhere", "--speed", "max", "--quiet")
    assert unknown.returncode == 2
    assert unknown.stderr.startswith("error:")
    assert "ccxt-nowhere" in unknown.stderr
    assert "local-ccxt" in unknown.stderr
