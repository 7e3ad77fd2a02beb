"""How long `coinswarm` takes to answer before it does any work: wall time, CPU, peak memory.

    python benchmarks/bench_startup.py [--runs 15] [--baseline]

Runs `coinswarm --help`, `coinswarm risk status` and `coinswarm version`, each `--runs` times
in a fresh process (`python -m coinswarm`, as the `coinswarm` script does), with a temporary
COINSWARM_HOME so that nothing of the user's is read or written, and prints the median wall
time, the median CPU time (user + system) and the peak resident memory of each. `--baseline`
adds the floor: an empty interpreter, and one that imports typer and the Typer parameter layer
(pydantic, since typer 0.29), which every command pays for, and what each command costs above
it. The rows take turns, so a shared machine's changing load weighs on each alike. Figures
only: nothing here asserts on time (tests/unit/test_cli_startup.py guards the imports instead).
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
FLOOR = "import typer + rich + pydantic"
BASELINES = {
    "python -c pass": "pass",
    FLOOR: "import typer, rich.console; from pydantic import TypeAdapter; TypeAdapter(int)",
}

Figures = tuple[float, float, float]  # wall seconds, CPU seconds, peak RSS MB


def once(argv: list[str], env: dict[str, str]) -> Figures:
    """Run `argv` once; return its wall seconds, CPU seconds (user + system) and peak RSS MB."""
    started = time.perf_counter()
    # wait4 gives this one child's own CPU time and peak RSS (getrusage's maxrss is the
    # largest of every child so far, which would hide a smaller command after a larger).
    child = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert child.stderr is not None
    error = child.stderr.read().decode(errors="replace").strip()
    _pid, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    child.stderr.close()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({code}): {error}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def measure(
    rows: list[tuple[str, list[str]]], env: dict[str, str], runs: int
) -> dict[str, Figures]:
    """Return each row's median wall, median CPU and peak RSS over `runs` rounds.

    The rows take turns, one run each per round, so that a machine whose load changes (it is
    shared) weighs on every row alike and the gaps between rows stay meaningful.
    """
    seen: dict[str, list[Figures]] = {name: [] for name, _ in rows}
    for _ in range(runs):
        for name, argv in rows:
            seen[name].append(once(argv, env))
    return {
        name: (
            statistics.median(w for w, _, _ in got),
            statistics.median(c for _, c, _ in got),
            max(r for _, _, r in got),
        )
        for name, got in seen.items()
    }


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
        for name in ("COINSWARM_REDIS_URL", "COINSWARM_DATABASE_URL", "COINSWARM_CONFIG"):
            env.pop(name, None)  # the figures are of the embedded defaults
        rows = [
            (f"coinswarm {' '.join(c)}", [sys.executable, "-m", "coinswarm", *c]) for c in COMMANDS
        ]
        if args.baseline:
            rows += [(n, [sys.executable, "-c", code]) for n, code in BASELINES.items()]
        figures = measure(rows, env, args.runs)
    floor = figures[FLOOR][1] if args.baseline else None
    header = f"{'command':<34} {'wall s':>8} {'CPU s':>8} {'peak RSS MB':>12}"
    header += "  CPU above floor" if floor is not None else ""
    print(f"{header}   (median of {args.runs} runs)")
    for name, (wall, cpu, peak) in figures.items():
        line = f"{name:<34} {wall:8.3f} {cpu:8.3f} {peak:12.1f}"
        print(line if floor is None else f"{line} {cpu - floor:16.3f}")
    load = os.getloadavg()[0]
    print(f"load average {load:.2f} on {os.cpu_count()} cores; medians of fresh processes")


if __name__ == "__main__":
    main()
