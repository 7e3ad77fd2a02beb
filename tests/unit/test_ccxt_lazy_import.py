"""ccxt takes seconds to import: only a run that chose it (`--exchange local-ccxt`) pays that."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
import coinswarm.bootstrap
import coinswarm.cli.runs
import coinswarm.exchanges.local_session
loaded = sorted(m for m in sys.modules if m == "ccxt" or m.startswith("coinswarm.exchanges.ccxt"))
print(",".join(loaded))
"""


def test_the_paper_wiring_loads_no_ccxt_until_asked() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == ""
