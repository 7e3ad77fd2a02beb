"""Fixtures shared by every tier of tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

import private_home
from absent import absent

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
