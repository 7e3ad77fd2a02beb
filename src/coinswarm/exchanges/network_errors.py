"""Say what went wrong on the way to an exchange, whichever client library was in between.

httpx, requests (ccxt's) and urllib3 each wrap the real cause: a DNS lookup that failed, a
connection refused, a certificate that did not verify. Their own messages name the wrapper
("ConnectError", "coinbase GET https://...") or bury the cause in a long repr. `describe`
walks the chain of causes and says it plainly, naming the host:

    cannot reach api.exchange.coinbase.com: DNS lookup failed (Name or service not known)
    TLS certificate verify failed for 127.0.0.1: self-signed certificate
"""

from __future__ import annotations

import re
import socket
import ssl
from collections.abc import Callable, Iterator

__all__ = ["causes", "describe", "host_in"]

_MOST = 32  # a chain is a few links; a loop of causes must not hang an error message


def causes(error: BaseException) -> Iterator[BaseException]:
    """Yield `error` and everything it wraps: causes, contexts, and urllib3's `reason`."""
    seen: set[int] = set()
    waiting = [error]
    while waiting and len(seen) < _MOST:
        current = waiting.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        # urllib3 keeps the cause in an instance attribute `reason`; a class property of that
        # name (websockets' deprecated ConnectionClosed.reason) is not read.
        linked = [current.__cause__, current.__context__, vars(current).get("reason")]
        linked += [a for a in current.args if isinstance(a, BaseException)]
        waiting += [e for e in linked if isinstance(e, BaseException)]


_URL_HOST = re.compile(r"\b(?:https?|wss?)://([^/\s:'\"@]+)")


def host_in(text: str, default: str) -> str:
    """Return the host of the first URL in `text` (ccxt names the request it sent), else
    `default`."""
    found = _URL_HOST.search(text)
    return found.group(1) if found else default


def describe(error: BaseException, host: str) -> str | None:
    """Return what failed on the way to `host`, or None when `error` is no network failure.

    The most telling cause wins, wherever it is in the chain: a TLS failure over the OS error
    that carries it, a DNS failure over the connection error around it.
    """
    chain = list(causes(error))
    for told in _TOLD:
        for each in chain:
            said = told(each, host)
            if said is not None:
                return said
    return None


def _verify(error: BaseException, host: str) -> str | None:
    if not isinstance(error, ssl.SSLCertVerificationError):
        return None
    return f"TLS certificate verify failed for {host}: {error.verify_message or error.reason}"


def _tls(error: BaseException, host: str) -> str | None:
    if not isinstance(error, ssl.SSLError):
        return None
    return f"TLS failed for {host}: {error.reason or error}"


def _dns(error: BaseException, host: str) -> str | None:
    if not isinstance(error, socket.gaierror):
        return None
    return f"cannot reach {host}: DNS lookup failed ({error.strerror or error})"


def _refused(error: BaseException, host: str) -> str | None:
    if not isinstance(error, ConnectionRefusedError):
        return None
    return f"cannot reach {host}: connection refused"


def _timeout(error: BaseException, host: str) -> str | None:
    # httpx's and urllib3's timeouts are not TimeoutError: their names say it.
    if not isinstance(error, TimeoutError) and "Timeout" not in type(error).__name__:
        return None
    return f"cannot reach {host}: no answer in time"


def _os(error: BaseException, host: str) -> str | None:
    if not isinstance(error, OSError) or not error.strerror:
        return None
    return f"cannot reach {host}: {error.strerror}"


_TOLD: tuple[Callable[[BaseException, str], str | None], ...] = (
    _verify,
    _tls,
    _dns,
    _refused,
    _timeout,
    _os,
)
