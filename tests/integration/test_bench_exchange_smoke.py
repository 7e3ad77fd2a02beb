"""The exchange benchmark runs end to end at tiny sizes: figures printed, nothing lost.

It serves the local Coinbase-compatible exchange on 127.0.0.1 (HTTPS and WSS) four times. No
figure is checked against a time: only that each figure line is printed and that the
exchange's own record (its control API) holds exactly the orders the door sent, all
cancelled, and none were refused on the way.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_exchange.py"
ORDERS, BATCH, LIMITED, TICKS = 12, 5, 4, 5


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_exchange", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Dataclasses look their module up in sys.modules while the class body is processed.
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[spec.name]
        raise
    return module


@pytest.fixture(scope="module")
def bench() -> Iterator[ModuleType]:
    module = load_script()
    yield module
    sys.modules.pop("bench_exchange", None)


def test_prints_every_figure_and_the_exchange_holds_exactly_the_orders_sent(
    bench: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    reports: list[object] = []
    argv = [
        *("--orders", str(ORDERS), "--batch", str(BATCH)),
        *("--limited-orders", str(LIMITED), "--ticks", str(TICKS)),
    ]

    code = bench.main(argv, sink=reports)

    out = capsys.readouterr().out
    assert code == 0, out
    for line in (
        "door throughput",
        f"no limits, {ORDERS} resting",
        f"no limits, {BATCH} at a time",
        "client 30/s, exchange open",
        "client 30/s, exchange 30/s",
        "goal 10,000 orders/min",
        f"over {TICKS} ticks",
        "tick-to-order",
        "decision (feed, strategy, door)",
        "adapter (round, sign, httpx)",
        "roadmap market data < 100 ms",
        "peak memory",
    ):
        assert line in out, f"{line!r} missing from:\n{out}"
    (report,) = reports
    asked = [ORDERS, ORDERS, LIMITED, LIMITED]
    assert [len(run.submit_ns) for run in report.door] == asked
    for run, count in zip(report.door, asked, strict=True):
        assert not run.refused, run.refused
        assert len(run.cancel_ns) == count
        assert len(run.round_trips) >= count  # a 429 answered makes one POST more
        assert len(set(run.record.sent)) == count
        assert run.record.at_exchange == run.record.sent
        assert run.record.statuses == (("CANCELLED", count),)
    ticks = report.ticks
    assert not ticks.refused, ticks.refused
    assert len(ticks.ticks) == TICKS
    assert ticks.record.at_exchange == ticks.record.sent
    assert ticks.record.statuses == (("CANCELLED", TICKS),)
    for tick in ticks.ticks:
        # The moments of one tick come in the order the path takes them.
        assert tick.received <= tick.entered_adapter <= tick.sent <= tick.answered


def test_the_record_check_sees_a_missing_order(bench: ModuleType) -> None:
    sent = ("a", "b")
    assert bench.RecordCheck(sent, sent, (("CANCELLED", 2),)).matches
    assert not bench.RecordCheck(sent, ("a",), (("CANCELLED", 1),)).matches
    assert not bench.RecordCheck(sent, sent, (("CANCELLED", 1), ("OPEN", 1))).matches


def test_busiest_second_counts_a_sliding_window(bench: ModuleType) -> None:
    second = 1_000_000_000
    stamps = [0, 1, 2, second - 1, second, second + 2, 3 * second]
    # Within any one second: 1, 2, second - 1 and second; never 0 and second together.
    assert bench.busiest_second(stamps) == 4
    assert bench.busiest_second([]) == 0
