"""The command line as a person runs it: `coinswarm` in a process of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path


def coinswarm(
    *args: str,
    cwd: Path | None = None,
    home: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `coinswarm *args` in a fresh interpreter and return its exit code and output.

    `home` replaces COINSWARM_HOME (where sessions, runs and journals go) for this run only;
    `env` adds or replaces other variables for this run only.
    """
    changes = {**(env or {}), **({} if home is None else {"COINSWARM_HOME": str(home)})}
    return subprocess.run(
        [sys.executable, "-m", "coinswarm", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        env={**os.environ, **changes} if changes else None,
        timeout=300,
    )
