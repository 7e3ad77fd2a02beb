"""A 1 GB file that is not a data file: one `error:` line, exit 2, in bounded memory.

The files are sparse (a hole read as NUL bytes), so they cost no disk. Memory is the child
process's own peak resident size, as the kernel reports it when the process is reaped.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ONE_GB = 1 << 30
# Python with numpy, polars, typer and rich loaded stays far below this; reading the
# gigabyte would not.
MAX_RESIDENT_BYTES = 400 << 20


def sparse(path: Path, head: bytes = b"") -> Path:
    path.write_bytes(head)
    os.truncate(path, ONE_GB)
    assert path.stat().st_blocks * 512 < 1 << 20, "the file system made the file dense"
    return path


# The child's peak resident size as the kernel keeps it includes what its parent had mapped
# when it forked (exec records the old image's high-water mark), and a pytest process that has
# imported the whole suite is large. So a small launcher starts the command and reports the
# grandchild's own peak.
LAUNCHER = """
import os, subprocess, sys
process = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(process.pid, 0)
with open(sys.argv[1], "w") as out:
    out.write(str(usage.ru_maxrss * 1024))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_measured(tmp_path: Path, *args: str) -> tuple[int, str, str, int]:
    """Run `coinswarm *args`; return its exit code, stdout, stderr and peak resident bytes."""
    out, err, peak = tmp_path / "stdout", tmp_path / "stderr", tmp_path / "peak"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        done = subprocess.run(
            [sys.executable, "-c", LAUNCHER, str(peak), sys.executable, "-m", "coinswarm", *args],
            stdout=stdout,
            stderr=stderr,
            check=False,
        )
    return done.returncode, out.read_text(), err.read_text(), int(peak.read_text())


FILES = {
    "BTC_USDT-1h.csv": b"",
    "ETH_USDT-1h.csv": b"timestamp,open,high,low,close,volume\n",
    "BTC_USDT-1h.parquet": b"",
}
COMMANDS = {
    "inspect": ("data", "inspect"),
    "backtest": ("backtest", "--quiet", "--data"),
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("name", sorted(FILES))
def test_a_sparse_gigabyte_is_one_error_line_in_bounded_memory(tmp_path, name, command):
    folder = tmp_path / "data"
    folder.mkdir()
    path = sparse(folder / name, FILES[name])
    code, stdout, stderr, resident = run_measured(tmp_path, *COMMANDS[command], str(path))
    assert code == 2, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith(f"error: {path}")
    assert "NUL" in lines[0] or "Parquet" in lines[0]
    assert stdout == ""
    assert resident < MAX_RESIDENT_BYTES, f"{resident / 2**20:.0f} MiB"
    assert list(folder.iterdir()) == [path]
