"""Loading CDP keys: from the environment, clear errors, and never a secret in a message."""

from __future__ import annotations

import traceback

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from coinswarm.exchanges.coinbase import CoinbaseKeyError, load_credentials, parse_private_key
from coinswarm.exchanges.coinbase.keys import ENV_KEY_NAME, ENV_PRIVATE_KEY

NAME = "organizations/org-1/apiKeys/key-1"
SECRET_BODY = "MHcCAQEEIThisIsNotARealKeyButItLooksSecretXyZ0123456789abcdefGHIJ"


def pem_of(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


@pytest.fixture
def pem() -> str:
    return pem_of(ec.generate_private_key(ec.SECP256R1()))


def everything_said(error: BaseException) -> str:
    return "\n".join([str(error), repr(error), *traceback.format_exception(error)])


def test_a_key_loads_from_the_environment(pem: str) -> None:
    credentials = load_credentials({ENV_KEY_NAME: NAME, ENV_PRIVATE_KEY: pem})
    assert credentials.name == NAME
    assert isinstance(credentials.private_key, ec.EllipticCurvePrivateKey)
    assert "PRIVATE" not in repr(credentials)


def test_a_pem_with_escaped_newlines_from_a_json_file_loads(pem: str) -> None:
    escaped = pem.replace("\n", "\\n")
    credentials = load_credentials({ENV_KEY_NAME: NAME, ENV_PRIVATE_KEY: escaped})
    assert credentials.private_key.curve.name == "secp256r1"


def test_s22_a_bad_pem_is_a_clear_error_that_never_echoes_the_secret() -> None:
    bad = f"-----BEGIN EC PRIVATE KEY-----\n{SECRET_BODY}\n-----END EC PRIVATE KEY-----\n"
    with pytest.raises(CoinbaseKeyError) as caught:
        load_credentials({ENV_KEY_NAME: NAME, ENV_PRIVATE_KEY: bad})
    said = everything_said(caught.value)
    assert ENV_PRIVATE_KEY in str(caught.value)
    assert "expected an unencrypted EC private key in PEM" in str(caught.value)
    assert SECRET_BODY not in said
    assert SECRET_BODY[:16] not in said


def test_s22_an_rsa_key_is_refused_without_echoing_it() -> None:
    rsa_pem = pem_of(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    with pytest.raises(CoinbaseKeyError, match="EC P-256") as caught:
        parse_private_key(rsa_pem, source="test")
    body = rsa_pem.splitlines()[1]
    assert body not in everything_said(caught.value)


def test_a_key_on_another_curve_is_refused(pem: str) -> None:
    other = pem_of(ec.generate_private_key(ec.SECP384R1()))
    with pytest.raises(CoinbaseKeyError, match="P-256"):
        parse_private_key(other, source="test")


def test_half_a_key_in_the_environment_names_the_missing_variable(pem: str) -> None:
    with pytest.raises(CoinbaseKeyError, match=ENV_KEY_NAME):
        load_credentials({ENV_PRIVATE_KEY: pem})
    with pytest.raises(CoinbaseKeyError, match=ENV_PRIVATE_KEY):
        load_credentials({ENV_KEY_NAME: NAME})


def test_no_key_anywhere_says_where_to_put_one() -> None:
    with pytest.raises(CoinbaseKeyError, match="no CDP key found") as caught:
        load_credentials({}, keyring_service="coinswarm-test-absent")
    assert ENV_KEY_NAME in str(caught.value)


def test_the_real_environment_is_read_by_default(pem: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_KEY_NAME, NAME)
    monkeypatch.setenv(ENV_PRIVATE_KEY, pem)
    assert load_credentials().name == NAME
