"""A run's folder: its summary and its explanations, kept compact and read back for `explain`."""

from __future__ import annotations

import gzip
import json

import pytest

from coinswarm.backtest.explain import Explanation
from coinswarm.backtest.runs import (
    EXPLANATIONS,
    RunNotFoundError,
    find_explanation,
    read_explanations,
    save_run,
)
from coinswarm.risk.events import RiskNote

REFUSAL = "total loss: equity 9563.86 is 10.1% below the peak 10633.95, max 10%"


def refused(n: int) -> Explanation:
    return Explanation(
        client_order_id=f"BTC-USDT-{n}",
        order_id=f"LOCAL-REJECT-{n:08d}",
        instrument="BTC-USDT",
        decided_ts=1_600_000_000_000_000_000 + n * 3_600_000_000_000,
        bar=None,
        rationale=None,
        risk=RiskNote("rejected", REFUSAL, "BUY MARKET 2390.96 USDT worth GTC", None),
        status="REJECTED",
        reject_reason=f"rejected: {REFUSAL}",
        fills=(),
    )


def test_explanations_are_kept_as_gzipped_lines_and_explain_reads_them(tmp_path):
    explained = [refused(n) for n in range(2000)]
    folder = save_run(tmp_path, "run-1", {"final_equity": 1.0}, explained)
    kept = folder / EXPLANATIONS
    plain = sum(len(json.dumps(e.to_dict(), default=str)) for e in explained)
    assert kept.stat().st_size * 10 < plain  # the same refusal, thousands of times
    assert not (folder / "explanations.json").exists()
    records = read_explanations(tmp_path, "run-1")
    assert list(records) == [e.order_id for e in explained]
    assert records["LOCAL-REJECT-00000007"]["lines"] == explained[7].render()
    assert find_explanation(tmp_path, "run-1", "BTC-USDT-7") == explained[7].render()
    with pytest.raises(RunNotFoundError, match="has no order 'NOPE' \\(2000 orders in it\\)"):
        find_explanation(tmp_path, "run-1", "NOPE")


def test_the_same_run_writes_the_same_bytes(tmp_path):
    first = (save_run(tmp_path / "a", "run-1", {}, [refused(1)]) / EXPLANATIONS).read_bytes()
    second = (save_run(tmp_path / "b", "run-1", {}, [refused(1)]) / EXPLANATIONS).read_bytes()
    assert first == second
    assert gzip.decompress(first).count(b"\n") == 1


def test_a_run_kept_before_in_one_json_file_is_still_explained(tmp_path):
    folder = tmp_path / "run-old"
    folder.mkdir()
    old = refused(3)
    record = {"lines": old.render(), **old.to_dict()}
    (folder / "explanations.json").write_text(json.dumps({old.order_id: record}, default=str))
    assert find_explanation(tmp_path, "run-old", old.order_id) == old.render()
    assert find_explanation(tmp_path, "run-old", old.client_order_id) == old.render()
    with pytest.raises(RunNotFoundError, match="no run 'run-none'"):
        find_explanation(tmp_path, "run-none", old.order_id)
