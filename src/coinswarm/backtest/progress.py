"""How far a run has got, as the engine tells its progress callback.

The engine hands over figures it already holds (bars stepped, the ledger's equity at the
latest closes, the orders and fills so far), and only every `PROGRESS_EVERY` bars of a backtest
run at full speed, so a progress display costs the backtest nothing it would notice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from coinswarm.domain.bar import Bar
    from coinswarm.domain.ledger import Ledger

__all__ = ["BarWatch", "Progress", "RunProgress"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RunProgress:
    """A run's progress after `bars` bars (of `total`, when the run knows how many it steps).

    `market_ts` is the time of the latest bar stepped (the replay's time in a paced paper
    run, the market's in a session), None before the first. `equity` is the account valued
    at the latest closes, in `quote`; None while a position has no price yet (a coin held
    before its instrument's first bar). `orders` counts every order asked for, refused ones
    included; `fills` every fill booked.
    """

    bars: int
    total: int | None
    market_ts: int | None
    equity: Decimal | None
    quote: str
    orders: int
    fills: int
    done: bool = False


Progress = Callable[[RunProgress], None]
"""Hears a run's progress: at its first bar, every so often, and once when it ends."""


class BarWatch(Protocol):
    """Sees each bar as the engine takes it, and the account once the engine has handled it.

    A session's telemetry follows it this way (`infra.telemetry`). Both calls run on the
    engine's thread, between two steps: they read what they are handed and return at once.
    They must not read the run's clock (a session journals every reading, and its replay
    expects the same readings) and must never raise: what they raise ends the run.
    """

    def taken(self, bar: Bar) -> None:
        """Hear `bar` before the engine does anything with it."""
        ...

    def handled(self, bar: Bar, ledger: Ledger, marks: Mapping[str, Decimal]) -> None:
        """Hear that `bar` is handled: its fills booked, the risk layer and strategy ran."""
        ...
