"""Risk profiles match the phase table; settings override them and never loosen real money."""

from __future__ import annotations

import os
from decimal import Decimal

import pytest

from coinswarm.risk.errors import RiskConfigError
from coinswarm.risk.profiles import (
    NS_PER_MINUTE,
    NS_PER_SECOND,
    PHASES,
    BreakerSettings,
    RiskProfile,
    profile_for,
)
from coinswarm.risk.settings import RiskSettings

D = Decimal
HOUR = 3600 * NS_PER_SECOND

# phase: (max position, max daily loss, max total loss, losing days in a row)
TABLE = {
    0: ("0.25", "0.05", "0.10", None),
    1: ("0.25", "0.05", "0.10", None),
    2: ("0.25", "0.05", "0.10", None),
    3: ("0.05", "0.01", "0.10", 3),
    4: ("0.05", "0.02", "0.15", 5),
    5: ("0.05", "0.02", "0.20", None),
}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    """Keep a developer's own COINSWARM_* variables out of these tests."""
    for name in list(os.environ):
        if name.startswith("COINSWARM_"):
            monkeypatch.delenv(name)


@pytest.mark.parametrize(("phase", "row"), TABLE.items())
def test_each_phase_matches_the_table(phase, row):
    position, daily, total, losing_days = row
    profile = profile_for(phase)
    assert profile.phase == phase
    assert profile.max_position_fraction == D(position)
    assert profile.max_daily_loss_fraction == D(daily)
    assert profile.max_total_loss_fraction == D(total)
    assert profile.max_losing_days == losing_days
    assert profile.breaker.price_move_fraction == D("0.10")
    assert profile.breaker.price_window_ns == NS_PER_MINUTE


def test_phase_three_in_dollars_of_a_five_thousand_account():
    profile = profile_for(3)
    equity = D(5000)
    assert profile.max_position_fraction * equity == 250
    assert profile.max_daily_loss_fraction * equity == 50
    assert profile.max_total_loss_fraction * equity == 500


def test_phase_three_limits_positions_trades_and_instruments_and_stops_on_errors():
    profile = profile_for(3)
    assert profile.max_concurrent_positions == 3
    assert profile.max_trades_per_day == 10
    assert profile.allowed_instruments == frozenset({"BTC-USD", "ETH-USD"})
    assert profile.allows_instrument("BTC-USD")
    assert not profile.allows_instrument("BTC-USDT")
    assert profile.stop_on_system_error


def test_training_phases_allow_any_instrument_and_resume_after_a_trip():
    for phase in (0, 1, 2):
        profile = profile_for(phase)
        assert profile.allowed_instruments is None
        assert profile.max_trades_per_day is None
        assert not profile.is_real_money
        assert profile.breaker.latch_after_trips == 3
        assert profile.breaker.rapid_loss_fraction == D("0.025")


def test_real_money_phases_latch_the_breaker_on_the_first_trip():
    for phase in (3, 4, 5):
        profile = profile_for(phase)
        assert profile.is_real_money
        assert profile.breaker.latch_after_trips == 1
        assert profile.breaker.rapid_loss_fraction is None
        assert profile.stop_on_system_error


def test_phase_names():
    assert [PHASES[n].name for n in range(6)] == [
        "backtest",
        "paper",
        "sandbox",
        "limited real money",
        "scaling",
        "production",
    ]


def test_an_unknown_phase_is_refused():
    with pytest.raises(RiskConfigError, match="phase must be one of"):
        profile_for(6)


@pytest.mark.parametrize("fraction", [D(0), D("1.5"), D("NaN"), D(-1)])
def test_a_profile_refuses_a_fraction_outside_zero_to_one(fraction):
    with pytest.raises(RiskConfigError, match="max_position_fraction"):
        RiskProfile(
            phase=0,
            name="x",
            max_position_fraction=fraction,
            max_daily_loss_fraction=D("0.05"),
            max_total_loss_fraction=D("0.1"),
        )


def test_breaker_settings_refuse_a_cap_below_the_cool_down():
    with pytest.raises(RiskConfigError, match="max_cooldown_ns"):
        BreakerSettings(cooldown_ns=2 * HOUR, max_cooldown_ns=HOUR)


def test_settings_without_overrides_give_the_phase_defaults():
    assert RiskSettings(phase=4).to_profile() == profile_for(4)


def test_the_phase_is_required():
    with pytest.raises(RiskConfigError, match="phase is required"):
        RiskSettings()


def test_environment_overrides_the_phase_defaults(monkeypatch):
    monkeypatch.setenv("COINSWARM_PHASE", "3")
    monkeypatch.setenv("COINSWARM_MAX_POSITION_FRACTION", "0.03")
    monkeypatch.setenv("COINSWARM_ALLOWED_INSTRUMENTS", '["BTC-USD"]')
    monkeypatch.setenv("COINSWARM_BREAKER__COOLDOWN_SECONDS", "7200")
    profile = RiskSettings().to_profile()
    assert profile.phase == 3
    assert profile.max_position_fraction == D("0.03")
    assert profile.allowed_instruments == frozenset({"BTC-USD"})
    assert profile.breaker.cooldown_ns == 2 * HOUR
    assert profile.max_daily_loss_fraction == D("0.01")  # untouched: the phase's own


def test_other_coinswarm_variables_are_not_taken_for_risk_settings(monkeypatch):
    monkeypatch.setenv("COINSWARM_CRASH_AT", "after_post_sent")
    assert RiskSettings(phase=0).phase == 0


def test_precedence_is_arguments_then_environment_then_toml_then_phase(tmp_path, monkeypatch):
    path = tmp_path / "risk.toml"
    path.write_text(
        'phase = 3\nmax_position_fraction = "0.04"\nmax_daily_loss_fraction = "0.008"\n'
        "max_trades_per_day = 8\n[breaker]\ncooldown_seconds = 7200\n"
    )
    monkeypatch.setenv("COINSWARM_MAX_POSITION_FRACTION", "0.03")
    monkeypatch.setenv("COINSWARM_MAX_DAILY_LOSS_FRACTION", "0.007")
    monkeypatch.setenv("COINSWARM_BREAKER__WINDOW_SECONDS", "120")
    settings = RiskSettings.from_toml(path, max_position_fraction=D("0.02"))
    profile = settings.to_profile()
    assert profile.max_position_fraction == D("0.02")  # argument beats environment and file
    assert profile.max_daily_loss_fraction == D("0.007")  # environment beats file
    assert profile.max_trades_per_day == 8  # file beats phase default
    assert profile.max_total_loss_fraction == D("0.10")  # phase default
    assert profile.breaker.cooldown_ns == 2 * HOUR  # nested table from the file ...
    assert profile.breaker.price_window_ns == 2 * NS_PER_MINUTE  # ... merged with the environment


def test_toml_settings_can_live_in_a_table_of_a_larger_file(tmp_path):
    path = tmp_path / "coinswarm.toml"
    path.write_text('[exchange]\nname = "coinbase"\n[risk]\nphase = 4\nmax_losing_days = 4\n')
    assert RiskSettings.from_toml(path, table="risk").to_profile().max_losing_days == 4
    with pytest.raises(RiskConfigError, match=r"no \[limits\] table"):
        RiskSettings.from_toml(path, table="limits")


def test_unknown_keys_are_refused_by_name(tmp_path):
    path = tmp_path / "risk.toml"
    path.write_text('phase = 3\nmax_postion_fraction = "0.03"\n')
    with pytest.raises(RiskConfigError, match="unknown setting 'max_postion_fraction'") as info:
        RiskSettings.from_toml(path)
    assert str(path) in str(info.value)
    with pytest.raises(RiskConfigError, match=r"unknown setting 'breaker\.cooldown'"):
        RiskSettings(phase=0, breaker={"cooldown": 5})


def test_a_missing_or_broken_file_is_refused(tmp_path):
    with pytest.raises(RiskConfigError, match="not found"):
        RiskSettings.from_toml(tmp_path / "absent.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("phase = = 3\n")
    with pytest.raises(RiskConfigError, match="not valid TOML"):
        RiskSettings.from_toml(broken)


def test_malformed_values_are_refused_with_what_was_found():
    with pytest.raises(RiskConfigError, match=r"max_position_fraction.*found Decimal\('1\.5'\)"):
        RiskSettings(phase=0, max_position_fraction=D("1.5"))
    with pytest.raises(RiskConfigError, match="phase"):
        RiskSettings(phase=9)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"max_position_fraction": D("0.10")}, "max_position_fraction 0.10 is looser"),
        ({"max_daily_loss_fraction": D("0.02")}, "max_daily_loss_fraction 0.02 is looser"),
        ({"max_total_loss_fraction": D("0.2")}, "max_total_loss_fraction 0.2 is looser"),
        ({"max_losing_days": 4}, "max_losing_days 4 is looser than the phase's 3"),
        ({"max_concurrent_positions": 5}, "max_concurrent_positions 5 is looser"),
        ({"max_trades_per_day": 11}, "max_trades_per_day 11 is looser"),
        ({"allowed_instruments": ["BTC-USD", "SOL-USD"]}, "allowed_instruments"),
        ({"stop_on_system_error": False}, "stop_on_system_error cannot be switched off"),
        ({"breaker": {"price_move_fraction": "0.2"}}, "breaker.price_move_fraction"),
        ({"breaker": {"window_seconds": 30}}, "breaker.price_window_ns"),
        ({"breaker": {"cooldown_seconds": 60}}, "breaker.cooldown_ns"),
        ({"breaker": {"latch_after_trips": 3}}, "breaker.latch_after_trips"),
    ],
)
def test_real_money_limits_can_only_be_tightened(override, message):
    settings = RiskSettings(phase=3, **override)
    with pytest.raises(RiskConfigError, match="may only tighten") as info:
        settings.to_profile()
    assert message in str(info.value)


def test_every_loosened_limit_is_named_at_once():
    settings = RiskSettings(phase=4, max_position_fraction=D("0.1"), max_losing_days=9)
    with pytest.raises(RiskConfigError) as info:
        settings.to_profile()
    assert "max_position_fraction" in str(info.value)
    assert "max_losing_days" in str(info.value)


def test_tightening_real_money_limits_is_accepted():
    profile = RiskSettings(
        phase=3,
        max_position_fraction=D("0.02"),
        max_losing_days=2,
        allowed_instruments=["BTC-USD"],
        breaker={"price_move_fraction": "0.05", "window_seconds": 300},
    ).to_profile()
    assert profile.max_position_fraction == D("0.02")
    assert profile.max_losing_days == 2
    assert profile.allowed_instruments == frozenset({"BTC-USD"})
    assert profile.breaker.price_move_fraction == D("0.05")


def test_real_money_may_add_a_rapid_loss_rule():
    profile = RiskSettings(phase=3, breaker={"rapid_loss_fraction": "0.005"}).to_profile()
    assert profile.breaker.rapid_loss_fraction == D("0.005")


def test_production_adds_rules_it_did_not_have():
    profile = RiskSettings(phase=5, max_losing_days=7, max_trades_per_day=50).to_profile()
    assert profile.max_losing_days == 7
    assert profile.max_trades_per_day == 50


def test_training_phases_may_be_loosened():
    profile = RiskSettings(phase=0, max_position_fraction=D("0.5")).to_profile()
    assert profile.max_position_fraction == D("0.5")
