"""Load a CDP API key (a name and an EC private key) from the environment or the OS keyring.

Never from a file in the repository. The private key is held only as a parsed key object and
no error, repr or log line built here contains any of its text.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from coinswarm.exchanges.coinbase.errors import CoinbaseKeyError

__all__ = [
    "ENV_KEY_NAME",
    "ENV_PRIVATE_KEY",
    "KEYRING_SERVICE",
    "CdpCredentials",
    "load_credentials",
    "parse_private_key",
]

ENV_KEY_NAME = "COINSWARM_COINBASE_KEY_NAME"
ENV_PRIVATE_KEY = "COINSWARM_COINBASE_PRIVATE_KEY"
KEYRING_SERVICE = "coinswarm-coinbase"
"""The keyring service; the entries are `key_name` and `private_key`."""


@dataclass(frozen=True, slots=True)
class CdpCredentials:
    """A CDP key ready to sign: its name (not secret) and the parsed private key."""

    name: str
    private_key: ec.EllipticCurvePrivateKey = field(repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise CoinbaseKeyError("CDP key name: expected a non-empty name, found an empty one")


def parse_private_key(pem: str, *, source: str) -> ec.EllipticCurvePrivateKey:
    """Return the EC P-256 private key in `pem`; raise naming `source`, never echoing the text."""
    # Environment variables often carry the PEM with literal "\n" escapes from the JSON key file.
    text = pem.replace("\\n", "\n").strip()
    try:
        key = serialization.load_pem_private_key(text.encode(), password=None)
    except (ValueError, TypeError):
        # `from None`: the library's message or the chained exception could quote key material.
        msg = (
            f"{source}: expected an unencrypted EC private key in PEM "
            f"('-----BEGIN EC PRIVATE KEY-----'), found {len(text)} characters that do not "
            "parse as one (value not shown)"
        )
        raise CoinbaseKeyError(msg) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        msg = f"{source}: expected an EC P-256 private key (ES256), found another kind of key"
        raise CoinbaseKeyError(msg)
    return key


def _from_environment(environ: Mapping[str, str]) -> CdpCredentials | None:
    name, pem = environ.get(ENV_KEY_NAME), environ.get(ENV_PRIVATE_KEY)
    if name is None and pem is None:
        return None
    if not name or not pem:
        missing = ENV_KEY_NAME if not name else ENV_PRIVATE_KEY
        msg = f"{missing}: expected it to be set along with the other CDP key variable"
        raise CoinbaseKeyError(msg)
    return CdpCredentials(name, parse_private_key(pem, source=ENV_PRIVATE_KEY))


def _from_keyring(service: str) -> CdpCredentials | None:
    try:
        keyring = importlib.import_module("keyring")
    except ImportError:
        return None  # the keyring is optional; without it only the environment is read
    name = keyring.get_password(service, "key_name")
    pem = keyring.get_password(service, "private_key")
    if name is None or pem is None:
        return None
    source = f"keyring {service}/private_key"
    return CdpCredentials(str(name), parse_private_key(str(pem), source=source))


def load_credentials(
    environ: Mapping[str, str] | None = None, *, keyring_service: str = KEYRING_SERVICE
) -> CdpCredentials:
    """Return the CDP key from the environment, else from the OS keyring if one is installed."""
    found = _from_environment(os.environ if environ is None else environ)
    found = found or _from_keyring(keyring_service)
    if found is None:
        msg = (
            f"no CDP key found: set {ENV_KEY_NAME} and {ENV_PRIVATE_KEY}, or store 'key_name' "
            f"and 'private_key' under the keyring service {keyring_service!r}"
        )
        raise CoinbaseKeyError(msg)
    return found
