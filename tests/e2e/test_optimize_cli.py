"""`coinswarm optimize` as a person runs it: a walk-forward search on a quarter of hourly bars,
its evidence labelled in-sample, out-of-sample and holdout, its trials in the ledger; and a
mistake refused in one line before anything is written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli_harness import coinswarm
from coinswarm.data import synthetic_market, write_bars
from coinswarm.infra.storage import Store

QUARTER = 24 * 91  # hourly bars: two folds of at least 500 in-sample bars, and a holdout
SEARCH = (
    "optimize",
    "--strategy",
    "sma-cross",
    "--space",
    "fast=5..30:5",
    "--space",
    "slow=40..100:20",
    "--folds",
    "2",
    "--trials",
    "4",
)


@pytest.fixture(scope="module")
def quarter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("optimize") / "BTC_USDT-1h.csv.gz"
    write_bars(synthetic_market(instrument="BTC-USDT", bars=QUARTER, seed=11), path)
    return path


def test_a_search_reports_its_evidence_and_stores_its_trials(quarter, tmp_path):
    db = tmp_path / "search.db"
    args = (*SEARCH, "--data", str(quarter), "--db", f"sqlite:///{db}", "--json")
    done = coinswarm(*args, home=tmp_path / "home")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["n_trials"] == 8
    assert report["instruments"] == ["BTC-USDT"]
    assert 0 <= report["deflated_sharpe"] <= 1
    assert report["pbo"] is None or 0 <= report["pbo"] <= 1
    assert report["verdict"] in ("proven", "not proven")
    assert (report["verdict"] == "proven") == (report["reasons"] == [])
    assert [f["fold"] for f in report["folds"]] == [1, 2]
    for fold in report["folds"]:
        assert fold["in_sample"]["sample"] == "in_sample"
        assert fold["out_of_sample"]["sample"] == "out_of_sample"
        assert fold["in_sample"]["end"] < fold["out_of_sample"]["start"]
    final = report["final"]
    assert final["parameters"] == report["folds"][-1]["parameters"]
    assert final["holdout"]["sample"] == "holdout"
    assert final["out_of_sample"]["end"] < final["holdout"]["start"]
    assert report["walk_forward"]["sample"] == "out_of_sample"
    # Fold lines go to stderr, so stdout stays one JSON object.
    assert "fold 1/2: 4 trials" in done.stderr
    with Store.open(f"sqlite:///{db}") as store:
        run = store.evolution_run(report["run"])
        assert run is not None
        assert run.status == "finished"
        assert store.trial_count(report["run"]) == 8


def test_the_table_names_each_sample_and_the_verdict(quarter, tmp_path):
    args = (*SEARCH, "--data", str(quarter), "--db", f"sqlite:///{tmp_path / 's.db'}", "--quiet")
    done = coinswarm(*args, home=tmp_path / "home")
    assert done.returncode == 0, done.stderr
    said = done.stdout
    for part in ("in-sample window", "out-of-sample window", "OOS Sharpe", "holdout Sharpe"):
        assert part in said
    verdict = next(line for line in said.splitlines() if "verdict:" in line)
    assert verdict.startswith("8 trials; deflated Sharpe ")
    assert "; PBO " in verdict
    assert done.stderr == ""


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (("--space", "fats=5..10"), "error: --space fats: not a parameter of sma-cross"),
        (("--space", "fast=10..5"), "error: --space fast: expected LOW below HIGH"),
        (("--space", "fast=5..50:0"), "error: --space fast: expected a STEP above 0"),
        (("--folds", "9"), "error: fold 1's in-sample window has"),
    ],
)
def test_a_mistake_is_one_error_line_and_nothing_is_written(quarter, tmp_path, change, says):
    db = tmp_path / "never.db"
    home = tmp_path / "home"
    args = (*SEARCH, *change, "--data", str(quarter), "--db", f"sqlite:///{db}")
    done = coinswarm(*args, home=home, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith(says), done.stderr
    assert len(done.stderr.splitlines()) == 1
    assert not db.exists()
    assert not home.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []
