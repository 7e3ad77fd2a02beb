"""One error contract everywhere (issue 12): a mistake a user can make ends as exactly one line
on stderr starting `error:`, exit code 2, no traceback, and nothing written, checked before
any work starts.

Each case is one that broke the contract before: `--cash 0` (a traceback after the whole run,
the run stored), `db upgrade --db foo://bar` (a traceback), a `--report` that is a folder
(failed after the run, naming a temporary file), the same `--data` twice (a run left marked
running), wrong flags (a box of five lines), `live` asking for the typed sentence before it
checked the phase, the URL and the key, `data download` hiding a DNS failure, and a TLS
failure shown as "ConnectError". Every case runs `coinswarm` in a process of its own, with a
private COINSWARM_HOME and working folder, and no standard input.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from coinswarm.exchanges.local_coinbase.auth import generate_key
from tls_harness import untrusted_tls_port

HEADER = "timestamp,open,high,low,close,volume\n"
ROWS = "".join(
    f"2024-01-01T{h:02d}:00:00Z,{100 + h}.0,{101 + h}.0,{99 + h}.0,{100 + h}.5,10.0\n"
    for h in range(24)
)
KEY_VARIABLES = (
    "COINSWARM_COINBASE_KEY_NAME",
    "COINSWARM_COINBASE_PRIVATE_KEY",
    "COINSWARM_SANDBOX_KEY_NAME",
    "COINSWARM_SANDBOX_PRIVATE_KEY",
    "COINSWARM_DATABASE_URL",
    "COINSWARM_REDIS_URL",
)
LIVE_PROMPT = "To trade real money"


@dataclass(frozen=True)
class Case:
    args: Callable[[Path], list[str]]
    says: str  # the error line starts with this, after "error: "


def bars_file(folder: Path) -> Path:
    path = folder / "BTC_USDT-1h.csv"
    path.write_text(HEADER + ROWS)
    return path


CASES = {
    "cash 0": Case(
        lambda _: ["backtest", "--cash", "0", "--bars", "200", "--quiet"],
        "--cash: expected a number above 0",
    ),
    "paper cash below 0": Case(
        lambda _: ["paper", "--cash", "-1", "--bars", "200", "--speed", "max"],
        "--cash: expected a number above 0",
    ),
    "db upgrade unknown URL": Case(
        lambda _: ["db", "upgrade", "--db", "foo://bar"], "--db: expected sqlite:///FILE"
    ),
    "backtest unknown URL": Case(
        lambda _: ["backtest", "--bars", "200", "--db", "mysql://ada:secret@db/x"],
        "--db: expected sqlite:///FILE",
    ),
    "report is a folder": Case(
        lambda work: ["backtest", "--bars", "200", "--quiet", "--report", str(work)],
        "--report: ",
    ),
    "report in no folder": Case(
        lambda work: ["backtest", "--bars", "200", "--report", str(work / "no" / "r.html")],
        "--report: ",
    ),
    "the same data twice": Case(
        lambda work: [
            "backtest",
            "--data",
            str(bars_file(work)),
            "--data",
            str(work / "BTC_USDT-1h.csv"),
        ],
        "--data: ",
    ),
    "no such option": Case(
        lambda _: ["backtest", "--foo"], "no such option: --foo (see coinswarm backtest --help)"
    ),
    "no such command": Case(lambda _: ["bactest"], "no such command 'bactest'"),
    "missing argument": Case(lambda _: ["explain"], "missing argument 'run'"),
    "bad integer": Case(lambda _: ["backtest", "--bars", "many"], "invalid value for '--bars'"),
    "live phase": Case(
        lambda _: ["live", "--url", "https://example.test", "--phase", "9"], "--phase: "
    ),
    "live no phase": Case(
        lambda _: ["live", "--url", "https://example.test", "--product", "BTC-USD"],
        "live: choose the real-money risk phase",
    ),
    "live plain http": Case(
        lambda _: ["live", "--url", "http://example.test", "--phase", "3"],
        "live: expected an https:// URL",
    ),
    "live no key": Case(
        lambda _: ["live", "--url", "https://example.test", "--phase", "3", "--product", "BTC-USD"],
        "no CDP key found: set COINSWARM_COINBASE_KEY_NAME",
    ),
    "download DNS": Case(
        lambda _: [
            "data",
            "download",
            "coinbase",
            "BTC/USD",
            "1h",
            "--since",
            "2024-01-01",
            "--url",
            "https://coinswarm-test.invalid",
        ],
        "cannot reach coinswarm-test.invalid: DNS lookup failed (",
    ),
}


def run(
    args: list[str], *, home: Path, work: Path, extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in KEY_VARIABLES}
    env["COINSWARM_HOME"] = str(home)
    env.update(extra or {})
    return subprocess.run(
        [sys.executable, "-m", "coinswarm", *args],
        stdin=subprocess.DEVNULL,  # nobody to type: a prompt reached would fail on its own
        capture_output=True,
        text=True,
        check=False,
        cwd=work,
        env=env,
        timeout=300,
    )


def files_under(folder: Path) -> set[Path]:
    return set(folder.rglob("*"))


def assert_one_error_line(done: subprocess.CompletedProcess[str], says: str) -> None:
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"error: {says}"), lines[0]
    assert "Traceback" not in done.stderr + done.stdout
    assert ".tmp" not in lines[0]  # a temporary file's name means nothing to a person
    assert done.returncode == 2


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_a_user_error_is_one_line_exit_2_and_writes_nothing(case, tmp_path):
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    args = case.args(work)
    before = files_under(work)
    done = run(args, home=home, work=work)
    assert_one_error_line(done, case.says)
    assert files_under(home) == set()  # no database, no run folder, no log
    assert files_under(work) == before  # no report, no download
    assert LIVE_PROMPT not in done.stdout


def test_a_tls_failure_is_told_as_tls_not_connect_error(tmp_path):
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    with untrusted_tls_port(tmp_path) as port:
        args = ["data", "download", "coinbase", "BTC/USD", "1h", "--since", "2024-01-01"]
        done = run([*args, "--url", f"https://127.0.0.1:{port}"], home=home, work=work)
    assert_one_error_line(done, "TLS certificate verify failed for 127.0.0.1: ")
    assert "ConnectError" not in done.stderr
    assert files_under(home) == set()
    assert files_under(work) == set()


def test_live_asks_for_the_sentence_only_once_every_offline_check_passed(tmp_path):
    # Given a key, the phase, the URL and a product, the person is asked, and end of input
    # (nobody there) is one line too; nothing is written and no exchange is reached.
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    key = generate_key()
    args = ["live", "--url", "https://example.test", "--phase", "3", "--product", "BTC-USD"]
    done = run(
        args,
        home=home,
        work=work,
        extra={
            "COINSWARM_COINBASE_KEY_NAME": key.name,
            "COINSWARM_COINBASE_PRIVATE_KEY": key.private_key_pem,
        },
    )
    assert LIVE_PROMPT in done.stdout
    assert_one_error_line(done, "live: no confirmation was typed")
    assert files_under(home) == set()
