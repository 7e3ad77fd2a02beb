"""`coinswarm.toml` as a person uses it: a real process in a folder that holds the file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cli_harness import coinswarm
from coinswarm.data import synthetic_market, write_bars

FILE = """\
[defaults]
fee_bps = 10
slippage_bps = 0

[backtest]
data = ["data/SYN_USDT-1h.csv"]
strategy = "sma-cross"
quiet = true

[backtest.params]
fast = 5
slow = 20
"""
SAME_BY_FLAGS = ("--strategy", "sma-cross", "--param", "fast=5", "--param", "slow=20",
                 "--fee-bps", "10", "--slippage-bps", "0", "--quiet")  # fmt: skip


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working folder with bars in data/ and the file; no COINSWARM_CONFIG to hide it."""
    monkeypatch.delenv("COINSWARM_CONFIG", raising=False)
    (tmp_path / "data").mkdir()
    write_bars(synthetic_market(instrument="SYN-USDT", bars=600, seed=5), data_file(tmp_path))
    (tmp_path / "coinswarm.toml").write_text(FILE, encoding="utf-8")
    return tmp_path


def data_file(folder: Path) -> Path:
    return folder / "data" / "SYN_USDT-1h.csv"


def summary(*args: str, cwd: Path) -> dict[str, object]:
    done = coinswarm("backtest", "--json", *args, cwd=cwd)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert isinstance(answer, dict)
    return answer


def test_the_file_in_the_working_folder_makes_the_same_run_as_the_flags(folder, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("no-config")
    by_file = summary(cwd=folder)
    by_flags = summary("--data", str(data_file(folder)), *SAME_BY_FLAGS, cwd=elsewhere)
    assert by_file["parameters"] == {"fast": "5", "slow": "20"}
    assert by_file["costs"]["maker_bps"] == "10"  # type: ignore[index]
    assert by_file["costs"]["slippage"] == {"kind": "fixed", "bps": "0"}  # type: ignore[index]
    assert by_file == by_flags  # the same inputs make the same run id and the same figures
    plain = summary("--data", str(data_file(folder)), cwd=elsewhere)
    assert plain["run"] != by_file["run"]
    assert plain["parameters"] == {"fast": "20", "slow": "50"}  # sma-cross's own defaults


def test_a_flag_wins_over_the_file_and_replaces_its_whole_value(folder):
    answer = summary("--fee-bps", "20", "--param", "fast=3", "--param", "slow=9", cwd=folder)
    assert answer["costs"]["maker_bps"] == "20"  # type: ignore[index]
    assert answer["parameters"] == {"fast": "3", "slow": "9"}
    assert answer["costs"]["slippage"] == {"kind": "fixed", "bps": "0"}  # type: ignore[index]


def test_a_coinswarm_variable_wins_over_the_file(folder, monkeypatch):
    text = FILE.replace("[defaults]\n", "[defaults]\ndb = 'sqlite:///from-file.db'\n")
    (folder / "coinswarm.toml").write_text(text, encoding="utf-8")
    from_env = folder / "from-env.db"
    monkeypatch.setenv("COINSWARM_DATABASE_URL", f"sqlite:///{from_env}")
    summary(cwd=folder)
    assert from_env.is_file()
    assert not (folder / "from-file.db").exists()
    monkeypatch.delenv("COINSWARM_DATABASE_URL")
    summary(cwd=folder)
    assert (folder / "from-file.db").is_file()  # read from the file's folder


def test_config_show_lists_each_value_and_where_it_came_from(folder, monkeypatch):
    monkeypatch.setenv("COINSWARM_PHASE", "0")
    done = coinswarm("config", "show", "--command", "backtest", cwd=folder)
    assert done.returncode == 0, done.stderr
    rows = {line.split()[0]: line for line in done.stdout.splitlines() if line.startswith("  ")}
    assert rows["strategy"].split()[1:] == ["sma-cross", "coinswarm.toml:7"]
    assert rows["fee_bps"].split()[1:] == ["10", "coinswarm.toml:2"]
    assert rows["params"].split()[-1] == "coinswarm.toml:10"
    assert rows["phase"].split()[1:] == ["0", "env", "COINSWARM_PHASE"]
    assert rows["cash"].split()[1:] == ["10000", "default"]
    assert done.stdout.startswith("configuration file: coinswarm.toml\n")


def test_a_bad_file_is_one_error_line_exit_2_and_nothing_written(folder):
    (folder / "coinswarm.toml").write_text(FILE.replace("fast = 5", "fast = [5]"), "utf-8")
    home = Path(os.environ["COINSWARM_HOME"])  # this test's own (tests/conftest.py)
    before = sorted(folder.rglob("*"))
    done = coinswarm("backtest", "--json", "--report", "report.html", cwd=folder)
    assert done.returncode == 2
    assert done.stderr == (
        "error: coinswarm.toml:10: [backtest] params: fast: expected a text, number or "
        "true/false, found [5]\n"
    )
    assert done.stdout == ""
    assert sorted(folder.rglob("*")) == before
    assert not (home / "runs").exists()
    assert not (home / "coinswarm.db").exists()


def test_another_file_by_flag_or_variable_with_paths_read_from_its_folder(folder, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("cwd")
    other = folder / "other.toml"
    other.write_text(FILE.replace("fee_bps = 10", "fee_bps = 30"), encoding="utf-8")
    by_flag = coinswarm("--config", str(other), "backtest", "--json", cwd=elsewhere)
    assert by_flag.returncode == 0, by_flag.stderr
    assert json.loads(by_flag.stdout)["costs"]["maker_bps"] == "30"
    by_variable = subprocess.run(
        [sys.executable, "-m", "coinswarm", "backtest", "--json"],
        capture_output=True, text=True, check=False, cwd=elsewhere, timeout=300,
        env={**os.environ, "COINSWARM_CONFIG": str(other)},
    )  # fmt: skip
    assert by_variable.returncode == 0, by_variable.stderr
    assert by_variable.stdout == by_flag.stdout
    missing = coinswarm("--config", "absent.toml", "backtest", cwd=elsewhere)
    assert missing.returncode == 2
    assert missing.stderr == "error: absent.toml: configuration file not found\n"
