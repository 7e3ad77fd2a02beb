"""`make test` never writes into the user's own data folder, even before any test starts.

A module-scoped fixture runs before the per-test private home exists; the crash-recovery
fixture once ran `coinswarm backtest` there and left runs and a log in the real folder. These
run the same way and check where things went.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from platformdirs import user_data_path

import private_home
from coinswarm.backtest.runs import default_runs_dir
from coinswarm.infra.storage import default_sqlite_path


@pytest.fixture(scope="module")
def before_any_test() -> dict[str, object]:
    """Look at the defaults, and run a backtest, where the crash-recovery fixture did."""
    # A fee no one else uses gives a run id no earlier run can have left in the real folder.
    fee = f"7.{secrets.randbelow(10**9):09d}"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "coinswarm",
            "backtest",
            "--bars",
            "120",
            "--fee-bps",
            fee,
            "--quiet",
            "--json",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return {
        "home": os.environ.get("COINSWARM_HOME"),
        "paths": [default_runs_dir(), default_sqlite_path(), user_data_path("coinswarm")],
        "run": json.loads(done.stdout)["run"],
    }


def inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


def test_the_session_home_is_a_temporary_folder_apart_from_the_real_one():
    (private,) = private_home.SESSION
    assert not inside(private.base, private.real)
    assert not inside(private.real, private.base)


def test_a_module_fixture_sees_only_private_default_paths(before_any_test):
    (private,) = private_home.SESSION
    assert before_any_test["home"] is not None
    for path in before_any_test["paths"]:
        assert inside(path, private.base), path
        assert not inside(path, private.real), path


def test_a_command_a_module_fixture_runs_writes_into_the_private_home_only(before_any_test):
    (private,) = private_home.SESSION
    run = before_any_test["run"]
    assert (private.home / "runs" / run / "summary.json").is_file()
    assert (private.home / "coinswarm.log").is_file()
    assert not (private.real / "runs" / run).exists()


def test_no_per_test_setting_points_back_at_the_real_folder():
    for variable in ("COINSWARM_HOME", "XDG_DATA_HOME"):
        assert not inside(Path(os.environ[variable]), private_home.SESSION[0].real)
    for variable in private_home.CLEARED_VARIABLES:
        assert variable not in os.environ


def test_a_coinswarm_toml_where_the_tests_run_is_not_read():
    # The variable wins over the working folder's file: the commands tests start read nothing.
    path = Path(os.environ[private_home.CONFIG_VARIABLE])
    assert inside(path, private_home.SESSION[0].base)
    assert path.read_text(encoding="utf-8") == ""
