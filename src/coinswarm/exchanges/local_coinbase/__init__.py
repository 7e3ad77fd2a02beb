"""A local, stateful, Coinbase Advanced Trade compatible exchange for tests (REST for now).

Build a `Venue` over bars, a `KeyRing` of CDP keys, an app with `create_app`, and run it with
`serve_in_thread`; the official SDK and our own clients talk to it as to Coinbase.
"""

from __future__ import annotations

from coinswarm.exchanges.local_coinbase.app import create_app
from coinswarm.exchanges.local_coinbase.auth import (
    AuthError,
    CdpKey,
    JwtVerifier,
    KeyPermissions,
    KeyRing,
    build_jwt,
    generate_key,
)
from coinswarm.exchanges.local_coinbase.faults import Fault, FaultPlan
from coinswarm.exchanges.local_coinbase.server import RunningServer, serve_in_thread
from coinswarm.exchanges.local_coinbase.tls import TlsFiles, make_tls_files
from coinswarm.exchanges.local_coinbase.venue import Venue

__all__ = [
    "AuthError",
    "CdpKey",
    "Fault",
    "FaultPlan",
    "JwtVerifier",
    "KeyPermissions",
    "KeyRing",
    "RunningServer",
    "TlsFiles",
    "Venue",
    "build_jwt",
    "create_app",
    "generate_key",
    "make_tls_files",
    "serve_in_thread",
]
