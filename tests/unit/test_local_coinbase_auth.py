"""CDP keys and the ES256 token check of the local Coinbase exchange, against a fixed clock."""

from __future__ import annotations

import json
import secrets

import jwt
import pytest
from coinbase import jwt_generator
from cryptography.hazmat.primitives import serialization

from coinswarm.exchanges.local_coinbase.auth import (
    TOKEN_LIFETIME_S,
    AuthError,
    CdpKey,
    JwtVerifier,
    KeyRing,
    build_jwt,
    generate_key,
)

NOW_S = 1_700_000_000
HOST = "127.0.0.1:8443"
PATH = "/api/v3/brokerage/accounts"
URI = f"GET {HOST}{PATH}"


class FixedClock:
    def __init__(self, now_s: int) -> None:
        self.now_s = now_s

    def now_ns(self) -> int:
        return self.now_s * 1_000_000_000


@pytest.fixture(scope="module")
def key() -> CdpKey:
    return generate_key()


def verifier(key: CdpKey, now_s: int = NOW_S) -> JwtVerifier:
    keys = KeyRing()
    keys.add(key)
    return JwtVerifier(keys, FixedClock(now_s))


def check(verifier: JwtVerifier, bearer: str) -> str:
    return verifier.verify(f"Bearer {bearer}", method="GET", host=HOST, path=PATH)


def signed(key: CdpKey, claims: dict[str, object], **header: object) -> str:
    private = serialization.load_pem_private_key(key.private_key_pem.encode(), password=None)
    headers = {"kid": key.name, "nonce": secrets.token_hex(), **header}
    return jwt.encode(claims, private, algorithm="ES256", headers=headers)


def claims(key: CdpKey, **changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "sub": key.name,
        "iss": "cdp",
        "nbf": NOW_S,
        "exp": NOW_S + TOKEN_LIFETIME_S,
        "uri": URI,
    }
    return {**base, **changes}


def test_a_key_file_looks_like_the_one_coinbase_issues(key: CdpKey) -> None:
    data = json.loads(key.to_json())
    assert set(data) == {"name", "privateKey"}
    assert data["name"].startswith("organizations/")
    assert "/apiKeys/" in data["name"]
    assert data["privateKey"].startswith("-----BEGIN EC PRIVATE KEY-----")
    assert CdpKey.from_json(key.to_json()) == key
    assert key.private_key_pem not in repr(key)


def test_a_bad_key_file_names_what_is_missing_without_echoing_it() -> None:
    with pytest.raises(ValueError, match="privateKey") as caught:
        CdpKey.from_json(json.dumps({"name": "k", "secret": "s3cr3t"}))
    assert "s3cr3t" not in str(caught.value)


def test_a_good_token_proves_its_key(key: CdpKey) -> None:
    assert check(verifier(key), build_jwt(key, URI, now_s=NOW_S)) == key.name


def test_a_token_from_the_official_sdk_verifies(key: CdpKey) -> None:
    import time  # noqa: PLC0415 - the SDK signs with the real time

    bearer = jwt_generator.build_rest_jwt(URI, key.name, key.private_key_pem)
    assert check(verifier(key, int(time.time())), bearer) == key.name


@pytest.mark.parametrize(
    ("now_s", "message"),
    [
        (NOW_S + TOKEN_LIFETIME_S, "expired"),
        (NOW_S + 180, "expired"),
        (NOW_S - 180, "not valid yet"),
    ],
)
def test_the_token_window_is_judged_by_the_server_clock(
    key: CdpKey, now_s: int, message: str
) -> None:
    with pytest.raises(AuthError, match=message):
        check(verifier(key, now_s), build_jwt(key, URI, now_s=NOW_S))


def test_the_last_second_of_the_window_is_still_valid(key: CdpKey) -> None:
    late = verifier(key, NOW_S + TOKEN_LIFETIME_S - 1)
    assert check(late, build_jwt(key, URI, now_s=NOW_S)) == key.name


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"uri": f"POST {HOST}{PATH}"}, "uri"),
        ({"uri": f"GET api.coinbase.com{PATH}"}, "uri"),
        ({"iss": "someone"}, "iss"),
        ({"sub": "organizations/x/apiKeys/y"}, "sub"),
        ({"exp": NOW_S + 3600}, "longer than"),
        ({"nbf": "soon"}, "integer"),
    ],
)
def test_claims_must_match_the_request_and_the_rules(
    key: CdpKey, changes: dict[str, object], message: str
) -> None:
    with pytest.raises(AuthError, match=message):
        check(verifier(key), signed(key, claims(key, **changes)))


def test_alg_none_is_refused(key: CdpKey) -> None:
    unsigned = jwt.encode(claims(key), None, algorithm="none", headers={"kid": key.name})
    with pytest.raises(AuthError, match="algorithm"):
        check(verifier(key), unsigned)


def test_a_token_signed_by_another_key_under_the_same_name_is_refused(key: CdpKey) -> None:
    impostor = generate_key(name=key.name)
    with pytest.raises(AuthError, match="signature"):
        check(verifier(key), build_jwt(impostor, URI, now_s=NOW_S))


def test_an_unknown_key_is_refused(key: CdpKey) -> None:
    stranger = generate_key()
    with pytest.raises(AuthError, match="unknown key"):
        check(verifier(key), build_jwt(stranger, URI, now_s=NOW_S))


def test_a_missing_nonce_is_refused(key: CdpKey) -> None:
    private = serialization.load_pem_private_key(key.private_key_pem.encode(), password=None)
    bare = jwt.encode(claims(key), private, algorithm="ES256", headers={"kid": key.name})
    with pytest.raises(AuthError, match="nonce"):
        check(verifier(key), bare)


@pytest.mark.parametrize("authorization", [None, "", "Bearer", "Basic abc", "Bearer not.a.jwt"])
def test_a_missing_or_garbled_header_is_refused(key: CdpKey, authorization: str | None) -> None:
    with pytest.raises(AuthError):
        verifier(key).verify(authorization, method="GET", host=HOST, path=PATH)
