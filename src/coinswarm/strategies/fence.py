"""A fence around strategy code: while it decides, it may not read files or reach the network.

The market view already ends at the clock's now; this closes the side doors, for our
strategies and a user's alike (a user's is built fenced; every strategy decides fenced, in
every mode). A strategy that opens the data file to read tomorrow's close, lists a folder,
connects a socket or starts a process is stopped with `LookAheadError`. It uses a CPython
audit hook, installed once per process and active only on the thread that runs the fenced
block, so a progress bar drawing from another thread is not affected.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from coinswarm.domain.errors import LookAheadError

__all__ = ["fenced"]

_BLOCKED_EVENTS = frozenset(
    {
        "open",
        "os.listdir",
        "os.scandir",
        "socket.connect",
        "socket.getaddrinfo",
        "subprocess.Popen",
        "os.system",
        "os.exec",
        "os.posix_spawn",
        "os.spawn",
    }
)
# Python's own library and installed packages may still load lazily while fenced.
_LIBRARY_ROOTS = tuple(
    str(Path(p).resolve()) for p in {sys.prefix, sys.base_prefix, sys.exec_prefix}
)

_state = threading.local()
_installed = False
_install_lock = threading.Lock()


def _is_library_file(target: object) -> bool:
    if isinstance(target, int):
        return False
    try:
        path = str(Path(str(target)).resolve())
    except (OSError, ValueError):
        return False
    return path.startswith(_LIBRARY_ROOTS)


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if event not in _BLOCKED_EVENTS or not getattr(_state, "active", False):
        return
    target = args[0] if args else None
    if event == "open" and _is_library_file(target):
        return
    msg = (
        f"a strategy tried '{event}' on {target!r}; strategies see market data only through "
        "the time-fenced view, and may not open files or sockets or start processes"
    )
    raise LookAheadError(msg)


def _install() -> None:
    global _installed  # noqa: PLW0603 - an audit hook can be added once and never removed
    with _install_lock:
        if not _installed:
            sys.addaudithook(_hook)
            _installed = True


@contextmanager
def fenced() -> Iterator[None]:
    """Refuse file, folder, network and process access on this thread inside the block."""
    _install()
    previous = getattr(_state, "active", False)
    _state.active = True
    try:
        yield
    finally:
        _state.active = previous
