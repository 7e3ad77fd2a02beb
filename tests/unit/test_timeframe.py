"""`--timeframe`: a run on longer bars made in memory, the same as on a resampled file."""

from __future__ import annotations

import numpy as np
import pytest

from coinswarm import bootstrap
from coinswarm.data import synthetic_market, to_timeframe, write_bars
from coinswarm.data.timeframe import on_timeframe, timeframe_ns
from coinswarm.domain.bar import NS_PER_HOUR
from coinswarm.domain.errors import DataError

FOUR_HOURS = 4 * NS_PER_HOUR


def test_a_timeframe_equal_to_the_data_leaves_it_alone():
    series = synthetic_market(bars=50)
    assert on_timeframe(series, NS_PER_HOUR) is series


def test_a_longer_timeframe_resamples_as_the_file_command_does():
    series = synthetic_market(bars=50)  # 2 hours past the last full 4h bucket: dropped
    out = on_timeframe(series, FOUR_HOURS)
    expected = to_timeframe(series, FOUR_HOURS).series
    assert len(out) == 12
    for name in ("ts", "open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(getattr(out, name), getattr(expected, name))


@pytest.mark.parametrize("label", ["1h", "15m"])
def test_a_timeframe_finer_than_the_data_is_refused(label):
    daily = on_timeframe(synthetic_market(bars=96), 24 * NS_PER_HOUR)
    with pytest.raises(DataError, match=f"--timeframe {label}: SYN-USDT has 1d bars"):
        on_timeframe(daily, timeframe_ns(label))


def test_an_unknown_timeframe_is_refused_when_the_request_is_made():
    with pytest.raises(DataError, match="--timeframe: expected a bar interval"):
        bootstrap.BacktestRequest(timeframe="2h")


def test_the_synthetic_market_takes_a_timeframe_too():
    request = bootstrap.BacktestRequest(synthetic_bars=400, timeframe="1d")
    (series,) = bootstrap.load_market(request)
    assert series.interval_ns == 24 * NS_PER_HOUR
    assert len(series) == 400 // 24


def test_the_period_is_cut_after_resampling(tmp_path):
    path = tmp_path / "BTC_USDT-1h.csv"
    write_bars(synthetic_market(instrument="BTC-USDT", bars=48), path)
    start = int(synthetic_market(bars=1).ts[0]) + 6 * NS_PER_HOUR
    request = bootstrap.BacktestRequest(data=(path,), timeframe="4h", start_ns=start)
    (series,) = bootstrap.load_market(request)
    # The bar opening at 04:00 holds 04:00-07:00: it starts before --start and is left out.
    assert ((series.ts - start) >= 0).all()
    assert len(series) == 10


def run(**values: object) -> bootstrap.BacktestOutcome:
    request = bootstrap.BacktestRequest(
        synthetic_bars=24 * 40,
        parameters={"fast": "3", "slow": "8"},
        store="none",
        **values,  # type: ignore[arg-type]
    )
    return bootstrap.run(request)


def test_metrics_annualise_by_the_timeframe_and_the_run_id_names_it():
    hourly, four_hourly = run(), run(timeframe="4h")
    assert hourly.metrics.periods_per_year == pytest.approx(8760)
    assert four_hourly.metrics.periods_per_year == pytest.approx(2190)
    assert four_hourly.metrics.bars == 24 * 40 // 4
    assert four_hourly.run_id != hourly.run_id
    assert run(timeframe="4h").run_id == four_hourly.run_id
