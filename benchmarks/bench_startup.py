"""How long `coinswarm` takes to answer before it does any work: wall time, CPU, peak memory.

    python benchmarks/bench_startup.py [--runs 15] [--baseline]

Runs `coinswarm --help`, `coinswarm risk status` and `coinswarm version`, each `--runs` times
in a fresh process (`python -m coinswarm`, as the `coinswarm` script does), with a temporary
COINSWARM_HOME so that nothing of the user's is read or written, and prints the median wall
time, the median CPU time (user + system) and the peak resident memory of each. `--baseline`
adds the floor: an empty interpreter, and one that imports typer and the Typer parameter layer
(pydantic, since typer 0.29), which every command pays for. Figures only: nothing here asserts
on time (tests/unit/test_cli_startup.py guards the imports instead).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COMMANDS = (("--help",), ("risk", "status"), ("version",))
BASELINES = {
    "python -c pass": "pass",
    "import typer + rich + pydantic": (
        "import typer, rich.console; from pydantic import TypeAdapter; TypeAdapter(int)"
    ),
}


def measure(argv: list[str], env: dict[str, str], runs: int) -> tuple[float, float, float]:
    """Return the median wall seconds, median CPU seconds and peak RSS MB of `argv`."""
    walls, cpus, peaks = [], [], []
    for _ in range(runs):
        started = time.perf_counter()
        # wait4 gives this one child's own CPU time and peak RSS (getrusage's maxrss is the
        # largest of every child so far, which would hide a smaller command after a larger).
        child = subprocess.Popen(
            argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=None
        )
        _pid, status, usage = os.wait4(child.pid, 0)
        walls.append(time.perf_counter() - started)
        child.returncode = os.waitstatus_to_exitcode(status)
        assert child.stderr is not None
        error = child.stderr.read().decode(errors="replace").strip()
        child.stderr.close()
        if child.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed ({child.returncode}): {error}")
        cpus.append(usage.ru_utime + usage.ru_stime)
        peaks.append(usage.ru_maxrss / 1024)
    return statistics.median(walls), statistics.median(cpus), max(peaks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--baseline", action="store_true", help="also time the floor")
    args = parser.parse_args()
    source = Path(__file__).resolve().parents[1] / "src"
    with tempfile.TemporaryDirectory(prefix="coinswarm-bench-startup-") as home:
        env = {
            **os.environ,
            "COINSWARM_HOME": home,
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(source), os.environ.get("PYTHONPATH", "")) if p
            ),
        }
        for name in ("COINSWARM_REDIS_URL", "COINSWARM_DATABASE_URL"):
            env.pop(name, None)  # the figures are of the embedded defaults
        rows: list[tuple[str, list[str]]] = [
            (f"coinswarm {' '.join(c)}", [sys.executable, "-m", "coinswarm", *c]) for c in COMMANDS
        ]
        if args.baseline:
            rows += [(n, [sys.executable, "-c", code]) for n, code in BASELINES.items()]
        print(
            f"{'command':<34} {'wall s':>8} {'CPU s':>8} {'peak RSS MB':>12}   ({args.runs} runs)"
        )
        for name, argv in rows:
            wall, cpu, peak = measure(argv, env, args.runs)
            print(f"{name:<34} {wall:8.3f} {cpu:8.3f} {peak:12.1f}")
    load = os.getloadavg()[0]
    print(f"load average {load:.2f} on {os.cpu_count()} cores; medians of fresh processes")


if __name__ == "__main__":
    main()
