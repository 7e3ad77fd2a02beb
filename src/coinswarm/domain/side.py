"""The side of a trade, shared by orders and fills.

It has its own module so that `fill` need not import `order` (which names `Fill`): the two
would otherwise import each other.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["OrderSide"]


class OrderSide(StrEnum):
    BUY = "BUY"
    SELL = "SELL"

    @property
    def sign(self) -> int:
        return 1 if self is OrderSide.BUY else -1
