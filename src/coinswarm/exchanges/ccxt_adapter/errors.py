"""The errors of the CCXT adapter; each is a `CoinswarmError` and none carries a secret."""

from __future__ import annotations

from coinswarm.domain.errors import CoinswarmError

__all__ = [
    "CcxtDataError",
    "CcxtExchangeError",
    "CcxtOrderOutcomeUnknownError",
    "CcxtUnavailableError",
]


class CcxtDataError(CoinswarmError, ValueError):
    """A value ccxt returned that cannot be trusted: names the call and the field."""

    def __init__(self, call: str, field: str, problem: str) -> None:
        self.call = call
        self.field = field
        super().__init__(f"{call}: field '{field}': {problem}")


class CcxtUnavailableError(CoinswarmError):
    """The exchange could not be asked (network, timeout, 5xx, 429) within the attempts allowed."""


class CcxtExchangeError(CoinswarmError):
    """The exchange answered a read or a cancel with an error (a bad key, an unknown order...)."""


class CcxtOrderOutcomeUnknownError(CoinswarmError):
    """An order was sent, its answer was lost, and no lookup settled whether it exists.

    Keep it in flight under its client order id; sending it under a new id could make two.
    """

    def __init__(self, client_order_id: str, detail: str) -> None:
        self.client_order_id = client_order_id
        super().__init__(
            f"order {client_order_id}: outcome unknown after {detail}; keep it in flight and "
            "reconcile by this client order id"
        )
