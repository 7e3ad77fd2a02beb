"""The Redis server the shared kill switch tests use (fixture `redis_namespace` in conftest)."""

from __future__ import annotations

import socket

REDIS = "redis://127.0.0.1:6379/0"


def redis_is_up() -> bool:
    """Return whether a server listens on 127.0.0.1:6379."""
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False
