"""A missing server or data set skips a test on a laptop and fails it in CI (tests/absent.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from absent import absent, in_ci

TESTS = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("value", ["true", "True", "1", "yes"])
def test_under_ci_a_missing_server_fails_the_test_saying_what_is_missing(value):
    reason = "no Redis server at 127.0.0.1:6379"
    with pytest.raises(pytest.fail.Exception, match=re.escape(f"{reason} (CI=true")):
        absent(reason, {"CI": value})


@pytest.mark.parametrize("environ", [{}, {"CI": ""}, {"CI": "false"}, {"CI": "0"}])
def test_outside_ci_a_missing_server_skips_the_test_saying_why(environ):
    with pytest.raises(pytest.skip.Exception, match=r"^no NATS server on 127\.0\.0\.1:4222$"):
        absent("no NATS server on 127.0.0.1:4222", environ)


def test_in_ci_reads_the_ci_variable():
    assert in_ci({"CI": "true"})
    assert not in_ci({})
    assert not in_ci({"CI": "false"})


def test_no_test_skips_except_through_absent():
    # A bare pytest.skip or skipif for a server or data set would pass silently in CI.
    bare = re.compile(r"pytest\.skip\(|pytest\.mark\.skip(if)?\b")
    offenders = [
        f"{path.relative_to(TESTS)}:{number}"
        for path in sorted(TESTS.rglob("*.py"))
        if path.name not in ("absent.py", Path(__file__).name)
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if bare.search(line)
    ]
    assert offenders == []
