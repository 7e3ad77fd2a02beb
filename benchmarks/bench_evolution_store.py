"""Discovery cycles committed per second on SQLite and on PostgreSQL, and the ledger read back.

    python benchmarks/bench_evolution_store.py [--cycles 5] [--trials 5000] [--patterns 200]

Each cycle is what the loop commits (`Store.commit_cycle`, one transaction): `--trials` trial
ledger entries, `--patterns` patterns (half new with two parents each, half changing the
standing of last cycle's), a score for each, and the state. Then the whole ledger is read back
(`Store.trials`). SQLite runs with synchronous=FULL in a temporary folder; PostgreSQL needs a
server on 127.0.0.1:5432, and without one this prints why and carries on. Figures only.
"""

from __future__ import annotations

import argparse
import time

from bench_storage import _postgresql, _sqlite
from coinswarm.domain.pattern import Condition, Exit, Pattern, Sample, Score, Side, Source
from coinswarm.infra.storage import PatternUpdate, Store, Trial

START_NS = 1_577_836_800 * 1_000_000_000
HOUR = 3_600_000_000_000


def _pattern(cycle: int, n: int) -> Pattern:
    return Pattern(
        entry=(Condition("rsi:14", "<", 20.0 + n / 7), Condition("ret:24", ">", cycle / 100)),
        side=Side.LONG if n % 2 else Side.SHORT,
        exit=Exit(max_bars=24, take_profit=0.05, stop_loss=0.02),
        source=Source.EVOLVED,
        parents=(f"{n:016x}", f"{n + 1:016x}"),
    )


def _cycle(cycle: int, trials: int, patterns: int) -> dict[str, object]:
    born = [_pattern(cycle, n) for n in range(patterns // 2)]
    kept = [_pattern(cycle - 1, n) for n in range(patterns // 2)] if cycle else []
    updates = [PatternUpdate(pattern=p, status="candidate", born_cycle=cycle) for p in born]
    updates += [PatternUpdate(pattern=p, status="demoted", born_cycle=cycle - 1) for p in kept]
    window = (START_NS + cycle * HOUR, START_NS + (cycle + 1000) * HOUR)
    score = Score(Sample.IN_SAMPLE, *window, ("BTC-USDT",), "1h", 30, 0.1, 0.9, pbo=0.2)
    return {
        "trials": [
            Trial(kind="child", in_sample_sharpe=n / trials, trades=n % 50) for n in range(trials)
        ],
        "patterns": updates,
        "scores": [(u.pattern.id, score) for u in updates],
        "state_json": '{"population":[]}',
    }


def _measure(backend: str, url: str, cycles: int, trials: int, patterns: int) -> None:
    with Store.open(url, upgrade=True) as store:
        store.create_evolution_run("bench", "{}", START_NS)
        spent = 0.0
        for cycle in range(cycles):
            contents = _cycle(cycle, trials, patterns)
            began = time.perf_counter()
            store.commit_cycle("bench", cycle, **contents)  # type: ignore[arg-type]
            spent += time.perf_counter() - began
        began = time.perf_counter()
        count = len(store.trials("bench"))
        read = time.perf_counter() - began
    print(
        f"{backend:<11} commit_cycle {spent / cycles * 1000:7.1f} ms a cycle "
        f"({trials} trials, {patterns} patterns and scores: {cycles * trials / spent:,.0f} "
        f"trials/s)  trials() {count} in {read * 1000:.0f} ms"
    )


def main() -> None:
    """Print the time one discovery cycle takes to commit, and to read the ledger back."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=5)
    parser.add_argument("--trials", type=int, default=5000)
    parser.add_argument("--patterns", type=int, default=200)
    args = parser.parse_args()
    with _sqlite() as url:
        _measure("SQLite", url, args.cycles, args.trials, args.patterns)
    try:
        with _postgresql() as url:
            _measure("PostgreSQL", url, args.cycles, args.trials, args.patterns)
    except ConnectionError as exc:
        print(f"PostgreSQL  skipped: {exc}")


if __name__ == "__main__":
    main()
