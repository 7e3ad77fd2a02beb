"""Explain a refused key: is it the key, or is our clock off (reliability scenario 15)?

Every token lives two minutes from the moment our clock says it was made, so a clock a few
minutes off makes the exchange refuse every request with a 401 that looks like a bad key.
On a refusal the adapter asks public `GET /time` and says which of the two it is.
"""

from __future__ import annotations

from datetime import UTC, datetime

from coinswarm.domain.clock import Clock
from coinswarm.domain.errors import CoinswarmError
from coinswarm.exchanges.coinbase.errors import ClockSkewError, ExchangeAuthError
from coinswarm.exchanges.coinbase.rest import RestClient

__all__ = ["SKEW_TOLERANCE_S", "explain_refusal", "rfc3339"]

SKEW_TOLERANCE_S = 30.0
"""How far the clocks may disagree before a refusal is blamed on the clock."""


def rfc3339(ts_ns: int) -> str:
    """Return UTC nanoseconds as RFC 3339 text with microseconds, as Coinbase writes times."""
    seconds, nanos = divmod(ts_ns, 1_000_000_000)
    moment = datetime.fromtimestamp(seconds, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos // 1000:06d}Z"


def explain_refusal(
    error: ExchangeAuthError,
    rest: RestClient,
    wall: Clock,
    *,
    tolerance_s: float = SKEW_TOLERANCE_S,
) -> ExchangeAuthError:
    """Return `error` restated as clock skew or as a refused key, after asking `GET /time`."""
    if isinstance(error, ClockSkewError):
        return error
    route = error.route or "the exchange"
    try:
        theirs = rest.server_time_ns()
    except CoinswarmError as why:
        msg = f"{error}; the clock could not be checked, GET /time failed: {why}"
        return ExchangeAuthError(msg, route=error.route)
    ours = wall.now_ns()
    skew_s = (theirs - ours) / 1e9
    if abs(skew_s) > tolerance_s:
        return ClockSkewError(route, exchange=rfc3339(theirs), ours=rfc3339(ours), skew_s=skew_s)
    msg = (
        f"{route}: the exchange refused the key ({error.detail or 'no detail'}); the clocks "
        f"agree ({skew_s:+.1f} s, within {tolerance_s:g} s), so check the key's name, private "
        "key and scopes"
    )
    return ExchangeAuthError(msg, route=error.route, detail=error.detail)
