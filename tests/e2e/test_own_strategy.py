"""A user's own strategy, as a person makes and runs it: `coinswarm new-strategy`, its test,
`backtest --strategy file.py:Class`, paper, resume and replay; and what the fence refuses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from cli_harness import coinswarm
from coinswarm.data import synthetic_market, write_bars


def _new(folder: Path, name: str = "breakout") -> Path:
    made = coinswarm("new-strategy", name, "--dir", str(folder), home=folder)
    assert made.returncode == 0, made.stderr
    return folder / f"{name}.py"


def test_new_strategy_writes_a_template_and_its_test_and_says_how_to_run_it(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "mine"
    made = coinswarm("new-strategy", "my_breakout", "--dir", str(folder), home=tmp_path)
    assert made.returncode == 0, made.stderr
    strategy, test = folder / "my_breakout.py", folder / "test_my_breakout.py"
    assert "class MyBreakout:" in strategy.read_text()
    assert "decided on that bar (t) and fills at the next bar's open (t+1)" in strategy.read_text()
    assert "MyBreakout" in test.read_text()
    assert f"coinswarm backtest --strategy {strategy}:MyBreakout" in made.stdout
    assert f"python -m pytest {test}" in made.stdout


def test_new_strategy_refuses_to_overwrite_or_a_bad_name_and_writes_nothing(
    tmp_path: Path,
) -> None:
    path = _new(tmp_path)
    path.write_text("# mine now\n")
    again = coinswarm("new-strategy", "breakout", "--dir", str(tmp_path), home=tmp_path)
    assert again.returncode == 2
    assert again.stderr.startswith("error: new-strategy:")
    assert "already exist" in again.stderr
    assert path.read_text() == "# mine now\n"
    bad = coinswarm("new-strategy", "my-breakout", "--dir", str(tmp_path / "b"), home=tmp_path)
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1
    assert bad.stderr.startswith("error: new-strategy: expected a lowercase name")
    assert not (tmp_path / "b").exists()


def test_the_template_test_passes(tmp_path: Path) -> None:
    _new(tmp_path)
    env = {**os.environ, "COINSWARM_HOME": str(tmp_path / "home")}
    ran = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_breakout.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        env=env,
        timeout=300,
    )
    assert ran.returncode == 0, ran.stdout[-3000:]
    assert "3 passed" in ran.stdout
    assert not (tmp_path / "home").exists()  # the test writes nothing


def test_a_template_strategy_backtests_and_a_new_file_is_a_new_run(tmp_path: Path) -> None:
    path = _new(tmp_path)
    spec = f"{path}:Breakout"
    args = ("backtest", "--strategy", spec, "--bars", "3000", "--json")
    first = coinswarm(*args, home=tmp_path)
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    assert summary["strategy"] == "breakout"
    assert summary["orders"] > 5
    assert summary["risk_phase"] == 0
    assert summary["parameters"] == {"lookback": "24", "exit_average": "24", "fraction": "0.2"}
    # The same file is the same run; `resume` re-checks it.
    resumed = coinswarm("resume", summary["run"], "--json", home=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["final_equity"] == summary["final_equity"]
    # An edited file is a new run, and the old run cannot be resumed on it.
    path.write_text(path.read_text() + "\n# tuned\n")
    second = coinswarm(*args, home=tmp_path)
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["run"] != summary["run"]
    refused = coinswarm("resume", summary["run"], home=tmp_path)
    assert refused.returncode == 2
    assert refused.stderr.startswith("error: strategy file ")
    assert "changed since the run: its sha256 is now" in refused.stderr
    assert refused.stderr.count("\n") == 1


def test_a_template_strategy_paper_trades_and_its_journal_replays(tmp_path: Path) -> None:
    path = _new(tmp_path)
    paper = coinswarm(
        "paper", "--strategy", f"{path}:Breakout", "--speed", "max", "--bars", "200",
        "--param", "lookback=12", "--json", home=tmp_path,
    )  # fmt: skip
    assert paper.returncode == 0, paper.stderr
    summary = json.loads(paper.stdout)
    assert summary["orders"] > 0
    assert summary["risk_phase"] == 1
    (journal,) = (tmp_path / "sessions").glob("*.jsonl")
    same = coinswarm("replay", str(journal), "--json", home=tmp_path)
    assert same.returncode == 0, same.stderr
    assert json.loads(same.stdout)["equal"] is True
    path.write_text(path.read_text() + "\n# tuned\n")
    refused = coinswarm("replay", str(journal), home=tmp_path)
    assert refused.returncode == 2
    assert "changed since the run" in refused.stderr


PEEKER = '''
from coinswarm.domain.order import OrderRequest, OrderSide
from pydantic import BaseModel


class PeekerParameters(BaseModel):
    look_for: str = "future"


class Peeker:
    """Looks for bars later than the one it is shown, everywhere the view lets it reach.

    With look_for=present it looks for the bar it is shown instead, which it must find: the
    same search, shown to work. Whatever it finds, it buys.
    """

    name = "peeker"
    Parameters = PeekerParameters

    def __init__(self, parameters):
        self.future = parameters.look_for == "future"

    def on_bar(self, bar, context):
        market = context.market
        symbol = bar.instrument
        count = market.count(symbol)
        found = False
        try:
            market.history(symbol, "close")[count]  # one past the end
            found = True
        except IndexError:
            pass
        columns = market._columns[symbol]  # the buffers themselves, past what is shown
        times = list(columns.ts) + [b.ts for b in columns.pending]
        if self.future:
            found = found or any(t > bar.ts for t in times)
        else:
            found = found or bar.ts in times
        if not found or context.position(symbol) or context.has_open_orders(symbol):
            return []
        return [
            OrderRequest(
                client_order_id=context.next_client_order_id(symbol),
                instrument=symbol,
                side=OrderSide.BUY,
                quote_quantity=context.cash() / 10,
            )
        ]
'''


def test_a_user_strategy_that_looks_for_the_future_finds_none(tmp_path: Path) -> None:
    path = tmp_path / "peeker.py"
    path.write_text(textwrap.dedent(PEEKER))
    data = tmp_path / "BTC_USDT-1h.csv"
    write_bars(synthetic_market(instrument="BTC-USDT", bars=600, seed=5), data)
    runs = {}
    for look_for in ("future", "present"):
        done = coinswarm(
            "backtest", "--strategy", f"{path}:Peeker", "--data", str(data),
            "--param", f"look_for={look_for}", "--json", home=tmp_path,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        runs[look_for] = json.loads(done.stdout)["orders"]
    assert runs["future"] == 0
    assert runs["present"] > 0  # the search works: the bar it is shown is there


OPENER = '''
class Opener:
    """Reads the data file on its 10th bar: tomorrow's close is in there."""

    name = "opener"

    def __init__(self):
        self.seen = 0

    def on_bar(self, bar, context):
        self.seen += 1
        if self.seen == 10:
            with open(DATA) as handle:
                handle.read()
        return []
'''


def test_a_user_strategy_that_opens_a_file_during_a_bar_is_stopped(tmp_path: Path) -> None:
    data = tmp_path / "BTC_USDT-1h.csv"
    write_bars(synthetic_market(instrument="BTC-USDT", bars=300, seed=5), data)
    path = tmp_path / "opener.py"
    path.write_text(f"DATA = {str(data)!r}\n" + textwrap.dedent(OPENER))
    for mode in (("backtest",), ("paper", "--speed", "max")):
        done = coinswarm(
            *mode, "--strategy", f"{path}:Opener", "--data", str(data), "--quiet", home=tmp_path
        )
        assert done.returncode == 2, (mode, done.stderr)
        assert done.stderr.startswith(f"error: a strategy tried 'open' on '{data}'"), done.stderr
        assert "only through the time-fenced view" in done.stderr
        assert "Traceback" not in done.stderr


def test_the_committee_takes_agent_parameters_on_4h_bars(tmp_path: Path) -> None:
    args = ("backtest", "--strategy", "committee", "--timeframe", "4h", "--json")
    done = coinswarm(*args, "--param", "trend.fast=12", "--param", "risk.max_volatility=0.03")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["parameters"]["trend.fast"] == "12"
    assert summary["parameters"]["risk.max_volatility"] == "0.03"
    assert summary["orders"] > 20
    wrong = coinswarm(*args, "--param", "trend.fastt=12")
    assert wrong.returncode == 2
    assert "unknown parameter trend.fastt; trend takes trend.fast" in wrong.stderr


def test_a_strategy_file_that_cannot_load_is_one_error_line_and_nothing_is_written(
    tmp_path: Path,
) -> None:
    path = tmp_path / "broken.py"
    path.write_text("class Broken:\n    name = 'broken'\n    def on_bar(self, bar, context)\n")
    home = tmp_path / "home"
    for command in ("backtest", "paper"):
        done = coinswarm(command, "--strategy", f"{path}:Broken", "--quiet", home=home)
        assert done.returncode == 2
        assert done.stderr == f"error: {path}, line 3: syntax error: expected ':'\n"
    # Refused before the database or a session journal was made (coinswarm.log may hold the
    # INFO lines alembic logs when it is imported).
    assert not list(home.glob("*.db"))
    assert not (home / "sessions").exists()
