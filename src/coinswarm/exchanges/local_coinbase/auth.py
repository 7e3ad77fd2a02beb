"""CDP API keys and the ES256 JWT check that Coinbase Advanced Trade applies to every request.

A CDP key is an EC P-256 key pair named like ``organizations/{org}/apiKeys/{key}``; Coinbase
hands the client a JSON file with that `name` and the `privateKey` as a SEC1 PEM. Each request
carries a fresh token signed with it: header `kid` = the key name and a `nonce`; claims `sub`
= the key name, `iss` = "cdp", `nbf`, `exp` (two minutes later) and `uri` = "METHOD host/path".
The server checks all of that against its own injectable clock, so clock skew can be tested.
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.types import Options

from coinswarm.domain.bar import NS_PER_SECOND
from coinswarm.domain.clock import Clock, WallClock
from coinswarm.domain.errors import CoinswarmError

__all__ = [
    "TOKEN_LIFETIME_S",
    "AuthError",
    "CdpKey",
    "JwtVerifier",
    "KeyPermissions",
    "KeyRing",
    "build_jwt",
    "generate_key",
]

TOKEN_LIFETIME_S = 120
"""Coinbase's documented lifetime of a REST token; a longer-lived token is refused."""

ALGORITHM = "ES256"
ISSUERS = frozenset({"cdp", "coinbase-cloud"})
"""Token issuers Coinbase accepts: "cdp" (the official SDK) and the older "coinbase-cloud"
that its earlier key documentation showed and ccxt still sends."""


class AuthError(CoinswarmError):
    """A request's token is missing, malformed, forged, expired or for another request."""


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyPermissions:
    """What a key may do, as `GET /key_permissions` reports it."""

    can_view: bool = True
    can_trade: bool = True
    can_transfer: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class CdpKey:
    """A CDP API key as Coinbase issues it: a name and an EC private key in PEM."""

    name: str
    private_key_pem: str = field(repr=False)

    def to_json(self) -> str:
        """Return the key file's JSON, with the field names Coinbase uses."""
        return json.dumps({"name": self.name, "privateKey": self.private_key_pem})

    @classmethod
    def from_json(cls, text: str) -> CdpKey:
        """Read a key file; raise ValueError naming the missing field, never echoing the key."""
        data = json.loads(text)
        if not isinstance(data, dict) or "name" not in data or "privateKey" not in data:
            msg = "expected a JSON object with 'name' and 'privateKey'"
            raise ValueError(msg)
        return cls(name=str(data["name"]), private_key_pem=str(data["privateKey"]))

    def public_key(self) -> ec.EllipticCurvePublicKey:
        """Return the public half, which is all the server needs to verify tokens."""
        key = serialization.load_pem_private_key(self.private_key_pem.encode(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            msg = f"key {self.name}: expected an EC private key, found {type(key).__name__}"
            raise TypeError(msg)
        return key.public_key()


def generate_key(name: str | None = None) -> CdpKey:
    """Create a fresh P-256 key named the way CDP names keys."""
    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    name = name or f"organizations/{uuid.uuid4()}/apiKeys/{uuid.uuid4()}"
    return CdpKey(name=name, private_key_pem=pem)


def build_jwt(key: CdpKey, uri: str | None, *, now_s: int) -> str:
    """Sign a token for one request the way the official SDK does (for tests and tools)."""
    claims: dict[str, Any] = {
        "sub": key.name,
        "iss": "cdp",
        "nbf": now_s,
        "exp": now_s + TOKEN_LIFETIME_S,
    }
    if uri is not None:
        claims["uri"] = uri
    private = serialization.load_pem_private_key(key.private_key_pem.encode(), password=None)
    headers = {"kid": key.name, "nonce": secrets.token_hex()}
    return jwt.encode(claims, private, algorithm=ALGORITHM, headers=headers)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class _Registered:
    public_key: ec.EllipticCurvePublicKey
    permissions: KeyPermissions


class KeyRing:
    """The keys a server accepts: public keys and permissions by key name."""

    def __init__(self) -> None:
        self._keys: dict[str, _Registered] = {}

    def add(self, key: CdpKey, permissions: KeyPermissions | None = None) -> None:
        """Accept tokens signed by `key`."""
        self._keys[key.name] = _Registered(key.public_key(), permissions or KeyPermissions())

    def public_key(self, name: str) -> ec.EllipticCurvePublicKey | None:
        registered = self._keys.get(name)
        return registered.public_key if registered else None

    def permissions(self, name: str) -> KeyPermissions:
        return self._keys[name].permissions


class JwtVerifier:
    """Check a request's bearer token as Coinbase does; return the key name it proves."""

    def __init__(self, keys: KeyRing, clock: Clock | None = None, *, leeway_s: int = 0) -> None:
        self._keys = keys
        self._clock = clock or WallClock()
        self._leeway_s = leeway_s

    def verify(self, authorization: str | None, *, method: str, host: str, path: str) -> str:
        """Return the key name, or raise AuthError saying what was wrong."""
        token = _bearer(authorization)
        header = _header(token)
        public_key = self._keys.public_key(str(header.get("kid", "")))
        if public_key is None:
            raise AuthError("unknown key id (kid)")
        claims = _signed_claims(token, public_key)
        self._check_claims(claims, header, expected_uri=f"{method} {host}{path}")
        return str(header["kid"])

    def verify_ws(self, token: str | None) -> str:
        """Return the key name a websocket subscribe message's `jwt` proves, or raise AuthError.

        The official SDK signs websocket tokens without a `uri` claim (the token rides inside
        the message, not on a request line), so only the key, signature and window are checked.
        """
        if not isinstance(token, str) or not token.strip():
            raise AuthError("missing jwt")
        header = _header(token.strip())
        public_key = self._keys.public_key(str(header.get("kid", "")))
        if public_key is None:
            raise AuthError("unknown key id (kid)")
        claims = _signed_claims(token.strip(), public_key)
        self._check_claims(claims, header, expected_uri=None)
        return str(header["kid"])

    def _check_claims(
        self, claims: Mapping[str, Any], header: Mapping[str, Any], *, expected_uri: str | None
    ) -> None:
        if claims.get("sub") != header.get("kid"):
            raise AuthError("claim 'sub' does not match the key id")
        if claims.get("iss") not in ISSUERS:
            raise AuthError(
                f"claim 'iss': expected 'cdp' or 'coinbase-cloud', found {claims.get('iss')!r}"
            )
        if expected_uri is not None and claims.get("uri") != expected_uri:
            raise AuthError(f"claim 'uri': expected {expected_uri!r}, found {claims.get('uri')!r}")
        self._check_window(claims)

    def _check_window(self, claims: Mapping[str, Any]) -> None:
        nbf, exp = claims.get("nbf"), claims.get("exp")
        if not isinstance(nbf, int) or not isinstance(exp, int):
            raise AuthError("claims 'nbf' and 'exp' must be integer seconds")
        if exp - nbf > TOKEN_LIFETIME_S:
            raise AuthError(f"token lives {exp - nbf} s, longer than {TOKEN_LIFETIME_S} s")
        now = self._clock.now_ns() / NS_PER_SECOND
        if now + self._leeway_s < nbf:
            raise AuthError("token not valid yet: is the client clock ahead? see GET /time")
        if now - self._leeway_s >= exp:
            raise AuthError("token expired: is the client clock behind? see GET /time")


def _bearer(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("missing bearer token")
    return token.strip()


def _header(token: str) -> dict[str, Any]:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as error:
        raise AuthError(f"malformed token: {error}") from None
    if header.get("alg") != ALGORITHM:
        raise AuthError(f"algorithm: expected {ALGORITHM}, found {header.get('alg')!r}")
    if not header.get("nonce"):
        raise AuthError("header 'nonce' is missing")
    return header


def _signed_claims(token: str, public_key: ec.EllipticCurvePublicKey) -> dict[str, Any]:
    # PyJWT would check nbf and exp against the real time; the server's own clock does it.
    options: Options = {
        "verify_exp": False,
        "verify_nbf": False,
        "verify_iat": False,
        "verify_aud": False,
    }
    try:
        claims: dict[str, Any] = jwt.decode(
            token, public_key, algorithms=[ALGORITHM], options=options
        )
    except jwt.PyJWTError as error:
        raise AuthError(f"bad signature or token: {error}") from None
    return claims
