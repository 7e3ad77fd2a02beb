"""What a pushing channel (an exchange's user stream) tells a remote venue between two bars.

Without one, `RemoteVenue` asks the exchange for fills on every bar an order rests. A
`FillSource` lets it ask only when something happened: each bar it says what changed since
the last bar, and whether it vouches that nothing else did. When it vouches (`complete`), the
venue books the pushed fills and reads only the orders that changed, with no fill listing;
when it cannot (the channel was not live, reconnected, lost a message, or could not fetch
what it was told about), the venue lists fills by REST as it would without a channel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from coinswarm.domain.fill import Fill
from coinswarm.domain.order import Order

__all__ = ["ChannelDoubt", "ChannelNews", "FillSource"]


@dataclass(frozen=True, slots=True)
class ChannelDoubt:
    """Something the channel said about an order that contradicts what is known of it."""

    order_id: str
    client_order_id: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelNews:
    """What the channel told since the venue last asked.

    `fills` are whole fills (with their trade ids), each handed out once; `orders` is the
    channel's view of every order it said changed; `doubts` are descriptions that could not be
    applied (an illegal transition, an unreadable order). `complete` is the channel's word that
    nothing else changed meanwhile; without it the venue lists fills itself.
    """

    complete: bool
    fills: tuple[Fill, ...] = ()
    orders: tuple[Order, ...] = ()
    doubts: tuple[ChannelDoubt, ...] = ()


class FillSource(Protocol):
    """A channel that pushes fills and order changes; asked once per bar."""

    def news(self) -> ChannelNews:
        """Return what changed since the last call; never raise for what the exchange did."""
        ...
