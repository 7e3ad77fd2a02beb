"""The errors of the Coinbase adapter; every one is a `CoinswarmError` and none carries a secret."""

from __future__ import annotations

from coinswarm.domain.errors import CoinswarmError

__all__ = [
    "ClockSkewError",
    "CoinbaseKeyError",
    "ExchangeAuthError",
    "ExchangeDataError",
    "ExchangeRequestError",
    "ExchangeUnavailableError",
    "OrderNotFoundError",
    "OrderOutcomeUnknownError",
    "UnsafeKeyError",
]


class CoinbaseKeyError(CoinswarmError, ValueError):
    """A CDP key is missing or unusable; the message names where it came from, never its value."""


class UnsafeKeyError(CoinswarmError):
    """A key may do more than trading (move funds out), so live trading refuses to start with it."""


class ExchangeDataError(CoinswarmError, ValueError):
    """An answer from the exchange that cannot be trusted: names the route and the field."""

    def __init__(self, route: str, field: str, problem: str) -> None:
        self.route = route
        self.field = field
        self.problem = problem
        super().__init__(f"{route}: field '{field}': {problem}")


class ExchangeUnavailableError(CoinswarmError):
    """The exchange could not be asked: network down, 5xx or 429 beyond the retries allowed."""


class ExchangeAuthError(CoinswarmError):
    """The exchange refused the key (401 or 403): a wrong key, a missing scope or clock skew."""

    def __init__(self, message: str, *, route: str = "", detail: str = "") -> None:
        self.route = route
        self.detail = detail  # the exchange's own words, e.g. "HTTP 401 UNAUTHORIZED: expired"
        super().__init__(message)


class ClockSkewError(ExchangeAuthError):
    """The exchange refused a token because our clock and its clock disagree.

    A token lives two minutes from the moment our clock says it was made, so a clock more
    than about 30 s off makes the exchange call every token expired or not yet valid.
    """

    def __init__(self, route: str, *, exchange: str, ours: str, skew_s: float) -> None:
        self.skew_s = skew_s
        super().__init__(
            f"{route}: the exchange refused the token because of clock skew: exchange time "
            f"{exchange}, ours {ours} ({skew_s:+.1f} s); set this machine's clock (NTP)",
            route=route,
        )


class OrderNotFoundError(CoinswarmError, KeyError):
    """The exchange knows no order with this id."""

    def __str__(self) -> str:
        # KeyError would wrap the message in quotes.
        return str(self.args[0]) if self.args else ""


class OrderOutcomeUnknownError(CoinswarmError):
    """An order was sent, the answer was lost, and no lookup could settle whether it exists.

    The order must stay in flight under its `client_order_id` until reconciliation finds it or
    proves it absent; sending it again under a new id could make two orders.
    """

    def __init__(self, client_order_id: str, detail: str) -> None:
        self.client_order_id = client_order_id
        super().__init__(
            f"order {client_order_id}: outcome unknown after {detail}; keep it in flight and "
            "reconcile by this client order id"
        )


class ExchangeRequestError(CoinswarmError):
    """The exchange refused a read or a cancel as malformed (a 4xx other than 401, 403, 429)."""
