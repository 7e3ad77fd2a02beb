"""What a test does when a server or data set it needs is not there: skip, or under CI, fail.

On a laptop without PostgreSQL, Redis, NATS or ../shared/data, the tests that need them skip
and say why. CI has all of them (.ci/run), so there a missing one is a broken machine, not a
reason to pass: with CI=true the same tests fail, saying what was missing. Every such check
goes through `absent`, so no test can skip silently in CI.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import NoReturn

import pytest

__all__ = ["absent", "in_ci"]


def in_ci(environ: Mapping[str, str] = os.environ) -> bool:
    """Return whether this runs in CI (CI=true, as CI services set it)."""
    return environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def absent(reason: str, environ: Mapping[str, str] = os.environ) -> NoReturn:
    """Skip the test because `reason` (a server or data set is missing); under CI, fail it."""
    if in_ci(environ):
        pytest.fail(f"{reason} (CI=true: every test must run in CI, none may skip)", pytrace=False)
    pytest.skip(reason)
