"""Sign the fresh ES256 token Coinbase Advanced Trade wants on every REST request and subscribe."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

import jwt

from coinswarm.domain.clock import Clock
from coinswarm.exchanges.coinbase.keys import CdpCredentials

__all__ = ["TOKEN_LIFETIME_S", "TokenSigner"]

TOKEN_LIFETIME_S = 120
"""Coinbase's lifetime of a REST token; a longer one is refused."""

NS_PER_SECOND = 1_000_000_000


class TokenSigner:
    """Make one token per request: claims `sub`, `iss`, `nbf`, `exp`, `uri`; header `kid`, `nonce`.

    The clock is injected so a test can pin the token's window and so skew can be reproduced.
    """

    def __init__(
        self,
        credentials: CdpCredentials,
        clock: Clock,
        *,
        nonce: Callable[[], str] = secrets.token_hex,
    ) -> None:
        self._credentials = credentials
        self._clock = clock
        self._nonce = nonce

    def __repr__(self) -> str:
        return f"TokenSigner(key={self._credentials.name!r})"

    def token(self, method: str, host: str, path: str) -> str:
        """Return a token valid for `method host/path` from now for two minutes."""
        return self._sign({"uri": f"{method.upper()} {host}{path}"})

    def ws_token(self) -> str:
        """Return a token for a websocket subscribe message: no `uri`, two minutes of life.

        The token rides inside the message rather than on a request line, so Coinbase (and
        its official SDK) leave the `uri` claim out.
        """
        return self._sign({})

    def _sign(self, extra: dict[str, Any]) -> str:
        now_s = self._clock.now_ns() // NS_PER_SECOND
        claims: dict[str, Any] = {
            "sub": self._credentials.name,
            "iss": "cdp",
            "nbf": now_s,
            "exp": now_s + TOKEN_LIFETIME_S,
            **extra,
        }
        headers = {"kid": self._credentials.name, "nonce": self._nonce()}
        return jwt.encode(claims, self._credentials.private_key, algorithm="ES256", headers=headers)
