"""The per-request ES256 token: claims, header and window from an injected clock."""

from __future__ import annotations

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from coinswarm.exchanges.coinbase import CdpCredentials, TokenSigner, parse_private_key
from coinswarm.exchanges.coinbase.tokens import TOKEN_LIFETIME_S
from coinswarm.exchanges.local_coinbase import JwtVerifier, KeyRing, generate_key

NAME = "organizations/org-1/apiKeys/key-1"
NOW_S = 1_700_000_000


class FixedClock:
    def __init__(self, now_ns: int) -> None:
        self.now = now_ns

    def now_ns(self) -> int:
        return self.now


def signer(clock: FixedClock) -> tuple[TokenSigner, ec.EllipticCurvePrivateKey]:
    private = ec.generate_private_key(ec.SECP256R1())
    nonces = iter(f"nonce-{i}" for i in range(100))
    return TokenSigner(CdpCredentials(NAME, private), clock, nonce=lambda: next(nonces)), private


def decode(token: str, private: ec.EllipticCurvePrivateKey) -> dict[str, object]:
    claims: dict[str, object] = jwt.decode(
        token,
        private.public_key(),
        algorithms=["ES256"],
        options={"verify_exp": False, "verify_nbf": False},
    )
    return claims


def test_a_token_carries_coinbase_s_claims_and_header() -> None:
    clock = FixedClock(NOW_S * 1_000_000_000 + 999_999_999)
    tokens, private = signer(clock)
    token = tokens.token("get", "api.coinbase.com", "/api/v3/brokerage/accounts")
    assert decode(token, private) == {
        "sub": NAME,
        "iss": "cdp",
        "nbf": NOW_S,
        "exp": NOW_S + TOKEN_LIFETIME_S,
        "uri": "GET api.coinbase.com/api/v3/brokerage/accounts",
    }
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "ES256", "typ": "JWT", "kid": NAME, "nonce": "nonce-0"}


def test_every_request_gets_a_fresh_token_from_the_clock_of_the_moment() -> None:
    clock = FixedClock(NOW_S * 1_000_000_000)
    tokens, private = signer(clock)
    first = tokens.token("POST", "h", "/p")
    clock.now += 30 * 1_000_000_000
    second = tokens.token("POST", "h", "/p")
    assert first != second
    assert decode(second, private)["nbf"] == NOW_S + 30
    assert jwt.get_unverified_header(second)["nonce"] == "nonce-1"


def test_the_local_exchange_accepts_the_token() -> None:
    key = generate_key()
    keys = KeyRing()
    keys.add(key)
    clock = FixedClock(NOW_S * 1_000_000_000)
    credentials = CdpCredentials(key.name, parse_private_key(key.private_key_pem, source="t"))
    token = TokenSigner(credentials, clock).token("GET", "127.0.0.1:1", "/x")
    verifier = JwtVerifier(keys, clock)
    assert (
        verifier.verify(f"Bearer {token}", method="GET", host="127.0.0.1:1", path="/x") == key.name
    )


def test_the_signer_s_repr_names_the_key_only() -> None:
    tokens, _ = signer(FixedClock(0))
    assert repr(tokens) == f"TokenSigner(key={NAME!r})"
