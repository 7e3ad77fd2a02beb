"""The in-process hot state keeps the whole `HotState` contract.

The same contract runs against Redis in tests/integration/test_state_redis.py. A
`MemoryHotState` lives in one process only: the integration tests show that a second process
cannot see it, which is why a deployment of several processes needs Redis.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from coinswarm.infra.state import HotState, MemoryHotState
from state_contract import HotStateContract


@pytest.fixture(scope="module")
def state_factory():
    @contextmanager
    def fresh() -> Iterator[HotState]:
        yield MemoryHotState()

    return fresh


class TestMemoryHotState(HotStateContract):
    """Run the shared contract against the in-process default."""


def test_two_objects_share_nothing():
    one, other = MemoryHotState(), MemoryHotState()
    one.set_kill_switch("manual stop", "ops", 1)
    assert other.kill_switch() is None
