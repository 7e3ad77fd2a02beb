"""Bars built from trades or ticker prices: OHLCV per interval, gaps kept, bad ticks refused."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from coinswarm.data.bar_builder import BarBuilder, Tick, parse_tick
from coinswarm.domain.bar import Bar
from coinswarm.domain.errors import DataError

MINUTE = 60_000_000_000
T0 = 1_700_000_040 * 1_000_000_000  # a whole minute


def tick(ts: int, price: str, size: str = "1") -> Tick:
    return parse_tick("BTC-USD", ts, price, size)


def test_a_bar_closes_when_a_later_interval_begins() -> None:
    builder = BarBuilder("BTC-USD", MINUTE)
    assert builder.add(tick(T0 + 1, "100", "0.5")) == []
    assert builder.add(tick(T0 + 2, "105", "1.5")) == []
    assert builder.add(tick(T0 + 3, "98", "1")) == []
    assert builder.add(tick(T0 + 4, "101", "2")) == []
    closed = builder.add(tick(T0 + MINUTE, "102"))
    assert closed == [Bar("BTC-USD", T0, 100.0, 105.0, 98.0, 101.0, 5.0)]


def test_an_interval_without_trades_produces_no_bar() -> None:
    builder = BarBuilder("BTC-USD", MINUTE)
    builder.add(tick(T0, "100"))
    closed = builder.add(tick(T0 + 3 * MINUTE, "110"))
    assert [b.ts for b in closed] == [T0]
    assert builder.flush() == Bar("BTC-USD", T0 + 3 * MINUTE, 110.0, 110.0, 110.0, 110.0, 1.0)
    assert builder.flush() is None


def test_a_tick_of_a_bar_already_emitted_is_late_and_changes_nothing() -> None:
    builder = BarBuilder("BTC-USD", MINUTE)
    builder.add(tick(T0, "100"))
    builder.add(tick(T0 + MINUTE, "101"))
    assert builder.add(tick(T0 + 5, "1")) == []
    assert builder.late == 1
    flushed = builder.flush()
    assert flushed is not None
    assert builder.add(tick(T0 + MINUTE + 1, "1")) == []
    assert builder.late == 2


@pytest.mark.parametrize(
    ("price", "size", "field"),
    [
        ("NaN", "1", "price"),
        ("inf", "1", "price"),
        ("-Infinity", "1", "price"),
        ("0", "1", "price"),
        ("-5", "1", "price"),
        ("abc", "1", "price"),
        ("100", "-1", "size"),
        ("100", "nan", "size"),
    ],
)
def test_bad_ticks_are_refused_at_ingestion_naming_the_field(
    price: str, size: str, field: str
) -> None:
    with pytest.raises(DataError) as refused:
        parse_tick("BTC-USD", T0, price, size, source="ticker BTC-USD")
    assert refused.value.field == field
    assert "ticker BTC-USD" in str(refused.value)
    assert repr(price if field == "price" else size) in str(refused.value)


def test_a_tick_of_another_instrument_is_refused() -> None:
    with pytest.raises(DataError, match="instrument"):
        BarBuilder("BTC-USD", MINUTE).add(parse_tick("ETH-USD", T0, "1"))


prices = st.decimals(Decimal("0.01"), Decimal(100_000), places=2)
sizes = st.decimals(Decimal(0), Decimal(50), places=4)
trades = st.lists(
    st.tuples(st.integers(0, 20 * MINUTE), prices, sizes), min_size=1, max_size=80
).map(lambda rows: sorted(rows, key=lambda row: row[0]))


def vectorised(rows: list[tuple[int, Decimal, Decimal]], interval: int) -> list[Bar]:
    """Group-by resample with numpy: the reference the streaming builder must equal."""
    ts = np.array([T0 + t for t, _, _ in rows], dtype=np.int64)
    price = np.array([float(p) for _, p, _ in rows])
    size = np.array([float(s) for _, _, s in rows])
    bucket = ts // interval * interval
    starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
    ends = np.r_[starts[1:], len(ts)]
    return [
        Bar(
            "BTC-USD",
            int(bucket[a]),
            float(price[a]),
            float(price[a:b].max()),
            float(price[a:b].min()),
            float(price[b - 1]),
            float(size[a:b].sum()),
        )
        for a, b in zip(starts, ends, strict=True)
    ]


@given(trades, st.sampled_from([MINUTE, 5 * MINUTE, 7 * MINUTE]))
def test_built_bars_equal_a_vectorised_resample(
    rows: list[tuple[int, Decimal, Decimal]], interval: int
) -> None:
    builder = BarBuilder("BTC-USD", interval)
    built: list[Bar] = []
    for offset, price, size in rows:
        built.extend(builder.add(Tick("BTC-USD", T0 + offset, price, size)))
    last = builder.flush()
    assert last is not None
    built.append(last)
    expected = vectorised(rows, interval)
    assert [(b.ts, b.open, b.high, b.low, b.close) for b in built] == [
        (b.ts, b.open, b.high, b.low, b.close) for b in expected
    ]
    assert [b.volume for b in built] == pytest.approx([b.volume for b in expected])
    assert builder.late == 0
