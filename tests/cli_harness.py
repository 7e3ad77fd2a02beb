"""The command line as a person runs it: `coinswarm` in a process of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def coinswarm(
    *args: str, cwd: Path | None = None, home: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `coinswarm *args` in a fresh interpreter and return its exit code and output.

    `home` replaces COINSWARM_HOME (where sessions, runs and journals go) for this run only.
    """
    env = None if home is None else {**os.environ, "COINSWARM_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "coinswarm", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        env=env,
        timeout=300,
    )
