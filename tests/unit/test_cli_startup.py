"""The command line answers before it loads the engine: `coinswarm --help`, `coinswarm version`
and `coinswarm risk status` import no numpy, polars, database, exchange client or web server.

Each probe runs in a fresh interpreter, since this test process has imported all of them.
`benchmarks/bench_startup.py` gives the figures; this guards the imports that make them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import typer
from typer.main import get_command_name

from cli_harness import coinswarm
from coinswarm.cli import app

HEAVY = (
    "numpy",
    "polars",
    "sqlalchemy",
    "alembic",
    "ccxt",
    "fastapi",
    "uvicorn",
    "httpx",
    "redis",
    "nats",
    "cryptography",
    "coinswarm.bootstrap",
    "coinswarm.sessions",
    "coinswarm.data",
    "coinswarm.infra.storage",
    "coinswarm.exchanges",
    "coinswarm.backtest.engine",
)

IMPORT = "import coinswarm.cli"
RUN = """
import sys
sys.argv = ["coinswarm", *{args!r}]
import coinswarm.cli
try:
    coinswarm.cli.main()
except SystemExit as done:
    assert done.code in (0, None), done.code
"""
REPORT = """
import json, sys
print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))
"""


def loaded_heavy(code: str, home: str) -> list[str]:
    probe = code + REPORT.format(heavy=HEAVY)
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        env={**os.environ, "COINSWARM_HOME": home},
    )
    found: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def test_the_probe_sees_a_heavy_import(tmp_path):
    # The probe can fail: a module that loads numpy is reported.
    assert "numpy" in loaded_heavy("import coinswarm.domain.bar", str(tmp_path))


@pytest.mark.parametrize(
    "code",
    [
        IMPORT,
        RUN.format(args=["--help"]),
        RUN.format(args=["version"]),
        RUN.format(args=["risk", "status"]),
        RUN.format(args=["backtest", "--help"]),
    ],
    ids=["import", "--help", "version", "risk status", "backtest --help"],
)
def test_the_command_line_starts_without_the_heavy_modules(code, tmp_path):
    assert loaded_heavy(code, str(tmp_path)) == []


def names(typer_app: typer.Typer) -> list[str]:
    commands = [
        c.name or get_command_name(c.callback.__name__)
        for c in typer_app.registered_commands
        if c.callback is not None and not c.hidden
    ]
    return commands + [g.name for g in typer_app.registered_groups if g.name]


def test_help_lists_every_command(tmp_path):
    listed = names(app)
    assert {"backtest", "risk", "version", "live"} <= set(listed)
    shown = coinswarm("--help", home=tmp_path)
    assert shown.returncode == 0, shown.stderr
    words = set(shown.stdout.replace("│", " ").split())
    assert [n for n in listed if n not in words] == []


def test_each_group_help_lists_its_commands(tmp_path):
    for group in app.registered_groups:
        assert group.typer_instance is not None
        shown = coinswarm(str(group.name), "--help", home=tmp_path)
        assert shown.returncode == 0, shown.stderr
        words = set(shown.stdout.replace("│", " ").split())
        assert [n for n in names(group.typer_instance) if n not in words] == [], group.name


def test_a_command_runs_with_only_its_own_options_built(tmp_path):
    # `coinswarm risk status` builds the risk group alone; its answer is still the whole one.
    shown = coinswarm("risk", "status", home=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "no stops: trading allowed" in shown.stdout
    assert list(tmp_path.iterdir()) == []  # reading the stops writes nothing


FULL_HELP = """
from coinswarm.cli import app
app(["--help"], prog_name="coinswarm")
"""


def test_help_built_without_the_options_is_the_full_apps_help(tmp_path):
    # `coinswarm --help` lists the commands without building their options: the page must be
    # the one the whole app gives.
    env = {**os.environ, "COINSWARM_HOME": str(tmp_path), "COLUMNS": "100"}
    quick = subprocess.run(
        [sys.executable, "-m", "coinswarm", "--help"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        timeout=120,
    )
    full = subprocess.run(
        [sys.executable, "-c", FULL_HELP],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        timeout=120,
    )
    assert quick.stdout == full.stdout
    assert "backtest" in quick.stdout
