"""Named crash points, so that tests can kill the process exactly where it hurts most.

`crash_point("after_fill_saved")` does nothing unless `COINSWARM_CRASH_AT` names that point,
optionally with the occurrence to die at (`after_fill_saved:3` dies the third time it is
passed). A point passed with a subject (the instrument of an order, say) can also be named
for that subject alone: `order_sent@ETH-USD:1` dies at the first order sent for ETH-USD,
whatever was sent before it. Then the process kills itself with SIGKILL: no cleanup, no
flush, no `finally`, just as a power cut or the OOM killer would.
"""

from __future__ import annotations

import os
import signal

__all__ = ["crash_point"]

_VARIABLE = "COINSWARM_CRASH_AT"
_passed: dict[str, int] = {}


def _target() -> tuple[str, int] | None:
    spec = os.environ.get(_VARIABLE)
    if not spec:
        return None
    name, _, count = spec.partition(":")
    return name, int(count) if count.isdigit() else 1


def crash_point(name: str, subject: str | None = None) -> None:
    """Die here with SIGKILL if `COINSWARM_CRASH_AT` names this point (and occurrence).

    The target is `name` (every passage counts) or `name@subject` (only this subject's).
    """
    target = _target()
    if target is None:
        return
    key = name if target[0] == name else f"{name}@{subject}"
    if key != target[0]:
        return
    _passed[key] = _passed.get(key, 0) + 1
    if _passed[key] == target[1]:
        os.kill(os.getpid(), signal.SIGKILL)
