"""Run every `coinswarm` command from a plain install: `pip install .`, no extras.

CI runs this with the Python of a fresh virtual environment that has only Coinswarm's own
dependencies (.ci/run), so a command that imports a package only the `dev` extra brings fails
here, not on a user's machine. It uses the standard library only: pytest is not installed.

Every command, down to each subcommand, is asked for `--help`, and each leaf command is also
run for real, briefly, with COINSWARM_HOME in a temporary folder. Exit 0 when all pass.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

COINSWARM = Path(sys.executable).with_name("coinswarm")
TIMEOUT_S = 300
BARS = 400


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


class SmokeError(AssertionError):
    """A command failed or said something other than what it should."""


class Smoke:
    """Runs commands in one temporary folder, with the data folder inside it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("COINSWARM_") and not key.startswith("PYTHON")
        }
        self.env["COINSWARM_HOME"] = str(folder / "home")
        self.db = f"sqlite:///{folder / 'smoke.db'}"

    def run(self, *args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
        started = time.monotonic()
        done = subprocess.run(
            [str(COINSWARM), *args],
            capture_output=True,
            text=True,
            check=False,
            cwd=self.folder,
            env=self.env,
            timeout=TIMEOUT_S,
        )
        took = time.monotonic() - started
        say(f"  {took:5.1f}s  exit {done.returncode}  coinswarm {' '.join(args)}")
        if done.returncode != code:
            msg = f"coinswarm {' '.join(args)}: exit {done.returncode}, expected {code}\n"
            raise SmokeError(msg + done.stdout[-2000:] + done.stderr[-4000:])
        if code == 2 and not done.stderr.startswith("error: "):
            raise SmokeError(f"coinswarm {' '.join(args)}: expected one error line: {done.stderr}")
        return done

    def json(self, *args: str) -> dict[str, object]:
        answer = json.loads(self.run(*args, "--json").stdout)
        assert isinstance(answer, dict)
        return answer


def command_paths() -> list[tuple[str, ...]]:
    """Return every command and subcommand of `coinswarm`, as the installed app declares them."""
    import typer  # noqa: PLC0415 - only once the install is known to import at all

    from coinswarm.cli import app  # noqa: PLC0415

    def walk(command: object, path: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
        yield path
        for name, child in sorted(getattr(command, "commands", {}).items()):
            yield from walk(child, (*path, name))

    return list(walk(typer.main.get_command(app), ()))


def every_help() -> None:
    """Ask every command for --help, in this process: one interpreter start, not thirty."""
    from typer.testing import CliRunner  # noqa: PLC0415

    from coinswarm.cli import app  # noqa: PLC0415

    for path in command_paths():
        shown = CliRunner().invoke(app, [*path, "--help"])
        if shown.exit_code != 0 or "Usage:" not in shown.output:
            raise SmokeError(f"coinswarm {' '.join(path)} --help: {shown.output[-2000:]}")
        say(f"  help   coinswarm {' '.join(path)} --help")


def write_bars(path: Path) -> None:
    """Write BARS hourly bars of a seeded random walk, in the documented CSV format."""
    rng = random.Random(7)
    price = 100.0
    rows = ["timestamp,open,high,low,close,volume"]
    for hour in range(BARS):
        close = round(price * (1 + rng.gauss(0, 0.02)), 2)
        high, low = round(max(price, close) * 1.005, 2), round(min(price, close) * 0.995, 2)
        stamp = f"2024-01-{1 + hour // 24:02d}T{hour % 24:02d}:00:00Z"
        rows.append(f"{stamp},{price},{high},{low},{close},{rng.uniform(1, 10):.3f}")
        price = close
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")


def backtests(smoke: Smoke, data: Path) -> None:
    smoke.run("version")
    smoke.run("data", "inspect", str(data))
    smoke.run("data", "resample", str(data), "--to", "4h", "--out", str(smoke.folder / "4h.csv"))
    runs = smoke.folder / "runs"
    args = ("--data", str(data), "--strategy", "committee", "--runs-dir", str(runs))
    summary = smoke.json("backtest", *args, "--db", smoke.db, "--quiet")
    run = str(summary["run"])
    smoke.json("resume", run, "--db", smoke.db, "--runs-dir", str(runs), "--quiet")
    with gzip.open(runs / run / "explanations.jsonl.gz", "rt", encoding="utf-8") as kept:
        explanations = [json.loads(line)["order_id"] for line in kept]
    if explanations:
        smoke.run("explain", run, explanations[0], "--runs-dir", str(runs))
    else:
        smoke.run("explain", run, "NONE", "--runs-dir", str(runs), code=2)
    smoke.run("audit", "verify", "--db", smoke.db)
    smoke.run("audit", "anchor", "--db", smoke.db)
    smoke.run("db", "upgrade", "--db", f"sqlite:///{smoke.folder / 'fresh.db'}")
    smoke.run("demo", "--data", str(data), "--quiet")
    paper = ("paper", "--data", str(data), "--speed", "max", "--quiet")
    smoke.json(*paper)
    smoke.json(*paper, "--exchange", "local")
    # A user's own strategy from the template, through the same engine and risk layer.
    smoke.run("new-strategy", "breakout", "--dir", "mine")
    mine = ("--strategy", "mine/breakout.py:Breakout", "--data", str(data), "--quiet")
    smoke.json("backtest", *mine, "--db", smoke.db)
    smoke.run("new-strategy", "breakout", "--dir", "mine", code=2)  # never overwrites


def risk(smoke: Smoke) -> None:
    state = str(smoke.folder / "risk-state.json")
    smoke.run("risk", "status", "--state", state)
    smoke.run("risk", "stop", "--by", "smoke", "--reason", "smoke test", "--state", state)
    if "MANUAL" not in smoke.run("risk", "status", "--state", state).stdout:
        raise SmokeError("risk status does not show the manual stop")
    smoke.run("risk", "reset", "--by", "smoke", "--reason", "done", "--state", state)


def sessions(smoke: Smoke) -> None:
    summary = smoke.json(
        "sandbox", "--bars", "8", "--bar-seconds", "0.05", "--strategy", "sma-cross",
        "--param", "fast=2", "--param", "slow=5", "--shadow-every", "4",
        "--db", f"sqlite:///{smoke.folder / 'sandbox.db'}",
    )  # fmt: skip
    journal = smoke.folder / "home" / "sessions" / f"{summary['run']}.jsonl"
    if smoke.json("replay", str(journal))["equal"] is not True:
        raise SmokeError("the sandbox session did not replay to the same orders")
    # Past its confirmation, live finds no key and refuses before it trades: one error line.
    sentence = "trade real money on 127.0.0.1"
    live = ("live", "--url", "https://127.0.0.1:9", "--product", "BTC-USD", "--phase", "3")
    if "no CDP key" not in smoke.run(*live, "--confirm", sentence, code=2).stderr:
        raise SmokeError("live did not stop at the missing key")


def daily_report(smoke: Smoke) -> None:
    """Write today's report of the sandbox account the session step traded; refuse a bad date."""
    db = ("--db", f"sqlite:///{smoke.folder / 'sandbox.db'}")
    today = datetime.now(tz=UTC).date().isoformat()
    summary = smoke.json("report", "daily", "--date", today, *db)
    (report,) = summary["reports"]
    files = [Path(str(path)) for path in report["files"]]
    if report["mode"] != "sandbox" or not report["runs"] or not all(p.is_file() for p in files):
        raise SmokeError(f"report daily wrote no report of the sandbox session: {summary}")
    smoke.run("report", "daily", "--date", "2026-02-30", *db, code=2)


def serve_and_download(smoke: Smoke) -> None:
    """Start the local exchange, download its candles through ccxt, stop it with a signal."""
    key, ca = smoke.folder / "key.json", smoke.folder / "ca.pem"
    process = subprocess.Popen(
        [str(COINSWARM), "exchange", "serve", "--port", "0", "--key-out", str(key),
         "--cert-out", str(ca), "--bar-seconds", "0.05"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=smoke.env,
        cwd=smoke.folder,
    )  # fmt: skip
    try:
        base = None
        while base is None and (line := process.stdout.readline() if process.stdout else ""):
            found = re.search(r"REST: (https://127\.0\.0\.1:\d+)/api/v3/brokerage", line)
            base = found.group(1) if found else None
        if base is None:
            raise SmokeError("exchange serve printed no REST address")
        out = smoke.folder / "BTC_USD-1h.csv"
        smoke.run(
            "data", "download", "coinbase", "BTC/USD", "1h", "--since", "2022-01-01",
            "--until", "2022-01-02", "--url", base, "--ca-file", str(ca), "--out", str(out),
        )  # fmt: skip
        smoke.run("data", "inspect", str(out))
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    if process.returncode != 0:
        raise SmokeError(f"exchange serve ended with {process.returncode}: {stderr[-2000:]}")


def api_server(smoke: Smoke) -> None:
    """Start the API on a free port, ask its health check, stop it as Ctrl-C does."""
    import urllib.request  # noqa: PLC0415 - only this step needs it

    process = subprocess.Popen(
        [str(COINSWARM), "serve", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=smoke.env,
        cwd=smoke.folder,
    )  # fmt: skip
    try:
        line = process.stdout.readline() if process.stdout else ""
        found = re.search(r"serving (http://127\.0\.0\.1:\d+/)", line)
        if found is None:
            raise SmokeError(f"serve printed no address: {line!r}")
        with urllib.request.urlopen(found.group(1) + "api/health", timeout=10) as answer:
            health = json.loads(answer.read())
        if health.get("status") != "ok":
            raise SmokeError(f"serve's health check answered {health}")
        say(f"  health {found.group(1)}api/health: {health['status']}")
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    if process.returncode != 0:
        raise SmokeError(f"serve ended with {process.returncode}: {stderr[-2000:]}")


def configuration(smoke: Smoke) -> None:
    """Start a configuration file, set one value in it, and see it where it came from."""
    smoke.run("config", "init")
    smoke.run("config", "init", code=2)  # never overwrites
    path = smoke.folder / "coinswarm.toml"
    path.write_text(path.read_text(encoding="utf-8") + "[backtest]\nfee_bps = 12\n", "utf-8")
    shown = smoke.json("config", "show", "--command", "backtest")
    commands = shown["commands"]
    assert isinstance(commands, dict)
    if commands["backtest"]["fee_bps"]["value"] != "12":
        raise SmokeError(f"config show does not show the file's fee: {commands['backtest']}")
    path.unlink()  # the other steps run on the built-in defaults


def run_book(smoke: Smoke) -> None:
    """List, show, compare, delete and prune the runs the steps before made."""
    listed = smoke.json("runs", "list")["runs"]
    runs = [str(run["run"]) for run in listed]
    if len(runs) < 3:
        raise SmokeError(f"runs list found {len(runs)} runs, expected the demo's and paper's")
    smoke.run("runs", "show", runs[0])
    smoke.run("runs", "compare", runs[0], runs[1])
    smoke.run("runs", "delete", runs[0])
    smoke.run("runs", "prune", "--keep", "1", "--dry-run")
    smoke.run("runs", "prune", "--keep", "1")
    smoke.run("audit", "verify")


def discovery(smoke: Smoke) -> None:
    """A short discovery run on two worker processes, its leaderboard, export and import."""
    db = ("--db", smoke.db)
    summary = smoke.json("evolve", "--demo", "--cycles", "3", "--workers", "2", *db)
    listed = json.loads(smoke.run("patterns", "list", "--json", *db).stdout)
    if not listed or summary["run"] != listed[0]["run_id"]:
        raise SmokeError(f"patterns list does not show the run evolve made: {summary['run']}")
    smoke.run("patterns", "show", str(listed[0]["pattern_id"]), *db)
    exported = str(smoke.folder / "patterns.jsonl")
    smoke.run("patterns", "export", exported, "--all", *db)
    smoke.run("patterns", "import", exported, "--db", f"sqlite:///{smoke.folder / 'other.db'}")


def optimize(smoke: Smoke) -> None:
    """Search sma-cross walk-forward on four months of bars; refuse an unknown parameter."""
    data = smoke.folder / "ETH_USDT-1h.csv"
    write_long_bars(data, hours=3_000)
    search = (
        "optimize", "--strategy", "sma-cross", "--space", "fast=5..30:5",
        "--space", "slow=40..100:20", "--data", str(data), "--folds", "2", "--trials", "3",
        "--db", smoke.db,
    )  # fmt: skip
    report = smoke.json(*search)
    if report["n_trials"] != 6 or report["final"]["holdout"]["sample"] != "holdout":
        raise SmokeError(f"optimize reported {report}")
    smoke.run(*search, "--space", "nope=1..2", code=2)


def write_long_bars(path: Path, *, hours: int) -> None:
    """Write `hours` hourly bars of a seeded random walk from 2024-01-01, in the CSV format."""
    rng = random.Random(11)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    price = 100.0
    rows = ["timestamp,open,high,low,close,volume"]
    for hour in range(hours):
        close = round(price * (1 + rng.gauss(0, 0.01)), 2)
        high, low = round(max(price, close) * 1.003, 2), round(min(price, close) * 0.997, 2)
        stamp = (start + timedelta(hours=hour)).strftime("%Y-%m-%dT%H:%M:%SZ")
        rows.append(f"{stamp},{price},{high},{low},{close},{rng.uniform(1, 10):.3f}")
        price = close
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")


STEPS: dict[str, Callable[[Smoke], None]] = {
    "discovery": discovery,
    "configuration": configuration,
    "risk": risk,
    "sessions": sessions,
    "daily report": daily_report,
    "exchange and download": serve_and_download,
    "api server": api_server,
    "runs": run_book,
    "optimize": optimize,
}
# Every leaf command this script runs for real (tests/unit/test_smoke_script.py compares it
# with the app, so a new command cannot be left out).
RUN_FOR_REAL = {
    ("audit", "anchor"), ("audit", "verify"), ("backtest",), ("config", "init"),
    ("config", "show"), ("data", "download"), ("data", "inspect"), ("data", "resample"),
    ("db", "upgrade"), ("demo",), ("evolve",), ("exchange", "serve"), ("explain",), ("live",),
    ("new-strategy",), ("optimize",), ("paper",), ("patterns", "export"),
    ("patterns", "import"), ("patterns", "list"), ("patterns", "show"),
    ("replay",), ("report", "daily"), ("resume",), ("risk", "reset"), ("risk", "status"),
    ("risk", "stop"),
    ("runs", "compare"), ("runs", "delete"), ("runs", "list"), ("runs", "prune"),
    ("runs", "show"), ("sandbox",), ("serve",), ("version",),
}  # fmt: skip


def main() -> int:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="coinswarm-smoke-") as name:
        smoke = Smoke(Path(name))
        say(f"smoke test of a plain install: {COINSWARM}")
        every_help()
        data = smoke.folder / "BTC_USDT-1h.csv"
        write_bars(data)
        backtests(smoke, data)
        for step in STEPS.values():
            step(smoke)
    say(f"smoke test passed in {time.monotonic() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
