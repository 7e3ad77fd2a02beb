"""What `coinswarm serve` is told: where it listens, who may look, who may act.

Tokens come from the environment (`COINSWARM_API_VIEWER_TOKEN`, `COINSWARM_API_OPERATOR_TOKEN`)
or, when those are unset, from the OS keyring (service `coinswarm-api`, entries `viewer` and
`operator`). They never come from a file of the repository or the configuration file, and
they never appear in a log line, a report or a response.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["KEYRING_SERVICE", "ServeSettings", "from_keyring"]

KEYRING_SERVICE = "coinswarm-api"


def from_keyring(entry: str, service: str = KEYRING_SERVICE) -> SecretStr | None:
    """Return the keyring's secret `entry`, or None without a keyring or without the entry."""
    try:
        keyring = importlib.import_module("keyring")
    except ImportError:
        return None  # the keyring is optional; without it only the environment is read
    value = keyring.get_password(service, entry)
    return None if not value else SecretStr(value)


class ServeSettings(BaseSettings):
    """The server's settings; each field is also a `COINSWARM_API_<NAME>` variable."""

    model_config = SettingsConfigDict(env_prefix="COINSWARM_API_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8787, ge=0, le=65535)
    viewer_token: SecretStr | None = None
    operator_token: SecretStr | None = None
    public: bool = False
    """Read-only pages and GET endpoints without a token (state-changing ones still need one)."""
    db: str | None = None
    """One database for every mode; by default each mode's own embedded file."""
    runs_dir: Path | None = None
    bus: str | None = None
    """A NATS URL to follow sessions in other processes; None: the in-process bus."""
    state_url: str | None = None
    """The Redis URL of the shared kill switch, shown on the risk page; None: not shared."""
    heartbeat_s: float = Field(default=5.0, gt=0)
    """How often a session beats; no beat for twice this long raises the session-down alert."""

    def with_keyring(self) -> ServeSettings:
        """Return these settings with each unset token read from the keyring, if it has one."""
        viewer = self.viewer_token or from_keyring("viewer")
        operator = self.operator_token or from_keyring("operator")
        return self.model_copy(update={"viewer_token": viewer, "operator_token": operator})
