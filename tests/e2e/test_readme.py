"""The README's quick start and every command it shows, run as written, showing what it says.

Each `coinswarm ...` line of the README's shell blocks has a case below that runs it in a
fresh working folder (real candles cut to one quarter, so it stays short; `--bars` shortened
where a command paces itself), and checks what the README promises of it. A command added to
the README without a case here fails `test_every_readme_command_has_a_case`.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from absent import absent
from coinswarm.data.pattern_file import write_patterns
from coinswarm.domain.pattern import Condition, Exit, Pattern, Side
from proven_patterns import proven

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
SHARED = ROOT.parent / "shared" / "data" / "binance-spot-1h"
QUARTER = ("2021-01-01", "2021-04-01")  # inside the README's --start 2021-01-01 --end 2023-01-01


def readme_commands(text: str) -> list[str]:
    """Return each `coinswarm ...` line of the README's sh blocks, continuations joined."""
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", text, flags=re.DOTALL):
        for line in block.replace("\\\n", " ").splitlines():
            command = re.sub(r"\s#.*$", "", line).strip()
            command = command.removeprefix(".venv/bin/").split(" && ")[-1]
            if command.startswith("coinswarm"):
                commands.append(" ".join(command.split()))
    return commands


@dataclass
class Folder:
    """A user's working folder, with its own data folder, holding the README's data files."""

    path: Path
    bars: int = 0  # of each quarter file

    @property
    def env(self) -> dict[str, str]:
        keep = {k: v for k, v in os.environ.items() if not k.startswith("COINSWARM_")}
        return {**keep, "COINSWARM_HOME": str(self.path / "home")}

    def run(
        self, command: str, *extra: str, env: dict[str, str] | None = None, code: int = 0
    ) -> subprocess.CompletedProcess[str]:
        """Run a README command (the text after `coinswarm`) with `extra` arguments."""
        args = shlex.split(command)
        assert args[0] == "coinswarm", command
        done = subprocess.run(
            [sys.executable, "-m", "coinswarm", *args[1:], *extra],
            capture_output=True,
            text=True,
            check=False,
            cwd=self.path,
            env={**self.env, **(env or {})},
            timeout=300,
        )
        assert done.returncode == code, f"{command}: exit {done.returncode}\n{done.stderr[-3000:]}"
        return done

    def json(self, command: str, *extra: str) -> dict[str, object]:
        return json.loads(self.run(command, *extra).stdout)


def _quarter(
    source: Path, target: Path, *, compress: bool = True, span: tuple[str, str] = QUARTER
) -> int:
    """Write the rows of `source` inside `span` (QUARTER) to `target`; return how many bars."""
    start, end = span
    with gzip.open(source, "rt") as rows:
        header = next(rows)
        kept = [row for row in rows if start <= row[:10] < end]
    opener = gzip.open if compress else open
    with opener(target, "wt") as out:
        out.write(header)
        out.writelines(kept)
    return len(kept)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Folder:
    for name in ("BTC_USDT-1h.csv.gz", "ETH_USDT-1h.csv.gz"):
        if not (SHARED / name).exists():
            absent(f"real market data is absent ({SHARED / name}); see ../shared/data/README.md")
    path = tmp_path_factory.mktemp("readme")
    for name in ("BTC_USDT-1h.csv.gz", "ETH_USDT-1h.csv.gz"):
        _quarter(SHARED / name, path / name)
    bars = _quarter(SHARED / "BTC_USDT-1h.csv.gz", path / "export.csv", compress=False)
    return Folder(path, bars)


@dataclass
class Exchange:
    base: str
    ca: Path
    key_env: dict[str, str]
    stdout: str


@contextmanager
def serving(
    folder: Folder, command: str = "coinswarm exchange serve", *extra: str
) -> Iterator[Exchange]:
    """Run `exchange serve` on a free port until the block ends; stop it as Ctrl-C does."""
    key, ca = folder.path / "local-coinbase-key.json", folder.path / "local-coinbase-ca.pem"
    args = shlex.split(command)[1:]
    if "--port" in args:  # the README's port may be taken here; any free one will do
        args[args.index("--port") + 1] = "0"
    process = subprocess.Popen(
        [sys.executable, "-u", "-m", "coinswarm", *args, "--bar-seconds", "0.05", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=folder.path,
        env=folder.env,
    )
    try:
        lines: list[str] = []
        while process.stdout is not None and (line := process.stdout.readline()):
            lines.append(line)
            if line.startswith("serving until stopped"):
                break
        said = "".join(lines)
        found = re.search(r"REST: (https://127\.0\.0\.1:\d+)/api/v3/brokerage", said)
        assert found, f"exchange serve printed no address: {said}"
        material = json.loads(key.read_text())
        key_env = {
            "COINSWARM_SANDBOX_KEY_NAME": material["name"],
            "COINSWARM_SANDBOX_PRIVATE_KEY": material["privateKey"],
        }
        yield Exchange(found.group(1), ca, key_env, said)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        finally:
            process.kill()
            process.communicate()


# What each README command promises, checked on what it prints and writes.
Case = Callable[[Folder, str], None]
CASES: dict[str, Case] = {}


def case(*commands: str) -> Callable[[Case], Case]:
    def register(check: Case) -> Case:
        for command in commands:
            CASES[command] = check
        return check

    return register


@case("coinswarm demo")
def _demo(folder: Folder, command: str) -> None:
    report = folder.path / "coinswarm-report.html"
    report.unlink(missing_ok=True)
    said = folder.run(command).stdout
    assert "committee vs buy-and-hold" in said
    assert "market: SYN-USDT" in said
    assert report.read_text(encoding="utf-8").lower().startswith("<!doctype html>")


@case("coinswarm demo --data BTC_USDT-1h.csv.gz")
def _demo_on_a_file(folder: Folder, command: str) -> None:
    said = folder.run(command).stdout
    assert f"market: BTC-USDT ({folder.bars:,} bars)" in said
    assert "committee vs buy-and-hold" in said


@case("coinswarm backtest --data BTC_USDT-1h.csv.gz --fee-bps 10 --json")
def _backtest_json(folder: Folder, command: str) -> None:
    summary = folder.json(command)
    assert summary["costs"]["taker_bps"] == "10"
    assert summary["instruments"] == ["BTC-USDT"]
    assert summary["bars"] == folder.bars
    assert summary["fills"] > 0


@case(
    "coinswarm backtest --data BTC_USDT-1h.csv.gz --data ETH_USDT-1h.csv.gz --start 2021-01-01 "
    "--end 2023-01-01 --param fast=10 --param slow=40 --report report.html"
)
def _backtest_two_pairs_with_a_report(folder: Folder, command: str) -> None:
    said = folder.run(command).stdout
    assert "report: report.html" in said
    html = (folder.path / "report.html").read_text(encoding="utf-8")
    assert "BTC-USDT" in html
    assert "ETH-USDT" in html


@case("coinswarm backtest --strategy committee --data BTC_USDT-1h.csv.gz --data ETH_USDT-1h.csv.gz")
def _committee(folder: Folder, command: str) -> None:
    said = folder.run(command).stdout
    assert "committee vs buy-and-hold" in said
    assert "why did it trade: coinswarm explain" in said


@case("coinswarm backtest --strategy committee --timeframe 4h --param trend.fast=12")
def _committee_on_4h(folder: Folder, command: str) -> None:
    summary = folder.json(command, "--json")
    assert summary["periods_per_year"] == 2190
    assert "trend.fast" in json.dumps(summary["parameters"])


def _template(folder: Folder) -> None:
    """Write the README's strategy template afresh (new-strategy never overwrites)."""
    for name in ("breakout.py", "test_breakout.py"):
        (folder.path / name).unlink(missing_ok=True)
    said = folder.run("coinswarm new-strategy breakout").stdout
    assert "--strategy breakout.py:Breakout" in said


@case("coinswarm new-strategy breakout")
def _new_strategy(folder: Folder, command: str) -> None:
    _template(folder)
    assert "class Breakout" in (folder.path / "breakout.py").read_text(encoding="utf-8")
    assert "def test_" in (folder.path / "test_breakout.py").read_text(encoding="utf-8")
    again = folder.run(command, code=2)
    assert again.stderr.startswith("error:")


@case(
    "coinswarm backtest --strategy breakout.py:Breakout --param lookback=48",
    "coinswarm backtest --strategy breakout.py:Breakout --data BTC_USDT-1h.csv.gz "
    "--param lookback=48",
)
def _own_strategy(folder: Folder, command: str) -> None:
    _template(folder)
    summary = folder.json(command, "--json")
    assert summary["strategy"] == "breakout"
    assert summary["orders"] > 0


@case("coinswarm paper --strategy breakout.py:Breakout --speed max")
def _own_strategy_on_paper(folder: Folder, command: str) -> None:
    _template(folder)
    summary = folder.json(command, "--bars", "400", "--json")
    assert summary["bars"] == 400
    assert summary["strategy"] == "breakout"


@case(
    "coinswarm optimize --strategy sma-cross --space fast=5..50:5 --space slow=60..200:20 "
    "--data BTC_USDT-1h.csv.gz"
)
def _optimize(folder: Folder, command: str) -> None:
    # A quarter holds two folds of the default windows, not three; a few trials a fold.
    report = folder.json(command, "--folds", "2", "--trials", "3", "--json")
    assert report["n_trials"] == 6
    assert [f["out_of_sample"]["sample"] for f in report["folds"]] == ["out_of_sample"] * 2
    assert report["final"]["holdout"]["sample"] == "holdout"
    assert report["verdict"] in ("proven", "not proven")
    said = folder.run(command, "--folds", "2", "--trials", "3", "--quiet").stdout
    assert "6 trials; deflated Sharpe" in said
    assert "verdict:" in said


@case("coinswarm explain RUN ORDER_ID")
def _explain(folder: Folder, command: str) -> None:
    said = folder.run("coinswarm backtest --strategy committee --data BTC_USDT-1h.csv.gz").stdout
    run = re.search(r"run: (run-[0-9a-f]+)", said)
    assert run, said
    order = _first_order_id(folder.path / "home" / "runs" / run.group(1))
    lines = folder.run(command.replace("RUN", run.group(1)).replace("ORDER_ID", order)).stdout
    for part in ("bar", "verdict", "risk", "fill"):
        assert part in lines.lower(), lines


def _first_order_id(folder: Path) -> str:
    for path in sorted(folder.iterdir()):
        with gzip.open(path, "rt") if path.suffix == ".gz" else path.open() as handle:
            text = handle.read()
        found = re.search(r'"client_order_id":\s*"([^"]+)"', text)
        if found:
            return found.group(1)
    raise AssertionError(f"no order id in {folder}")


@case("coinswarm data inspect BTC_USDT-1h.csv.gz")
def _inspect(folder: Folder, command: str) -> None:
    said = folder.run(command).stdout.lower()
    assert "btc-usdt" in said
    assert f"{folder.bars:,}" in said
    assert "gap" in said
    assert "move" in said


@case("coinswarm data inspect export.csv --pair BTC-USDT")
def _inspect_with_a_pair(folder: Folder, command: str) -> None:
    said = folder.run(command).stdout
    assert "BTC-USDT" in said
    assert f"{folder.bars:,}" in said


@case("coinswarm data resample BTC_USDT-1h.csv.gz --to 4h")
def _resample(folder: Folder, command: str) -> None:
    written = folder.path / "BTC_USDT-4h.csv.gz"
    written.unlink(missing_ok=True)
    folder.run(command)
    with gzip.open(written, "rt") as rows:
        assert sum(1 for _ in rows) - 1 == 90 * 6  # no four-hour bucket of the quarter is empty


@case("coinswarm backtest --data BTC_USDT-1h.csv.gz --timeframe 1d")
def _daily(folder: Folder, command: str) -> None:
    summary = folder.json(command, "--json")
    assert summary["bars"] == 90
    assert summary["periods_per_year"] == 365


@case("coinswarm data download coinbase BTC/USD 1h --since 2024-01-01")
def _download(folder: Folder, command: str) -> None:
    # The local exchange's synthetic market covers 2022 and 2023: the same command, dated there.
    within = command.replace("2024-01-01", "2022-01-01")
    with serving(folder) as exchange:
        folder.run(
            within,
            *("--until", "2022-01-03", "--url", exchange.base, "--ca-file", str(exchange.ca)),
        )
    with gzip.open(folder.path / "BTC_USD-1h.csv.gz", "rt") as rows:
        assert sum(1 for _ in rows) - 1 == 48


@case("coinswarm risk status | stop | reset --by NAME --reason TEXT")
def _risk(folder: Folder, _command: str) -> None:
    folder.run("coinswarm risk stop --by ann --reason readme")
    stopped = folder.run("coinswarm risk status").stdout
    assert "ann" in stopped
    assert "readme" in stopped
    for mode in ("paper", "sandbox", "live"):
        assert mode in stopped
    folder.run("coinswarm risk reset --by ann --reason done")
    assert "no stops: trading allowed" in folder.run("coinswarm risk status").stdout


@case("coinswarm paper --speed 60 --report paper.html")
def _paper(folder: Folder, command: str) -> None:
    started = time.monotonic()
    summary = folder.json(command, "--bars", "2", "--json")
    assert summary["bars"] == 2
    assert summary["run"] in (folder.path / "paper.html").read_text(encoding="utf-8")
    # 60 times real time: an hourly bar a minute (the first is not waited for).
    assert time.monotonic() - started >= 60


@case("coinswarm paper --speed max --exchange local")
def _paper_local(folder: Folder, command: str) -> None:
    summary = folder.json(command, "--bars", "300", "--json")
    assert summary["bars"] == 300
    assert summary["fills"] > 0


@case(
    "coinswarm sandbox --bars 100 --bar-seconds 0.5 --strategy sma-cross --param fast=3 "
    "--param slow=8"
)
def _sandbox_demo(folder: Folder, command: str) -> None:
    quick = command.replace("--bars 100", "--bars 40").replace(
        "--bar-seconds 0.5", "--bar-seconds 0.05"
    )
    summary = folder.json(quick, "--json")
    assert summary["fills"] >= 1


@case(
    "coinswarm sandbox --url URL --product BTC-USD",
    "coinswarm sandbox --url https://127.0.0.1:8443 --ca-file local-coinbase-ca.pem "
    "--product BTC-USD",
)
def _sandbox_url(folder: Folder, command: str) -> None:
    with serving(folder) as exchange:
        at = command.replace("URL", exchange.base, 1).replace(
            "https://127.0.0.1:8443", exchange.base
        )
        trust = () if "--ca-file" in at else ("--ca-file", str(exchange.ca))
        done = folder.run(
            at, *trust, "--bars", "3", "--warmup", "10", "--json", env=exchange.key_env
        )
    assert json.loads(done.stdout)["instruments"] == ["BTC-USD"]


@case(
    "coinswarm live --url https://api.coinbase.com --phase 3 --product BTC-USD",
    "coinswarm live --url https://api.coinbase.com --phase 3 --product BTC-USD --resume RUN",
)
def _live(folder: Folder, command: str) -> None:
    # No key here (and no network): live must say so before it asks for the typed sentence.
    done = folder.run(command.replace("RUN", "run-000000000000"), code=2)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error:"), done.stderr
    assert "COINSWARM_COINBASE_KEY_NAME" in lines[0]
    assert "trade real money" not in done.stdout


@case("coinswarm exchange serve --port 8443")
def _serve(folder: Folder, command: str) -> None:
    with serving(folder, command) as exchange:
        said = exchange.stdout
    assert "products: BTC-USD, ETH-USD" in said
    name = json.loads((folder.path / "local-coinbase-key.json").read_text())["name"]
    assert f"key name: {name}\n" in said  # on one line, whole, for copy and paste


@case("coinswarm serve")
def _api_serve(folder: Folder, command: str) -> None:
    tokens = {
        "COINSWARM_API_VIEWER_TOKEN": "readme-viewer-" + "v" * 16,
        "COINSWARM_API_OPERATOR_TOKEN": "readme-operator-" + "o" * 16,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "coinswarm", *shlex.split(command)[1:], "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=folder.path,
        env={**folder.env, **tokens},
    )
    try:
        line = process.stdout.readline() if process.stdout else ""
        found = re.match(r"serving (http://127\.0\.0\.1:\d+/) ", line)
        assert found, f"serve printed {line!r}"
        url = found.group(1)
        with urllib.request.urlopen(url + "api/health", timeout=10) as answer:
            assert json.loads(answer.read())["status"] == "ok"
        viewer = {"Authorization": f"Bearer {tokens['COINSWARM_API_VIEWER_TOKEN']}"}
        refused = urllib.request.Request(url + "api/control/pause", data=b"{}", headers=viewer)
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(refused, timeout=10)
        error.value.close()
        assert error.value.code == 403  # a viewer may look, not act
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr


@case("coinswarm paper --serve --serve-port 8788")
def _paper_serve(folder: Folder, command: str) -> None:
    args = [*shlex.split(command)[1:-1], "0", "--bars", "60", "--speed", str(3600 * 20)]
    process = subprocess.Popen(
        [sys.executable, "-m", "coinswarm", *args, "--quiet", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=folder.path,
        env={**folder.env, "COINSWARM_API_PUBLIC": "1"},
    )
    try:
        said = ""
        while "serving the API" not in said:
            line = process.stderr.readline() if process.stderr else ""
            assert line, f"the session never said where it serves: {said}"
            said += line
        found = re.search(r"at (http://127\.0\.0\.1:\d+)", said)
        assert found, said
        with urllib.request.urlopen(found.group(1) + "/api/system", timeout=10) as answer:
            system = json.loads(answer.read())
        components = {c["id"]: c for c in system["components"]}
        assert components["bus"]["detail"].startswith("in-process")  # fed directly
    finally:
        out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert json.loads(out)["bars"] == 60


@case("coinswarm paper --bus nats://127.0.0.1:4222")
def _paper_bus(folder: Folder, command: str) -> None:
    import socket  # noqa: PLC0415

    try:
        socket.create_connection(("127.0.0.1", 4222), timeout=0.5).close()
    except OSError:
        absent("no NATS server on 127.0.0.1:4222")
    import asyncio  # noqa: PLC0415

    from coinswarm.infra.bus import NatsBus, NatsBusConfig  # noqa: PLC0415

    tag = os.urandom(4).hex()
    stream = {"COINSWARM_BUS_STREAM": f"README{tag}", "COINSWARM_BUS_PREFIX": f"readme{tag}"}
    done = folder.run(command, "--bars", "40", "--speed", "max", "--json", env=stream)
    assert json.loads(done.stdout)["bars"] == 40
    assert "unreachable" not in done.stderr

    async def drop() -> None:  # the stream the session made, on the machine's NATS
        config = NatsBusConfig(stream=f"README{tag}", prefix=f"readme{tag}")
        bus = await NatsBus.connect(config)
        await bus.delete_stream()
        await bus.close()

    asyncio.run(drop())


@case("coinswarm report daily --date 2026-12-06")
def _daily_report(folder: Folder, command: str) -> None:
    # A data folder of its own, with one paper run on the synthetic market (from 2022-01-01).
    home = {"COINSWARM_HOME": str(folder.path / "report-home")}
    paper = "coinswarm paper --speed max --bars 96 --strategy sma-cross --quiet"
    run = json.loads(
        folder.run(paper, "--param", "fast=3", "--param", "slow=8", "--json", env=home).stdout
    )["run"]
    said = folder.run(command, env=home).stderr
    assert "paper: no activity; wrote" in said  # the account was quiet that day: an empty report
    written = folder.path / "report-home" / "reports" / "daily-2026-12-06-paper.html"
    assert "No run of this account was active on 2026-12-06" in written.read_text("utf-8")
    traded = json.loads(
        folder.run(command.replace("2026-12-06", "2022-01-02"), "--json", env=home).stdout
    )
    (report,) = traded["reports"]
    assert report["runs"] == [run]
    assert report["trades"] > 0  # the replay's market day, as the README says
    refused = folder.run(command.replace("2026-12-06", "2026-12-32"), env=home, code=2)
    assert refused.stderr.startswith("error: --date: expected a day as YYYY-MM-DD")
    assert not (folder.path / "report-home" / "reports" / "daily-2026-12-32-paper.html").exists()


@case("coinswarm resume RUN")
def _resume(folder: Folder, command: str) -> None:
    backtest = "coinswarm backtest --data BTC_USDT-1h.csv.gz --checkpoint-every 200"
    killed = folder.run(backtest, env={"COINSWARM_CRASH_AT": "after_checkpoint:3"}, code=-9)
    del killed
    listed = folder.json("coinswarm runs list --status killed --json")
    run = listed["runs"][0]["run"]
    finished = folder.run(command.replace("RUN", run), "--json")
    assert json.loads(finished.stdout)["run"] == run
    assert (
        folder.json(backtest, "--json")["final_equity"]
        == json.loads(finished.stdout)["final_equity"]
    )


@case("coinswarm backtest --strategy committee --data BTC_USDT-1h.csv.gz --store summary")
def _store_summary(folder: Folder, command: str) -> None:
    # A data folder of its own: a summary adds nothing to a run of the same id kept in full.
    home = {"COINSWARM_HOME": str(folder.path / "summary-home")}
    run = json.loads(folder.run(command, "--json", env=home).stdout)["run"]
    shown = folder.run(f"coinswarm runs show {run}", env=home).stdout
    assert '"store": "summary"' in shown
    assert "verdicts 0, votes 0" in shown  # what a summary leaves out
    assert re.search(r"orders [1-9]", shown)
    assert re.search(r"fills [1-9]", shown)


@case("coinswarm runs list --mode paper --status killed")
def _runs_killed(folder: Folder, command: str) -> None:
    paced = subprocess.Popen(
        [sys.executable, "-m", "coinswarm", "paper", "--speed", "60", "--bars", "50", "--quiet"],
        cwd=folder.path,
        env=folder.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while not folder.json("coinswarm runs list --mode paper --status running --json")["runs"]:
            assert time.monotonic() < deadline, "the paper run never showed as running"
            time.sleep(0.5)
    finally:
        paced.kill()  # as kill -9 or a power cut would
        paced.wait()
    killed = folder.json(command, "--json")["runs"]
    assert [entry["status"] for entry in killed] == ["killed"]
    assert killed[0]["resume"] == f"coinswarm resume {killed[0]['run']}"
    assert killed[0]["run"] in folder.run(command).stdout


@case("coinswarm runs show RUN")
def _runs_show(folder: Folder, command: str) -> None:
    run = folder.json("coinswarm backtest --bars 300 --json")["run"]
    shown = folder.run(command.replace("RUN", run)).stdout
    assert f"run: {run} (backtest, sma-cross)" in shown
    assert "status: finished" in shown
    assert "final_equity:" in shown


@case("coinswarm runs prune --older-than 30 --dry-run")
def _runs_prune(folder: Folder, command: str) -> None:
    before = folder.json("coinswarm runs list --json")["runs"]
    assert before, "the runs above are listed"
    assert "would delete 0 runs" in folder.run(command).stdout  # every run here is minutes old
    assert folder.json("coinswarm runs list --json")["runs"] == before


@case("coinswarm db upgrade")
def _db_upgrade(folder: Folder, command: str) -> None:
    folder.run(command)
    assert (folder.path / "home" / "coinswarm.db").exists()


@case("coinswarm audit verify")
def _audit_verify(folder: Folder, command: str) -> None:
    folder.run("coinswarm backtest --bars 300 --quiet")
    said = folder.run(command).stdout
    assert "intact" in said.lower() or "ok" in said.lower(), said


@case("coinswarm audit anchor")
def _audit_anchor(folder: Folder, command: str) -> None:
    folder.run("coinswarm backtest --bars 300 --quiet")
    anchor = folder.path / "home" / "coinswarm.db.audit-anchor"
    anchor.unlink()
    assert folder.run("coinswarm audit verify", code=1).returncode == 1
    folder.run(command)
    folder.run("coinswarm audit verify")


# -- discovery ---------------------------------------------------------------------------------

_DISCOVERY: dict[str, object] = {}
YEAR = ("2021-01-01", "2022-01-01")  # a quarter is too short for the walk-forward windows
EVOLVE = (
    "coinswarm evolve --data BTC_USDT-1h.csv.gz --data ETH_USDT-1h.csv.gz --cycles 30 --workers 2"
)


def _discovery(folder: Folder) -> tuple[Folder, dict[str, object]]:
    """A folder with a year of BTC and ETH and one discovery run (3 cycles) in its database."""
    if not _DISCOVERY:
        year = Folder(folder.path / "discovery")
        year.path.mkdir()
        for name in ("BTC_USDT-1h.csv.gz", "ETH_USDT-1h.csv.gz"):
            _quarter(SHARED / name, year.path / name, span=YEAR)
        summary = year.json(EVOLVE.replace("--cycles 30", "--cycles 3"), "--json")
        _DISCOVERY.update(folder=year, summary=summary)
    found = _DISCOVERY["folder"]
    summary = _DISCOVERY["summary"]
    assert isinstance(found, Folder)
    assert isinstance(summary, dict)
    return found, summary


@case("coinswarm evolve --demo")
def _evolve_demo(folder: Folder, command: str) -> None:
    started = time.monotonic()
    said = folder.run(command).stdout
    assert time.monotonic() - started < 60  # "a first look in under a minute"
    assert "leaderboard: out of sample, after fees" in said
    assert re.search(r"run evo-[0-9a-f]{12}: [0-9]+ trials; PBO", said)


@case(EVOLVE)
def _evolve(folder: Folder, command: str) -> None:
    _, summary = _discovery(folder)
    assert summary["trials"] >= 150  # 50 chaos trades a cycle, and every candidate
    rows = summary["leaderboard"]
    assert isinstance(rows, list)
    assert rows, "a run judges the patterns that reached an out-of-sample window"
    for row in rows:
        assert row["status"] in ("proven", "rejected")
        assert row["n_trials"] == summary["trials"]


@case("coinswarm evolve --resume RUN")
def _evolve_resume(folder: Folder, command: str) -> None:
    year, _ = _discovery(folder)
    args = ["evolve", "--demo", "--cycles", "4", "--seed", "5"]
    process = subprocess.Popen(
        [sys.executable, "-m", "coinswarm", *args],
        cwd=year.path,
        env=year.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
        if "cycle 1/4" in (process.stderr.readline() if process.stderr else ""):
            process.send_signal(signal.SIGINT)  # Ctrl-C: stop after the cycle in hand
            break
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    run = re.search(r"--resume (evo-[0-9a-f]{12})", err)
    assert run, err
    resumed = year.json(command.replace("RUN", run.group(1)), "--json")
    assert resumed["run"] == run.group(1)


@case("coinswarm patterns list --proven --json")
def _patterns_proven(folder: Folder, command: str) -> None:
    year, summary = _discovery(folder)
    listed = json.loads(year.run(command).stdout)
    assert sorted(row["pattern_id"] for row in listed) == sorted(summary["proven"])
    assert all(row["status"] == "proven" for row in listed)


@case("coinswarm patterns show PATTERN")
def _patterns_show(folder: Folder, command: str) -> None:
    year, summary = _discovery(folder)
    rows = summary["leaderboard"]
    assert isinstance(rows, list)
    first = rows[0]["pattern_id"]
    said = year.run(command.replace("PATTERN", first)).stdout
    assert said.startswith(first)
    assert "rule: " in said
    assert "in_sample" in said
    assert "out_of_sample" in said


@case("coinswarm patterns export proven.jsonl", "coinswarm patterns import proven.jsonl")
def _patterns_export_import(folder: Folder, command: str) -> None:
    year, summary = _discovery(folder)
    exported = year.run("coinswarm patterns export proven.jsonl").stdout
    assert f"wrote {len(summary['proven'])} patterns to proven.jsonl" in exported
    other = f"sqlite:///{year.path / 'other.db'}"
    said = year.run("coinswarm patterns import proven.jsonl", "--db", other).stdout
    assert f"of {len(summary['proven'])} from proven.jsonl" in said


@case("coinswarm backtest --strategy committee --patterns proven.jsonl --data BTC_USDT-1h.csv.gz")
def _backtest_with_patterns(folder: Folder, command: str) -> None:
    # A file as a run that proved one pattern would export it (the year above proves none).
    mine = Folder(folder.path / "with-patterns")
    mine.path.mkdir()
    _quarter(SHARED / "BTC_USDT-1h.csv.gz", mine.path / "BTC_USDT-1h.csv.gz")
    oversold = Pattern((Condition("rsi:14", "<", 30),), Side.LONG, Exit(24, take_profit=0.04))
    write_patterns(mine.path / "proven.jsonl", [proven(oversold)], source="evo-readme")
    summary = mine.json(command, "--json", "--quiet")
    assert summary["parameters"]["agents"] == "trend,mean_reversion,risk,pattern"
    assert "proven.jsonl@sha256:" in str(summary["parameters"]["patterns"])  # pinned


def test_every_readme_command_has_a_case() -> None:
    shown = readme_commands(README.read_text(encoding="utf-8"))
    assert len(shown) >= 20
    assert sorted(set(shown) - set(CASES)) == [], "README commands this test does not run"
    assert sorted(set(CASES) - set(shown)) == [], "cases for commands the README no longer shows"


def test_the_quick_start_is_make_demo_then_make_test() -> None:
    text = README.read_text(encoding="utf-8")
    assert "make demo" in text
    assert "make test" in text
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^demo:.*\n\t\$\(BIN\)/coinswarm demo$", makefile, flags=re.MULTILINE)
    assert re.search(r"^test:.*\n\t\$\(BIN\)/python -m pytest$", makefile, flags=re.MULTILINE)


@pytest.mark.parametrize(
    "command", list(dict.fromkeys(readme_commands(README.read_text(encoding="utf-8"))))
)
def test_the_readme_command_does_what_the_readme_says(folder: Folder, command: str) -> None:
    check = CASES.get(command)
    if check is None:
        pytest.fail(f"no case for the README's {command!r}")
    check(folder, command)
