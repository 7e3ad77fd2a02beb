"""Build a ccxt exchange, optionally pointed at a self-hosted URL and confined to it.

With `url`, every REST address in the exchange's `urls['api']` is moved to that scheme and
host (paths kept), and the exchange's HTTP session refuses any other host, so a test or a
local sandbox can never reach the internet through ccxt. `ca_file` trusts a private CA for
that URL only (the local exchange's self-signed certificate).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import ccxt  # type: ignore[import-untyped]  # ccxt ships no type information
from requests import PreparedRequest, Response
from requests.adapters import HTTPAdapter

from coinswarm.domain.errors import CoinswarmError

__all__ = ["ExchangeSpec", "make_exchange"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ExchangeSpec:
    """Which ccxt exchange to build and where it may connect; secrets never appear in repr."""

    exchange_id: str
    url: str | None = None
    ca_file: Path | None = None
    api_key: str | None = field(default=None, repr=False)
    secret: str | None = field(default=None, repr=False)
    rate_limit: bool = True
    timeout_ms: int = 10_000


class _Refuse(HTTPAdapter):
    """Refuse every request: mounted for hosts other than the configured one."""

    def __init__(self, allowed: str) -> None:
        super().__init__()
        self._allowed = allowed

    def send(self, request: PreparedRequest, *args: Any, **kwargs: Any) -> Response:
        msg = f"refused {request.url}: this exchange may only reach {self._allowed}"
        raise ccxt.ExchangeError(msg)


class _Trust(HTTPAdapter):
    """Verify the configured host against a private CA instead of the system store."""

    def __init__(self, ca_file: Path | None) -> None:
        super().__init__()
        self._ca = str(ca_file) if ca_file else None

    def send(self, request: PreparedRequest, *args: Any, **kwargs: Any) -> Response:
        if self._ca is not None and kwargs.get("verify", True) is True:
            kwargs["verify"] = self._ca
        return super().send(request, *args, **kwargs)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        msg = f"--url: expected http(s)://host[:port], found {url!r}"
        raise CoinswarmError(msg)
    return f"{parts.scheme}://{parts.netloc}"


def _rebase(value: Any, origin: str) -> Any:
    """Return `value` (a URL, or nested dicts and lists of them) moved to `origin`."""
    if isinstance(value, str) and value.startswith(("http://", "https://")):
        parts = urlsplit(value)
        rest = value[len(f"{parts.scheme}://{parts.netloc}") :]
        return origin + rest
    if isinstance(value, Mapping):
        return {k: _rebase(v, origin) for k, v in value.items()}
    if isinstance(value, list):
        return [_rebase(v, origin) for v in value]
    return value


def make_exchange(spec: ExchangeSpec) -> Any:
    """Return a synchronous ccxt exchange built from `spec`; raise on an unknown id or URL."""
    if spec.exchange_id not in ccxt.exchanges:
        msg = f"exchange: ccxt knows no exchange {spec.exchange_id!r}"
        raise CoinswarmError(msg)
    config: dict[str, Any] = {"enableRateLimit": spec.rate_limit, "timeout": spec.timeout_ms}
    if spec.api_key is not None:
        config["apiKey"] = spec.api_key
    if spec.secret is not None:
        config["secret"] = spec.secret
    exchange = getattr(ccxt, spec.exchange_id)(config)
    if spec.url is not None:
        origin = _origin(spec.url)
        urls = dict(exchange.urls)
        urls["api"] = _rebase(urls.get("api"), origin)
        exchange.urls = urls
        # requests picks the longest matching prefix: the origin is trusted, the rest refused.
        exchange.session.mount("http://", _Refuse(origin))
        exchange.session.mount("https://", _Refuse(origin))
        exchange.session.mount(origin + "/", _Trust(spec.ca_file))
    return exchange
