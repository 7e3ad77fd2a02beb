"""File names, intervals and timestamps: the text at the edges of the data layer."""

from __future__ import annotations

import pytest

from coinswarm.data import (
    FileName,
    data_file_name,
    format_interval,
    format_timestamp,
    parse_file_name,
    parse_interval,
    parse_timestamp,
)
from coinswarm.domain.bar import NS_PER_HOUR


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("BTC_USDT-1h.csv.gz", FileName("BTC-USDT", "1h")),
        ("/data/eth_usdt-15m.csv", FileName("ETH-USDT", "15m")),
        ("SOL-USDT-1d.parquet", FileName("SOL-USDT", "1d")),
        ("BTC_USDT.csv", FileName("BTC-USDT", None)),
        ("BTC_USDT-3w.csv", FileName("BTC-USDT", None)),
        ("prices.csv", FileName(None, None)),
    ],
)
def test_parse_file_name(name, expected):
    assert parse_file_name(name) == expected


def test_data_file_name_round_trips():
    name = data_file_name("BTC-USDT", "4h")
    assert name == "BTC_USDT-4h.csv.gz"
    assert parse_file_name(name) == FileName("BTC-USDT", "4h")


def test_intervals():
    assert parse_interval("4h") == 4 * NS_PER_HOUR
    assert format_interval(4 * NS_PER_HOUR) == "4h"
    assert format_interval(24 * NS_PER_HOUR) == "1d"
    assert format_interval(NS_PER_HOUR // 2) == "30m"
    assert format_interval(7) == "7ns"
    with pytest.raises(ValueError, match="1h"):
        parse_interval("2h")


@pytest.mark.parametrize(
    "text",
    ["2018-01-01T00:00:00Z", "2018-01-01T00:00:00+00:00", "2018-01-01T00:00:00.000Z"],
)
def test_parse_utc_timestamps(text):
    assert parse_timestamp(text) == 1_514_764_800 * 10**9


def test_format_timestamp_round_trips():
    for ns in (0, 1_514_764_800 * 10**9, 1_514_764_800 * 10**9 + 1_500_000, -NS_PER_HOUR):
        assert parse_timestamp(format_timestamp(ns)) == ns
    assert format_timestamp(0) == "1970-01-01T00:00:00Z"
    assert format_timestamp(1_500_000) == "1970-01-01T00:00:00.001500Z"
