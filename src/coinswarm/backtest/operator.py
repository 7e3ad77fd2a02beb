"""The person a backtest does not have.

In live trading a total-loss stop, a losing streak or a latched circuit breaker waits for a
person to look and reset it. A backtest has nobody, so without a stand-in the first such stop
would end every multi-year run. The simulated operator resets them a fixed time after they
begin, names itself in the event log as the one who did it, and can be switched off.
"""

from __future__ import annotations

from coinswarm.data.timefmt import format_interval
from coinswarm.domain.bar import Bar
from coinswarm.orchestration.door import Door

__all__ = ["SimulatedOperator"]

OPERATOR = "simulated operator (backtest)"


class SimulatedOperator:
    """Show each bar to the door's risk layer; reset stops that have waited long enough."""

    __slots__ = ("_after_ns", "_door", "_since")

    def __init__(self, door: Door, reset_after_ns: int | None) -> None:
        self._door = door
        self._after_ns = reset_after_ns
        self._since: int | None = None

    def watch(self, bar: Bar) -> None:
        self._door.on_bar(bar)
        risk = self._door.risk
        if risk is None or self._after_ns is None:
            return
        if not risk.kill_switch.stops and not risk.breaker.latched:
            self._since = None
            return
        if self._since is None:
            self._since = bar.ts
        elif bar.ts - self._since >= self._after_ns:
            reason = f"reviewed and reset {format_interval(self._after_ns)} after the stop"
            self._door.reset_stops(bar.ts, by=OPERATOR, reason=reason)
            self._since = None
