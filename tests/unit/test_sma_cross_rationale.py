"""Every sma-cross order says why: the cross, with both averages at the bar that decided it."""

from __future__ import annotations

import re

import numpy as np
import pytest

from coinswarm import bootstrap
from coinswarm.domain.order import OrderSide

FAST, SLOW = 3, 8


@pytest.fixture(scope="module")
def outcome() -> bootstrap.BacktestOutcome:
    request = bootstrap.BacktestRequest(
        synthetic_bars=24 * 20,
        parameters={"fast": str(FAST), "slow": str(SLOW)},
        store="none",
    )
    return bootstrap.run(request)


def test_every_order_carries_the_cross_that_decided_it(outcome):
    orders = outcome.result.orders
    assert len(orders) > 4
    market = outcome.result.market["SYN-USDT"]
    pattern = re.compile(
        rf"fast SMA\({FAST}\) (\S+) crossed (above|below) slow SMA\({SLOW}\) (\S+) "
        r"at the close (\S+)$"
    )
    for order, explained in zip(orders, outcome.explanations, strict=True):
        assert explained.rationale is not None, order.client_order_id
        found = pattern.match(explained.rationale.summary)
        assert found is not None, explained.rationale.summary
        fast, direction, slow, close = found.groups()
        row = int(np.searchsorted(market.ts, order.created_ts))
        closes = market.close[: row + 1]
        assert float(fast) == pytest.approx(closes[-FAST:].mean(), rel=1e-7)
        assert float(slow) == pytest.approx(closes[-SLOW:].mean(), rel=1e-7)
        assert float(close) == closes[-1]
        assert direction == ("above" if order.side is OrderSide.BUY else "below")
        assert (float(fast) > float(slow)) == (direction == "above")
        before = np.mean(closes[-FAST - 1 : -1]) - np.mean(closes[-SLOW - 1 : -1])
        assert before <= 0 if direction == "above" else before >= 0


def test_the_explanation_shows_the_cross_and_a_readable_fee(outcome):
    lines = outcome.explanations[0].render()
    assert not any("no rationale" in line for line in lines)
    why = next(line for line in lines if line.startswith("why: "))
    assert why.startswith(f"why: fast SMA({FAST}) ")
    assert "crossed above" in why
    fill = next(line for line in lines if line.startswith("fill "))
    fee = re.search(r"fee (\S+) USDT", fill)
    assert fee is not None
    assert len(fee.group(1).partition(".")[2]) <= 6
    assert len(str(outcome.result.fills[0].fee).partition(".")[2]) > 6  # the ledger keeps all
