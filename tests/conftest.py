"""Fixtures shared by every tier of tests."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from hypothesis import HealthCheck, settings

import private_home
from absent import absent
from redis_harness import REDIS, redis_is_up

# Before any test module is imported or any fixture runs: see tests/private_home.py.
private_home.enter()

# Property tests are judged on what they find, never on how fast a loaded CI machine runs them.
settings.register_profile(
    "coinswarm", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.load_profile("coinswarm")

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data" / "binance-spot-1h"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Return the folder of real Binance hourly candles, or skip when it is absent."""
    if not SHARED_DATA.is_dir():
        absent(f"real market data not found at {SHARED_DATA} (only on development machines)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def btc_file(shared_data: Path) -> Path:
    path = shared_data / "BTC_USDT-1h.csv.gz"
    if not path.is_file():
        absent(f"{path} not found")
    return path


def pytest_unconfigure(config: pytest.Config) -> None:
    private_home.leave()


@pytest.fixture(autouse=True)
def _private_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keep every run, state file and report a test makes out of the user's own folders."""
    monkeypatch.setenv("COINSWARM_HOME", str(tmp_path_factory.mktemp("coinswarm-home")))
    for variable in private_home.CLEARED_VARIABLES:
        monkeypatch.delenv(variable, raising=False)


@pytest.fixture
def redis_namespace(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Give the test (and the processes it starts) a namespace of its own; remove its keys."""
    if not redis_is_up():
        absent("no Redis server on 127.0.0.1:6379")
    namespace = f"test-{secrets.token_hex(6)}"
    monkeypatch.setenv("COINSWARM_STATE_NAMESPACE", namespace)
    yield namespace
    client = redis.Redis.from_url(REDIS)
    for key in client.scan_iter(f"{namespace}:*"):
        client.delete(key)
