"""The patterns file: what export writes, import and --patterns read back, and bad files
refused with the file, line and field named."""

from __future__ import annotations

import hashlib
import json

import pytest

from coinswarm.data.pattern_file import ExportedPattern, read_patterns, write_patterns
from coinswarm.domain.errors import DataError
from coinswarm.domain.pattern import Condition, Exit, Pattern, Sample, Score, Side, Source

DIP = Pattern(
    (Condition("ret:24", "<", -0.06),),
    Side.LONG,
    Exit(24),
    source=Source.CHAOS,
    scores=(Score(Sample.OUT_OF_SAMPLE, 0, 10, ("BTC-USD",), "1h", 40, 0.3, 2.1, pbo=0.1),),
)
RSI = Pattern((Condition("rsi:14", "<", 30),), Side.LONG, Exit(20), source=Source.ACADEMIC)


def exported(tmp_path):
    path = tmp_path / "patterns.jsonl"
    write_patterns(
        path,
        [ExportedPattern(DIP, "proven"), ExportedPattern(RSI, "rejected", "3 trades")],
        source="evo-1",
    )
    return path


def test_a_file_reads_back_as_written_scores_and_statuses_included(tmp_path):
    back = read_patterns(exported(tmp_path))
    assert [e.pattern for e in back] == [DIP, RSI]
    assert back[0].pattern.scores == DIP.scores
    assert [(e.status, e.reason) for e in back] == [("proven", ""), ("rejected", "3 trades")]


def test_a_file_cut_short_or_edited_is_corrupt(tmp_path):
    path = exported(tmp_path)
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(DataError, match=r"patterns.jsonl: corrupt"):
        read_patterns(path)
    path.write_text("\n".join([lines[0], lines[1].replace("-0.06", "-0.05"), lines[2]]) + "\n")
    with pytest.raises(DataError, match="corrupt"):
        read_patterns(path)


def test_an_unknown_feature_names_its_line_and_field(tmp_path):
    path = tmp_path / "p.jsonl"
    bad = Pattern((Condition("astrology:3", ">", 1),), Side.LONG, Exit(5))
    write_patterns(
        path, [ExportedPattern(RSI, "proven"), ExportedPattern(bad, "proven")], source="x"
    )
    with pytest.raises(DataError, match=r"p.jsonl:3: field 'feature': .*astrology"):
        read_patterns(path)


def test_not_a_patterns_file_is_refused_on_its_first_line(tmp_path):
    path = tmp_path / "bars.csv"
    path.write_text("ts,open,high,low,close,volume\n")
    with pytest.raises(DataError, match=r"bars.csv:1: not a patterns file"):
        read_patterns(path)
    with pytest.raises(DataError, match="no such patterns file"):
        read_patterns(tmp_path / "missing.jsonl")


def test_a_wrong_id_inside_a_consistent_file_is_refused(tmp_path):
    path = tmp_path / "p.jsonl"
    write_patterns(path, [ExportedPattern(DIP, "proven")], source="x")
    header, line = path.read_text().splitlines()
    data = json.loads(line) | {"id": "0" * 16}
    body = json.dumps(data, sort_keys=True, separators=(",", ":"))
    head = json.loads(header) | {"sha256": hashlib.sha256(body.encode()).hexdigest()}
    path.write_text(json.dumps(head, sort_keys=True) + "\n" + body + "\n")
    with pytest.raises(DataError, match=r"p.jsonl:2: pattern id 0{16} does not match"):
        read_patterns(path)
