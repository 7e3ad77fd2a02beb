"""The session journal's file format: round trips, and any edit or cut named by line."""

from __future__ import annotations

import json
import tempfile
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coinswarm.domain.bar import Bar
from coinswarm.domain.order import Order, OrderRequest, OrderSide, OrderType
from coinswarm.infra.session_codec import (
    bar_from_json,
    bar_to_json,
    fill_from_json,
    fill_to_json,
    order_from_json,
    order_to_json,
)
from coinswarm.infra.session_journal import JournalError, JournalWriter, canonical, read_journal
from generators import decimals, fill_sequences


@given(fill_sequences(max_size=10))
def test_fills_survive_the_journal_digit_for_digit(fills) -> None:
    for fill in fills:
        back = fill_from_json(fill_to_json(fill))
        assert back == fill
        assert str(back.price) == str(fill.price)


@given(
    quantity=decimals("0.00001", "50", 5),
    limit=decimals("0.01", "90000", 2),
    filled=st.booleans(),
    floats=st.lists(st.floats(1e-6, 1e9, allow_nan=False), min_size=5, max_size=5),
)
def test_orders_and_bars_survive_the_journal(quantity, limit, filled, floats) -> None:
    request = OrderRequest(
        client_order_id="C1",
        instrument="BTC-USDT",
        side=OrderSide.SELL,
        type=OrderType.LIMIT,
        quantity=quantity,
        limit_price=limit,
    )
    order = Order("O1", request, 5)
    order.accept(6)
    if filled:
        order.filled_quantity = quantity
        order.average_fill_price = limit
    back = order_from_json(order_to_json(order))
    assert canonical(order_to_json(back)) == canonical(order_to_json(order))
    bar = Bar("BTC-USDT", 7, *floats)
    assert bar_from_json(canonical_round(bar_to_json(bar))) == bar


def canonical_round(data: dict) -> dict:
    return json.loads(canonical(data))


def _journal(folder: Path, count: int) -> Path:
    path = folder / "j.jsonl"
    with JournalWriter(path) as journal:
        journal.write("start", {"mode": "paper"})
        for n in range(count):
            journal.write("bar", {"n": n, "price": str(Decimal(n) / 3)}, sync=n % 2 == 0)
        journal.write("end", {"digest": "x"})
    return path


@settings(max_examples=60, deadline=None)
@given(count=st.integers(2, 12), data=st.data())
def test_any_changed_byte_or_lost_line_is_named(count, data) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = _journal(Path(folder), count)
        lines = path.read_bytes().splitlines(keepends=True)
        assert len(read_journal(path)) == count + 2
        victim = data.draw(st.integers(0, len(lines) - 2), label="line")
        if data.draw(st.booleans(), label="drop"):
            del lines[victim]
        else:
            line = bytearray(lines[victim])
            at = data.draw(st.integers(0, len(line) - 2), label="byte")
            line[at] = ord("#") if line[at] != ord("#") else ord("%")
            lines[victim] = bytes(line)
        path.write_bytes(b"".join(lines))
        with pytest.raises(JournalError) as error:
            read_journal(path)
        assert error.value.line is not None
        assert error.value.line <= victim + 2
        assert str(error.value).startswith(f"{path}:{error.value.line}: ")


def test_a_journal_is_never_overwritten(tmp_path: Path) -> None:
    path = _journal(tmp_path, 2)
    with pytest.raises(FileExistsError):
        JournalWriter(path)


def test_a_record_may_not_use_the_journal_s_own_fields(tmp_path: Path) -> None:
    with JournalWriter(tmp_path / "j.jsonl") as journal, pytest.raises(ValueError, match="seq"):
        journal.write("bar", {"seq": 3})
