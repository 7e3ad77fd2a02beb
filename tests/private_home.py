"""Keep a test session out of the user's own data folder, whatever a test or fixture runs.

`coinswarm` writes runs, sessions, its log and its SQLite database under COINSWARM_HOME, else
under the platform's user data folder. A per-test fixture cannot guard what runs before it (a
module-scoped fixture that starts `coinswarm backtest` does), so the whole session, and every
process it starts, gets a temporary COINSWARM_HOME and XDG_DATA_HOME before any test module is
even imported; the variables that would point elsewhere (a database URL, a Redis URL, a risk
phase) are cleared. COINSWARM_CONFIG names an empty configuration file, so a `coinswarm.toml`
the developer keeps in the folder the tests run from cannot change what the tests run.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from platformdirs import user_data_path

__all__ = [
    "CLEARED_VARIABLES",
    "CONFIG_VARIABLE",
    "PrivateHome",
    "enter",
    "leave",
    "real_data_folder",
]

CLEARED_VARIABLES = ("COINSWARM_PHASE", "COINSWARM_REDIS_URL", "COINSWARM_DATABASE_URL")
CONFIG_VARIABLE = "COINSWARM_CONFIG"


def real_data_folder() -> Path:
    """Return the folder `coinswarm` would write into for this user, outside any test."""
    home = os.environ.get("COINSWARM_HOME")
    return Path(home) if home else user_data_path("coinswarm", appauthor=False)


@dataclass(frozen=True)
class PrivateHome:
    """The user's real data folder, and the temporary one a test session uses instead."""

    real: Path
    base: Path  # everything below is the session's and removed at its end

    @property
    def home(self) -> Path:
        return self.base / "home"


SESSION: list[PrivateHome] = []


def enter() -> PrivateHome:
    """Point every default data path of this process and its children at a temporary folder."""
    if SESSION:
        return SESSION[0]
    private = PrivateHome(real_data_folder(), Path(tempfile.mkdtemp(prefix="coinswarm-tests-")))
    os.environ["COINSWARM_HOME"] = str(private.home)
    os.environ["XDG_DATA_HOME"] = str(private.base / "xdg-data")  # platformdirs' default
    for variable in CLEARED_VARIABLES:
        os.environ.pop(variable, None)
    private.base.joinpath("coinswarm.toml").write_text("", encoding="utf-8")
    os.environ[CONFIG_VARIABLE] = str(private.base / "coinswarm.toml")
    SESSION.append(private)
    return private


def leave() -> None:
    """Remove the session's temporary folder."""
    while SESSION:
        shutil.rmtree(SESSION.pop().base, ignore_errors=True)
