"""Keep the garbage collector's pauses out of the decision path while a run's loop turns.

A full collection walks every object the collector tracks. Before the loop that is mostly what
will live as long as the process: imports, the loaded market, the wired run. Walking it again
on every full pass made the collector's pauses the worst decisions' latency (tens of ms), so the
loops freeze it first (`gc.freeze`): collections then walk only what the run makes. At the end
it is unfrozen, so that nothing frozen outlives the run beyond the collector's reach.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["long_lived_frozen"]

_lock = threading.Lock()
_depth = 0  # loops inside `long_lived_frozen` now, on any thread
_ours = False  # whether the freeze in force is ours to lift


@contextmanager
def long_lived_frozen() -> Iterator[None]:
    """Freeze what is alive now for the duration; loops may nest or overlap across threads.

    A freeze made by someone else (a process that froze before forking, say) is left alone:
    it is neither repeated nor lifted.
    """
    global _depth, _ours  # noqa: PLW0603 - one collector per process, so one count
    with _lock:
        if _depth == 0:
            _ours = gc.get_freeze_count() == 0
            if _ours:
                gc.freeze()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _ours:
                gc.unfreeze()
