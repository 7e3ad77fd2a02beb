"""`coinswarm new-strategy NAME`: a documented example strategy and a test of it, to edit.

The example is small and correct (a breakout with a trend filter, through the fenced view and
a streaming indicator); its comments say what each hook gets and the rules every strategy
keeps. The test runs it through `coinswarm.bootstrap.run`, the path the command line takes,
on the synthetic market. Nothing is overwritten: an existing file refuses the whole command.
"""

from __future__ import annotations

import keyword
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from coinswarm.domain.errors import CoinswarmError

__all__ = ["NewStrategy", "TemplateError", "write_template"]

_NAME = re.compile(r"[a-z][a-z0-9_]*")


class TemplateError(CoinswarmError, ValueError):
    """A strategy name that cannot be a file and class, or files that already exist."""


@dataclass(frozen=True, slots=True)
class NewStrategy:
    """The files a new strategy was written to, and how to name it to `--strategy`."""

    strategy: Path
    test: Path
    class_name: str

    @property
    def spec(self) -> str:
        return f"{self.strategy}:{self.class_name}"


def class_name(name: str) -> str:
    """Return the class a strategy file called `name` holds: `my_breakout` -> `MyBreakout`."""
    return "".join(part.capitalize() for part in name.split("_") if part)


def check_name(name: str) -> None:
    """Refuse a name that cannot be a module of its own next to its test."""
    if not _NAME.fullmatch(name) or keyword.iskeyword(name):
        msg = (
            "new-strategy: expected a lowercase name like breakout or my_momentum (letters, "
            f"digits and underscores, starting with a letter), found {name!r}"
        )
        raise TemplateError(msg)
    if name in sys.stdlib_module_names or name.startswith("test") or name == "coinswarm":
        # A file of that name beside its test would stand in for the real module in pytest.
        msg = f"new-strategy: {name!r} is the name of a module Python or pytest needs; pick another"
        raise TemplateError(msg)


def write_template(name: str, folder: Path) -> NewStrategy:
    """Write `NAME.py` and `test_NAME.py` into `folder` (made if missing); never overwrite."""
    check_name(name)
    made = NewStrategy(folder / f"{name}.py", folder / f"test_{name}.py", class_name(name))
    existing = [str(p) for p in (made.strategy, made.test) if p.exists()]
    if existing:
        verb = "exists" if len(existing) == 1 else "exist"
        msg = f"new-strategy: {' and '.join(existing)} already {verb}; nothing was written"
        raise TemplateError(msg)
    if folder.exists() and not folder.is_dir():
        msg = f"new-strategy: --dir {folder} is a file, not a folder"
        raise TemplateError(msg)
    folder.mkdir(parents=True, exist_ok=True)
    for path, text in ((made.strategy, STRATEGY), (made.test, TEST)):
        body = text.replace("__NAME__", name).replace("__CLASS__", made.class_name)
        with path.open("x", encoding="utf-8") as handle:  # "x": never over a file made meanwhile
            handle.write(body)
    return made


STRATEGY = '''"""__NAME__: a Coinswarm strategy written by `coinswarm new-strategy __NAME__`.

The rule, a breakout with a moving-average exit: buy when the close breaks above the highest
high of the `lookback` bars before it; sell all of it when the close falls below its
`exit_average`-bar simple moving average. Long only, one position per instrument.

Run it:

    coinswarm backtest --strategy __NAME__.py:__CLASS__
    coinswarm backtest --strategy __NAME__.py:__CLASS__ --param lookback=48 --data BTC_USDT-1h.csv
    coinswarm paper --strategy __NAME__.py:__CLASS__ --speed max
    python -m pytest test___NAME__.py

The rules every strategy lives by:

- `on_bar(bar, context)` is called once for each closed bar of each instrument, in time order.
  What it returns is decided on that bar (t) and fills at the next bar's open (t+1) at the
  earliest: the bar it sees is already over.
- The market is `context.market`, a time-fenced view: its history ends at this bar. Nothing
  later exists anywhere the strategy can reach.
- No files, folders, sockets or processes while deciding, nor in `__init__`: Coinswarm stops
  the run with an error (LookAheadError). Settings come from `--param KEY=VALUE`, validated
  into `Parameters`; anything else is refused with the accepted names.
- Every order passes Coinswarm's risk layer, as the built-in strategies' do: the risk phase
  (0 by default: at most 25% of equity in one position, a 10% drawdown stop) may shrink or
  refuse it, and the circuit breaker and kill switch may block it. After a loss stop, buys
  are refused until the stop lifts; the run's summary counts them and says why.
- The run's id includes this file's SHA-256: after an edit, a backtest is a new run, and
  `coinswarm resume` or `coinswarm replay` of an older run refuse until the old file is back.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from coinswarm.data.indicators import SMA
from coinswarm.domain.bar import Bar
from coinswarm.domain.order import OrderRequest, OrderSide
from coinswarm.strategies import Intent, StrategyContext
from coinswarm.strategies.base import Rationale


class __CLASS__Parameters(BaseModel):
    """What `--param KEY=VALUE` may set. Windows are counted in bars of the data."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    lookback: int = Field(default=24, ge=2, description="bars whose highest high a close breaks")
    exit_average: int = Field(default=24, ge=2, description="moving average a close exits below")
    fraction: float = Field(default=0.2, gt=0.0, le=1.0, description="share of equity a buy uses")


class __CLASS__:
    """Buy a close above the recent range; sell a close below the moving average."""

    name = "__NAME__"  # how reports and tables name it
    Parameters = __CLASS__Parameters  # what --param fills; leave it out to take no parameters

    def __init__(self, parameters: __CLASS__Parameters) -> None:
        # Built once, before the first bar, with the parameters validated.
        self.parameters = parameters
        # One streaming moving average per instrument: O(1) a bar, no look at history needed.
        self._averages: dict[str, SMA] = {}

    def on_bar(self, bar: Bar, context: StrategyContext) -> Sequence[Intent]:
        """Return the orders (or cancels) to place after `bar`; usually none.

        `bar` has the instrument, the open time `ts` (UTC nanoseconds) and open, high, low,
        close and volume. `context` has the fenced `market`, `now_ns()`, the account
        (`cash()`, `position(instrument)`, `equity()`, `has_open_orders(instrument)`) and
        `next_client_order_id(instrument)`, which every order needs.
        """
        p = self.parameters
        average = self._averages.setdefault(bar.instrument, SMA(p.exit_average)).update(bar.close)
        market = context.market
        if math.isnan(average) or market.count(bar.instrument) <= p.lookback:
            return []  # still warming up
        if context.has_open_orders(bar.instrument):
            return []  # the last order has not filled yet
        held = context.position(bar.instrument)
        if held > 0 and bar.close < average:
            why = f"close {bar.close:.6g} fell below its {p.exit_average}-bar average {average:.6g}"
            return [self._order(bar, context, OrderSide.SELL, why, quantity=held)]
        # history() ends at this bar; [:-1] leaves this bar out of the range it must break.
        high = market.history(bar.instrument, "high", p.lookback + 1)[:-1].max()
        if held <= 0 and bar.close > high:
            spend = min(context.equity() * Decimal(str(p.fraction)), context.cash())
            if spend <= 0:
                return []
            why = f"close {bar.close:.6g} broke the {p.lookback}-bar high {high:.6g}"
            return [self._order(bar, context, OrderSide.BUY, why, quote_quantity=spend)]
        return []

    def _order(
        self,
        bar: Bar,
        context: StrategyContext,
        side: OrderSide,
        why: str,
        *,
        quantity: Decimal | None = None,
        quote_quantity: Decimal | None = None,
    ) -> OrderRequest:
        """A market order for the next open; `coinswarm explain RUN ORDER` shows `why`."""
        client_order_id = context.next_client_order_id(bar.instrument)
        context.explain(client_order_id, Rationale(summary=why))
        return OrderRequest(
            client_order_id=client_order_id,
            instrument=bar.instrument,
            side=side,
            quantity=quantity,
            quote_quantity=quote_quantity,
        )
'''

TEST = '''"""Tests of __NAME__.py, written by `coinswarm new-strategy __NAME__`. Edit them with it.

Run them with `python -m pytest test___NAME__.py`. Each backtests the strategy the way
`coinswarm backtest --strategy __NAME__.py:__CLASS__` does (the same loader, fence, risk layer
and simulated exchange) on Coinswarm's seeded synthetic market, writing nothing to disk.
"""

from __future__ import annotations

from pathlib import Path

from coinswarm.bootstrap import BacktestOutcome, BacktestRequest, run

STRATEGY = f"{Path(__file__).with_name('__NAME__.py')}:__CLASS__"


def backtest(**parameters: str) -> BacktestOutcome:
    request = BacktestRequest(
        strategy=STRATEGY, parameters=parameters, synthetic_bars=2_000, store="none"
    )
    return run(request)


def test_it_trades_and_every_order_fills_after_the_bar_that_decided_it() -> None:
    result = backtest().result
    assert result.fills, "expected fills on 2,000 synthetic hourly bars"
    decided = {order.order_id: order.created_ts for order in result.orders}
    assert all(fill.ts > decided[fill.order_id] for fill in result.fills)


def test_the_risk_layer_shrinks_a_buy_past_the_position_limit() -> None:
    outcome = backtest(fraction="0.9")
    assert outcome.risk is not None
    limit = float(outcome.risk.max_position_fraction)  # 25% of equity in phase 0
    notes = outcome.result.risk_notes.values()
    assert any(note.action == "shrunk" for note in notes)
    peak = max(outcome.result.curve.equity)
    buys = [f for f in outcome.result.fills if f.side.name == "BUY"]
    assert max(float(f.price * f.quantity) for f in buys) <= limit * peak * 1.01


def test_its_parameters_reach_it() -> None:
    # A range longer than the market never completes: no breakout, no order.
    assert not backtest(lookback="5000").result.orders
'''
