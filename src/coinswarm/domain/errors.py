"""The one exception tree of Coinswarm.

Every error says what was expected and what was found, so that a person reading one line
knows what to fix.
"""

from __future__ import annotations

__all__ = [
    "CoinswarmError",
    "DataError",
    "IllegalTransitionError",
    "InvalidOrderError",
    "LookAheadError",
    "NonFiniteValueError",
    "UnknownMarkError",
]


class CoinswarmError(Exception):
    """Base of every error Coinswarm raises on purpose."""


class NonFiniteValueError(CoinswarmError, ValueError):
    """A price, quantity or amount was NaN, infinite or otherwise unusable as money."""


class InvalidOrderError(CoinswarmError, ValueError):
    """An order breaks an instrument rule (size, notional, increment) or is malformed."""


class IllegalTransitionError(CoinswarmError):
    """An order was asked to move between two states the state machine does not connect."""


class UnknownMarkError(CoinswarmError):
    """A position was to be valued but no price for its instrument is known yet."""


class LookAheadError(CoinswarmError):
    """A strategy tried to reach data that lies after the clock's now."""


class DataError(CoinswarmError, ValueError):
    """Market data that cannot be trusted: names the file, the line and the field."""

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.path = path
        self.line = line
        self.field = field
        self.reason = message
        super().__init__(self._render())

    def _render(self) -> str:
        where = ":".join(str(part) for part in (self.path, self.line) if part is not None)
        field = f"field '{self.field}': " if self.field else ""
        return f"{where}: {field}{self.reason}" if where else f"{field}{self.reason}"
