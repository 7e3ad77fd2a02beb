"""One long pattern traded all-in on one instrument through the event-driven engine, for tests.

The engine's twin of `evolution.evaluate`: a `PatternTrader` reads each closed bar through the
catalogue's streaming features and says ENTER or EXIT; the strategy turns that into a market
order the engine fills at the next open, as sma-cross does. ENTER buys with all the cash, sized
in quote currency with the fee included (so the quantity is cash / (open * (1 + fee)), rounded
down to the size increment); EXIT sells the whole position. Long only: the engine trades spot,
which cannot short.

It lives in tests, not in `strategies`: the pattern agent that trades patterns for real votes in
the committee (issue 13, slice 9) and sizes through the risk layer; this one exists only to hold
the vectorised evaluator to the engine's fills.
"""

from __future__ import annotations

from collections.abc import Sequence

from coinswarm.agents.pattern_trader import PatternTrader, Signal
from coinswarm.data.features import feature_stream
from coinswarm.domain.bar import Bar
from coinswarm.domain.order import OrderRequest, OrderSide
from coinswarm.domain.pattern import Pattern, Side
from coinswarm.strategies.base import Intent, StrategyContext

__all__ = ["PatternStrategy"]


class PatternStrategy:
    """Buy with all the cash when `pattern` enters, sell everything when it leaves."""

    name = "pattern-all-in"

    def __init__(self, pattern: Pattern, *, fee_rate: float) -> None:
        if pattern.side is not Side.LONG:
            raise ValueError(f"expected a long pattern (spot cannot short), found {pattern.side}")
        self.trader = PatternTrader(pattern, feature_stream, fee_rate=fee_rate)
        self._instrument: str | None = None

    def on_bar(self, bar: Bar, context: StrategyContext) -> Sequence[Intent]:
        if self._instrument is None:
            self._instrument = bar.instrument
        elif bar.instrument != self._instrument:
            msg = f"expected one instrument, {self._instrument}, found {bar.instrument}"
            raise ValueError(msg)
        signal = self.trader.update(bar)
        if signal is None or context.has_open_orders(bar.instrument):
            return ()
        held = context.position(bar.instrument)
        if (signal is Signal.ENTER) == bool(held):
            # The trader assumes every signal filled at the next open; if the account says
            # otherwise, the two records have parted and no later comparison means anything.
            msg = f"{signal} at {bar.ts} but the account holds {held} {bar.instrument}"
            raise RuntimeError(msg)
        order_id = context.next_client_order_id(bar.instrument)
        if signal is Signal.ENTER:
            request = OrderRequest(
                client_order_id=order_id,
                instrument=bar.instrument,
                side=OrderSide.BUY,
                quote_quantity=context.cash(),
            )
        else:
            request = OrderRequest(
                client_order_id=order_id,
                instrument=bar.instrument,
                side=OrderSide.SELL,
                quantity=held,
            )
        return (request,)
