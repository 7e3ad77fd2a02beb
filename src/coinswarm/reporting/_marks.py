"""The prices a day's report values positions at: bar closes when the run's bars can be had
again, else the run's own fill prices.

The store keeps no prices but the fills'. A paper run stored its whole request, which names
its data files or its synthetic market, so its bars load again as they loaded for the run
(the same way the API's equity curve gets them); a sandbox or live session's bars came from
an exchange and are gone, so its positions are valued at the last price it traded at. The
report says which (`marked`).
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal

from coinswarm import bootstrap
from coinswarm.domain.bar import BarSeries
from coinswarm.domain.errors import CoinswarmError
from coinswarm.domain.fill import Fill
from coinswarm.infra.storage import RunRecord

__all__ = ["BarMarks", "FillMarks", "Marks", "marks_for"]

logger = logging.getLogger(__name__)

_UNREADABLE = (CoinswarmError, OSError, KeyError, TypeError, ValueError, AttributeError)


class Marks:
    """Prices at a time, and the times worth valuing an account at within a day."""

    marked = "none"

    def __init__(self, prices: Mapping[str, tuple[Sequence[int], Sequence[Decimal]]]) -> None:
        """Price each instrument from when each of its `prices` became known (times sorted)."""
        self._prices = prices

    def at(self, ts: int) -> dict[str, Decimal]:
        """Return the latest price known at `ts` of each instrument that has one."""
        found = {}
        for symbol, (times, values) in self._prices.items():
            known = bisect.bisect_right(times, ts)
            if known:
                found[symbol] = values[known - 1]
        return found

    def points(self, start: int, end: int) -> list[int]:
        """Return the times in (start, end) at which a new price became known."""
        found: set[int] = set()
        for times, _ in self._prices.values():
            first = bisect.bisect_right(times, start)
            last = bisect.bisect_left(times, end)
            found.update(times[first:last])
        return sorted(found)


class BarMarks(Marks):
    """Each instrument's last close of the bars that had closed by then."""

    marked = "close"

    def __init__(self, market: Mapping[str, BarSeries]) -> None:
        super().__init__(
            {
                symbol: (
                    [int(t) for t in series.ts + series.interval_ns],
                    # As the engine's ledger reads a float close: its shortest repr.
                    [Decimal(repr(float(c))) for c in series.close],
                )
                for symbol, series in market.items()
            }
        )


class FillMarks(Marks):
    """Each instrument's last fill price, known just after the fill (the run's own trades)."""

    marked = "fill"

    def __init__(self, fills: Iterable[Fill]) -> None:
        by_symbol: dict[str, list[tuple[int, Decimal]]] = {}
        for fill in sorted(fills, key=lambda f: f.ts):  # stable: the last of a time wins
            by_symbol.setdefault(fill.instrument, []).append((fill.ts + 1, fill.price))
        super().__init__(
            {
                symbol: ([t for t, _ in pairs], [p for _, p in pairs])
                for symbol, pairs in by_symbol.items()
            }
        )


def marks_for(record: RunRecord, fills: Sequence[Fill]) -> Marks:
    """Return the run's bar closes when they load again, else its fill prices."""
    request = bootstrap.stored_request(record)
    if request is not None:
        try:
            market = {s.instrument: s for s in bootstrap.load_market(request)}
        except _UNREADABLE as error:
            logger.info("the bars of run %s cannot be loaded again: %s", record.run_id, error)
        else:
            traded = {f.instrument for f in fills}
            if traded <= set(market):
                return BarMarks(market)
    return FillMarks(fills)
