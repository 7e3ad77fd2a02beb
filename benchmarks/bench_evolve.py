"""Time a whole `coinswarm evolve` run: wall time, cycles a minute, evaluations, memory, verdicts.

    python benchmarks/bench_evolve.py [--data-dir DIR] [--bars 20000] [--cycles 30] [--workers 2]
    python benchmarks/bench_evolve.py --full [--full-cycles 60] [--workers 2]

The default run is `coinswarm evolve --cycles 30 --workers 2` with every other setting at its
default, over one file of the last `--bars` hourly bars of BTC/USDT (written to a temporary
folder as BTC_USDT-1h.csv.gz); the goal is under 10 minutes on this 2-core machine. `--full`
runs instead `--cycles 60` over the whole BTC/USDT and ETH/USDT files (2018 to 2023), whose goal
is under 45 minutes.

The command runs in a child process with a fresh COINSWARM_HOME (so a new SQLite store) as
`coinswarm` runs it (`coinswarm.cli.main`), with one addition: the executor it builds is wrapped
to count the items it is handed (one item: one pattern scored over one window) and the time they
take. Printed: wall time, cycles a minute, evaluations a second over the whole run and while
evaluating, the share of the run spent evaluating, the CPU time of the whole process tree, the
peak resident memory of its largest process (`getrusage(RUSAGE_CHILDREN)`: the command or one
of its workers, whichever peaked highest), and the run's trial count and proven patterns from
its closing line. The machine's load average is printed before and after: other jobs on a
shared machine lengthen the wall time.

This prints figures; it never asserts on time. Without the data files it says why and exits 0.
"""

# coinswarm's CLI is imported in the child only.
# ruff: noqa: PLC0415

from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from paths import DEFAULT_DATA

DATA_DIR = DEFAULT_DATA.parent
SUMMARY = re.compile(
    r"run (?P<run>\S+): (?P<trials>\d+) trials; .*?proven:\s*(?P<proven>\S+)", re.DOTALL
)
PAGE = os.sysconf("SC_PAGE_SIZE")
TICKS = os.sysconf("SC_CLK_TCK")


class TreeSampler(threading.Thread):
    """Sample a process and its descendants from /proc every `interval` seconds: the peak of
    their summed resident memory, each one's own peak (VmHWM), and each one's CPU time as last
    seen. getrusage(RUSAGE_CHILDREN) sees only the descendants waited for, and a pool's
    workers, forked from the forkserver, are not: this sees them while they live."""

    def __init__(self, root: int, interval: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.interval = interval
        self.peak_total = 0
        self.peak_one = 0
        self.cpu: dict[int, float] = {}
        self.processes = 0
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            self.sample()
            self._done.wait(self.interval)

    def stop(self) -> None:
        self._done.set()
        self.join()

    def sample(self) -> None:
        parents: dict[int, int] = {}
        stats: dict[int, list[str]] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    text = Path(f"/proc/{entry}/stat").read_text()
                except OSError:
                    continue  # gone meanwhile
                fields = text.rsplit(")", 1)[1].split()
                parents[int(entry)] = int(fields[1])
                stats[int(entry)] = fields
        tree = {self.root}
        grew = True
        while grew:
            more = {pid for pid, parent in parents.items() if parent in tree} - tree
            tree |= more
            grew = bool(more)
        total = 0
        for pid in tree & stats.keys():
            fields = stats[pid]
            self.cpu[pid] = (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime
            total += int(fields[21]) * PAGE  # rss, in pages
            self.peak_one = max(self.peak_one, _high_water(pid))
        self.peak_total = max(self.peak_total, total)
        self.processes = max(self.processes, len(tree & stats.keys()))


def _high_water(pid: int) -> int:
    """Return a process's peak resident memory in bytes (0 if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


# --- the child: the command, its executor counted -----------------------------------------------


class CountingExecutor:
    """An executor that hands every call to the real one and counts items and seconds."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.items = 0
        self.calls = 0
        self.seconds = 0.0
        self.batches: list[tuple[int, float]] = []

    @property
    def workers(self) -> int:
        return int(self.inner.workers)

    def run(self, workload: Any, items: Any, *, item_seconds: float | None = None) -> Any:
        started = time.perf_counter()
        try:
            return self.inner.run(workload, items, item_seconds=item_seconds)
        finally:
            elapsed = time.perf_counter() - started
            self.seconds += elapsed
            self.items += len(items)
            self.calls += 1
            self.batches.append((len(items), elapsed))

    def close(self) -> None:
        self.inner.close()

    def __enter__(self) -> Self:
        self.inner.__enter__()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.inner.__exit__(kind, error, traceback)


def child(stats_path: Path, argv: list[str]) -> int:
    """Run `coinswarm *argv` here, its executor counted; write the counts to `stats_path`."""
    from coinswarm.evolution import workers

    built: list[CountingExecutor] = []
    make_executor = workers.make_executor

    def counted(count: int, ray_address: str | None) -> CountingExecutor:
        executor = CountingExecutor(make_executor(count, ray_address))
        built.append(executor)
        return executor

    workers.make_executor = counted  # the command imports it from the module when it runs
    from coinswarm.cli import main

    sys.argv = ["coinswarm", *argv]
    code = 0
    try:
        main()
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    stats = {
        "items": sum(e.items for e in built),
        "calls": sum(e.calls for e in built),
        "seconds": sum(e.seconds for e in built),
        "batches": [batch for e in built for batch in e.batches],
    }
    stats_path.write_text(json.dumps(stats))
    return code


# --- the parent: data, the run, the figures -------------------------------------------------------


def last_bars(source: Path, bars: int, target: Path) -> int:
    """Write the last `bars` rows of a gzipped bar CSV to `target`; return how many."""
    with gzip.open(source, "rt", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        rows = list(reader)[-bars:]
    with gzip.open(target, "wt", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return len(rows)


def load_average() -> str:
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


def time_run(label: str, files: list[Path], cycles: int, workers: int, goal_minutes: float) -> None:
    """Run `coinswarm evolve` on `files` in a child process and print its figures."""
    command = ["evolve", *(f"--data={f}" for f in files), f"--cycles={cycles}"]
    command.append(f"--workers={workers}")
    print(f"{label}: coinswarm {' '.join(command)}")
    print(f"  load average before (1, 5, 15 min): {load_average()}")
    with tempfile.TemporaryDirectory(prefix="bench-evolve-") as home:
        stats_path = Path(home) / "stats.json"
        env = {k: v for k, v in os.environ.items() if k != "COINSWARM_DATABASE_URL"}
        env |= {"COINSWARM_HOME": home, "COINSWARM_PROGRESS": "off", "COLUMNS": "200"}
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, __file__, "--child", str(stats_path), "--", *command],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        sampler = TreeSampler(process.pid)
        sampler.start()
        stdout, stderr = process.communicate()
        wall = time.perf_counter() - started
        sampler.stop()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if process.returncode != 0 or not stats_path.is_file():
            print(f"  failed (exit {process.returncode}):\n{stderr[-3000:]}")
            return
        stats = json.loads(stats_path.read_text())
    summary = SUMMARY.search(stdout)
    waited = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    tree_cpu = sum(sampler.cpu.values())
    verdict = "within" if wall <= goal_minutes * 60 else "over"
    print(f"  wall time: {wall / 60:.2f} min ({wall:.1f} s), goal {goal_minutes:g} min: {verdict}")
    print(f"  cycles a minute: {cycles / (wall / 60):.1f}")
    print(
        f"  evaluations: {stats['items']:,} in {stats['calls']} batches; "
        f"{stats['items'] / wall:,.0f}/s over the run, {stats['items'] / stats['seconds']:,.0f}/s"
        f" while evaluating ({stats['seconds'] / wall:.0%} of the wall time)"
    )
    print(
        f"  CPU: {tree_cpu:.1f} s over its {sampler.processes} processes as sampled"
        f" ({tree_cpu / wall:.2f} cores on average); {waited:.1f} s in those waited for"
    )
    # ru_maxrss is in kilobytes on Linux: the largest of the descendants waited for.
    print(
        f"  peak memory: getrusage(RUSAGE_CHILDREN) max RSS {after.ru_maxrss / 1024:.0f} MB"
        f" (the command's own process); sampled, the largest process {sampler.peak_one / 2**20:.0f}"
        f" MB and all of them together {sampler.peak_total / 2**20:.0f} MB at their peak"
    )
    if summary:
        proven = summary["proven"]
        print(
            f"  run {summary['run']}: {int(summary['trials']):,} trials, proven: "
            f"{0 if proven == 'nothing' else proven}"
        )
    else:
        print(f"  (no closing line found in the output; its end:)\n{stdout[-1500:]}")
    print(f"  load average after: {load_average()}")


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        return child(Path(sys.argv[2]), sys.argv[4:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--bars", type=int, default=20_000, help="bars of the short run")
    parser.add_argument("--cycles", type=int, default=30, help="cycles of the short run")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--full", action="store_true", help="the long run: BTC and ETH 2018-2023 (tens of minutes)"
    )
    parser.add_argument("--full-cycles", type=int, default=60)
    args = parser.parse_args()
    btc = args.data_dir / "BTC_USDT-1h.csv.gz"
    eth = args.data_dir / "ETH_USDT-1h.csv.gz"
    needed = [btc, eth] if args.full else [btc]
    missing = [str(p) for p in needed if not p.is_file()]
    if missing:
        print(f"skipped: data file not found: {', '.join(missing)}")
        return 0
    if args.full:
        time_run(
            "BTC/USDT and ETH/USDT 1h, 2018-2023", [btc, eth], args.full_cycles, args.workers, 45
        )
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-evolve-data-") as folder:
        short = Path(folder) / "BTC_USDT-1h.csv.gz"  # the name tells the loader the instrument
        written = last_bars(btc, args.bars, short)
        time_run(
            f"the last {written:,} bars of BTC/USDT 1h", [short], args.cycles, args.workers, 10
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
