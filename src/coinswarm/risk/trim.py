"""Trims: a held position that has grown past its limit is sold back under it.

The oversight manager judges an order when it is placed; a position bought within its limit
can then grow past it as its price rises. On every bar the risk layer looks at the bar's
instrument, at the bar's close:

- a long position worth more than `max_position_fraction` of equity, by more than the band
  `TRIM_BAND` (a fiftieth of the limit: 25.5% under a 25% limit), is trimmed: a market sell
  brings it back to `TRIM_TARGET` of the limit (nine tenths), so that a steady climb trims
  once every 14% (5% limit) to 18% (25% limit) rise rather than on every bar (each trim pays
  fees and counts toward the orders of the day). The band absorbs what a buy to the very
  limit costs on filling (its fee and slippage lower the equity it is measured against),
  which would otherwise trim every such buy at once;
- the sell is what is needed after the market sells already pending on the instrument (an
  earlier trim, a stop's flattening, the strategy's own exits), which fill at the next bar;
  it is rounded up to the size increment, so that the position left is within the target;
- a resting (limit or stop) sell of the strategy's may never fill, so it covers nothing; but
  the exchange holds the coins it would sell, so the trim sells at most what is free, and a
  position the strategy has put up for sale in full at a price above the market stays above
  its limit until that order fills or is cancelled;
- a trim below the instrument's minimum size or notional cannot be placed and is skipped (only
  a position worth a few minimum orders can need so small a trim): it stays above its limit by
  less than one minimum order until the excess grows;
- equity at or below zero trims nothing: the loss stops have flattened such an account.

The trim goes through the one door like every order, so it is journalled and explained, and
reaches the exchange only through the execution agent. It is risk-reducing, so it passes a
tripped circuit breaker. A trim placed after bar t fills at the next bar, so a held position
exceeds its limit by at most the band and one bar's move (and less than one minimum order).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

from coinswarm.domain.instrument import Instrument
from coinswarm.domain.order import OrderSide, OrderType
from coinswarm.risk.account import AccountSnapshot

__all__ = ["TRIM_BAND", "TRIM_TARGET", "Trim", "trim_for"]

ZERO = Decimal(0)
TRIM_TARGET = Decimal("0.9")
"""The share of the limit a trimmed position is sold back to."""
TRIM_BAND = Decimal("0.02")
"""How far past its limit, as a share of the limit, a position may go before it is trimmed."""


@dataclass(frozen=True, slots=True)
class Trim:
    """A sell of `quantity` that brings a position back under its limit, and why."""

    instrument: str
    quantity: Decimal
    reason: str


def trim_for(instrument: Instrument, account: AccountSnapshot, limit: Decimal) -> Trim | None:
    """Return the trim `instrument`'s position needs under `limit`, or None when it needs none."""
    symbol = instrument.symbol
    held = account.positions.get(symbol, ZERO)
    mark = account.marks.get(symbol)
    equity = account.equity
    if held <= 0 or mark is None or equity <= 0:
        return None
    if held * mark <= limit * (1 + TRIM_BAND) * equity:
        return None
    target = limit * TRIM_TARGET * equity / mark
    # Sells are sized in base units; only market buys may be sized in quote.
    sells = [p for p in account.pending if p.instrument == symbol and p.side is OrderSide.SELL]
    selling = sum((p.quantity or ZERO for p in sells), ZERO)
    leaving = sum((p.quantity or ZERO for p in sells if p.type is OrderType.MARKET), ZERO)
    steps = (held - leaving - target) / instrument.size_increment
    excess = steps.to_integral_value(rounding=ROUND_CEILING) * instrument.size_increment
    quantity = min(excess, held - selling)
    if quantity <= 0 or instrument.size_problem(quantity, mark) is not None:
        return None
    share = held * mark / equity
    reason = (
        f"{symbol} {_pct(share)} of equity, above the {_trim(limit * 100)}% limit; "
        f"sell {_trim(quantity)} at the next bar, back to {_pct(limit * TRIM_TARGET)}"
    )
    return Trim(symbol, quantity, reason)


def _pct(fraction: Decimal) -> str:
    return f"{fraction * 100:.1f}%"


def _trim(value: Decimal) -> str:
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text
