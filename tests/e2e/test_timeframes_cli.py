"""`coinswarm data resample`, `--timeframe` and `data inspect --pair` as a person runs them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cli_harness import coinswarm
from coinswarm.data import load_bars, synthetic_market, write_bars
from coinswarm.domain.bar import NS_PER_HOUR, BarSeries

HOURS = 24 * 30 + 5  # 30 days and 5 hours: the last 4h and 1d buckets are unfinished


def hourly_file(folder: Path, name: str = "BTC_USDT-1h.csv.gz", *, gap: bool = True) -> Path:
    series = synthetic_market(instrument="BTC-USDT", bars=HOURS, seed=3)
    if gap:  # three missing hours inside the tenth day: a gap stays a gap
        keep = np.ones(len(series), dtype=np.bool_)
        keep[24 * 9 + 5 : 24 * 9 + 8] = False
        series = BarSeries(
            series.instrument,
            series.interval_ns,
            *(getattr(series, c)[keep] for c in ("ts", "open", "high", "low", "close", "volume")),
        )
    path = folder / name
    write_bars(series, path)
    return path


def test_resample_writes_beside_the_input_and_says_what_it_wrote(tmp_path):
    source = hourly_file(tmp_path)
    done = coinswarm("data", "resample", str(source), "--to", "4h")
    assert done.returncode == 0, done.stderr
    out = tmp_path / "BTC_USDT-4h.csv.gz"
    written = load_bars(out)
    assert written.instrument == "BTC-USDT"
    assert written.interval_ns == 4 * NS_PER_HOUR
    assert len(written) == 30 * 6 + 1  # day 31 has 00:00-04:00: its 04:00 bucket is unfinished
    assert (written.ts % (4 * NS_PER_HOUR) == 0).all()
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"{out}: 181 BTC-USDT bars of 4h from {HOURS - 3} of 1h")
    assert "1 of them cover a gap" in done.stdout  # 05:00-07:00 of day ten: one 4h bucket
    assert "opening 2022-01-31T04:00:00Z, was dropped" in done.stdout
    hourly = load_bars(source)  # every bar but the dropped last one is in the 4h volume
    assert written.volume.sum() == pytest.approx(hourly.volume[:-1].sum(), rel=1e-12)


def test_resample_refuses_to_overwrite_unless_forced(tmp_path):
    source = hourly_file(tmp_path)
    out = tmp_path / "daily.csv"
    out.write_text("keep me\n")
    refused = coinswarm("data", "resample", str(source), "--to", "1d", "--out", str(out))
    assert refused.returncode == 2
    assert refused.stderr.startswith("error: ")
    assert len(refused.stderr.splitlines()) == 1
    assert "--force" in refused.stderr
    assert out.read_text() == "keep me\n"
    forced = coinswarm("data", "resample", str(source), "--to", "1d", "--out", str(out), "--force")
    assert forced.returncode == 0, forced.stderr
    assert len(load_bars(out, instrument="BTC-USDT")) == 30


def test_resample_refuses_a_finer_or_uneven_target_and_writes_nothing(tmp_path):
    source = hourly_file(tmp_path)
    coinswarm("data", "resample", str(source), "--to", "4h")
    four_hourly = tmp_path / "BTC_USDT-4h.csv.gz"
    before = sorted(p.name for p in tmp_path.iterdir())
    for target, expected in (
        ("1h", "whole multiple of the source's 4h, found 1h"),
        ("4h", "already holds 4h bars"),
        ("2h", "expected a bar interval"),
    ):
        done = coinswarm("data", "resample", str(four_hourly), "--to", target)
        assert done.returncode == 2
        assert done.stderr.startswith("error: "), done.stderr
        assert expected in done.stderr
        assert len(done.stderr.splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_a_file_without_the_instrument_in_its_name_needs_pair(tmp_path):
    source = hourly_file(tmp_path, "prices.csv")
    refused = coinswarm("data", "resample", str(source), "--to", "1d")
    assert refused.returncode == 2
    assert "pass --pair" in refused.stderr
    done = coinswarm("data", "resample", str(source), "--to", "1d", "--pair", "btc/usdt")
    assert done.returncode == 0, done.stderr
    assert load_bars(tmp_path / "BTC_USDT-1d.csv").interval_ns == 24 * NS_PER_HOUR


def test_inspect_takes_the_instrument_of_an_unnamed_file_from_pair(tmp_path):
    source = hourly_file(tmp_path, "export.csv")
    refused = coinswarm("data", "inspect", str(source))
    assert refused.returncode == 2
    assert "cannot tell the instrument" in refused.stderr
    done = coinswarm("data", "inspect", str(source), "--pair", "ETH-USD")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ETH-USD  1h bars  2022-01-01T00:00:00Z")
    assert "gaps      1 (3 bars missing)" in done.stdout
    bad = coinswarm("data", "inspect", str(source), "--pair", "ETHUSD")
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: --pair: expected BASE/QUOTE")


def summary(*args: str, home: Path) -> dict[str, object]:
    done = coinswarm(
        "backtest", "--json", "--quiet", "--param", "fast=3", "--param", "slow=8", *args, home=home
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def test_a_backtest_on_a_resampled_file_equals_one_with_timeframe(tmp_path):
    source = hourly_file(tmp_path, gap=True)
    assert coinswarm("data", "resample", str(source), "--to", "4h").returncode == 0
    home = tmp_path / "home"
    on_file = summary("--data", str(tmp_path / "BTC_USDT-4h.csv.gz"), home=home)
    in_memory = summary("--data", str(source), "--timeframe", "4h", home=home)
    hourly = summary("--data", str(source), home=home)
    assert on_file["trades"] > 0
    assert on_file.pop("run") != in_memory.pop("run")  # the data files differ: so do the ids
    assert on_file == in_memory
    assert in_memory["periods_per_year"] == 2190
    assert hourly["periods_per_year"] == 8760
    assert hourly["final_equity"] != in_memory["final_equity"]


def test_a_timeframe_finer_than_the_data_stops_before_any_work(tmp_path):
    source = hourly_file(tmp_path)
    assert coinswarm("data", "resample", str(source), "--to", "1d").returncode == 0
    daily = str(tmp_path / "BTC_USDT-1d.csv.gz")
    home, runs = tmp_path / "home", tmp_path / "runs"
    for command in (
        ("backtest", "--data", daily, "--timeframe", "4h", "--runs-dir", str(runs)),
        ("paper", "--data", daily, "--timeframe", "4h", "--speed", "max", "--runs-dir", str(runs)),
    ):
        done = coinswarm(*command, home=home)
        assert done.returncode == 2, done.stdout
        assert done.stderr == (
            "error: --timeframe 4h: BTC-USDT has 1d bars; expected a whole multiple of that\n"
        )
        assert done.stdout == ""
    assert not runs.exists()
    assert not (home / "coinswarm.db").exists()
    assert not (home / "paper.db").exists()
