"""What telemetry costs a session: a paper run at full speed, with and without live events.

    python benchmarks/bench_telemetry.py [--bars 8760] [--strategy committee] [--repeat 3]

Runs the same paper session (the synthetic market, no pacing: the engine as fast as it goes)
without telemetry, with telemetry to a server in this process that takes every event
(`--serve`'s path, through the real publisher), and with telemetry to a NATS that is down
(`--bus` to a closed port), after an untimed warm-up run. Prints the best wall and CPU
seconds of `--repeat` runs, the microseconds a bar, the events published and dropped, and
checks that every run ends with the same equity. Figures, not a test: nothing asserts on time.
"""

# ruff: noqa: PLC0415

from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
import time
from contextlib import closing
from decimal import Decimal
from pathlib import Path
from typing import Any


def free_port() -> int:
    with closing(socket.socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def one_run(folder: Path, bars: int, strategy: str, sink: str) -> tuple[float, float, Any, Any]:
    from coinswarm import bootstrap
    from coinswarm.infra.telemetry import Telemetry
    from coinswarm.infra.telemetry_send import (
        CallbackTransport,
        NatsTransport,
        Publisher,
        Publishers,
        bus_config,
    )

    publisher = None
    if sink == "server":
        taken: list[int] = [0]

        def take(_event: dict[str, Any]) -> bool:
            taken[0] += 1
            return True

        publisher = Publisher(CallbackTransport(take))
    elif sink == "bus-down":
        publisher = Publisher(NatsTransport(bus_config(f"nats://127.0.0.1:{free_port()}")))
    telemetry = None if publisher is None else Telemetry(Publishers([publisher]))
    folder.mkdir(parents=True)
    request = bootstrap.BacktestRequest(
        strategy=strategy,
        synthetic_bars=bars,
        mode="paper",
        cash=Decimal(100_000),
        phase="1",
        database=f"sqlite:///{folder / 'paper.db'}",
        state_file=folder / "risk.json",
    )
    wall, cpu = time.perf_counter(), time.process_time()
    outcome = bootstrap.run(request, telemetry=telemetry)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if publisher is not None:
        publisher.close(timeout_s=5.0)
    return wall, cpu, outcome.result.final_equity, publisher


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bars", type=int, default=8760)
    parser.add_argument("--strategy", default="committee")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-telemetry-") as name:
        os.environ["COINSWARM_HOME"] = name
        print(f"paper {args.strategy}, {args.bars:,} synthetic hourly bars, full speed")
        print(f"{'telemetry':<12}{'wall s':>9}{'cpu s':>9}{'us/bar':>9}{'sent':>10}{'dropped':>10}")
        one_run(Path(name) / "warm-up", args.bars, args.strategy, "none")  # imports, caches
        equities = set()
        for sink in ("none", "server", "bus-down"):
            best: tuple[float, float, Any, Any] | None = None
            for n in range(args.repeat):
                run = one_run(Path(name) / f"{sink}-{n}", args.bars, args.strategy, sink)
                equities.add(run[2])
                best = run if best is None or run[0] < best[0] else best
            assert best is not None
            wall, cpu, _equity, publisher = best
            sent = "-" if publisher is None else f"{publisher.sent:,}"
            dropped = "-" if publisher is None else f"{publisher.dropped:,}"
            per_bar = wall / args.bars * 1e6
            print(f"{sink:<12}{wall:>9.2f}{cpu:>9.2f}{per_bar:>9.0f}{sent:>10}{dropped:>10}")
        same = "the same final equity" if len(equities) == 1 else f"DIFFERENT: {equities}"
        print(f"every run: {same}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
