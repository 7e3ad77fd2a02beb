"""The alert rules, the dead-man's switch, de-duplication, backoff and the alert settings.

Pure: no server, no database; time is whatever the test says it is.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alert_harness import START_NS, live
from coinswarm.infra.alerts import (
    AlertConfigError,
    AlertSettings,
    Backoff,
    DeadMansSwitch,
    Deduplicator,
    Message,
    Rules,
    RuleSettings,
    Severity,
    alert_key,
)
from coinswarm.infra.alerts.channels import numbered, redact
from coinswarm.infra.alerts.rules import HOUR_NS, is_alarming_risk_event
from coinswarm.infra.storage import StorageError
from coinswarm.infra.storage.alert_records import MAX_KEY, Alert

S = 1_000_000_000
MINUTE = 60 * S


def equity(value: str, ts: int, run_id: str = "paper-1", **more: str) -> dict:
    return live("equity", run_id, ts, equity=value, **more)


def rules(**settings: object) -> Rules:
    return Rules(RuleSettings(**settings))  # type: ignore[arg-type]


# -- loss within the hour --------------------------------------------------------------------


def test_a_loss_of_5_1_percent_within_the_hour_alerts_and_4_9_does_not():
    watching = rules()
    assert watching.observe(equity("10000", START_NS)) == []
    assert watching.observe(equity("9510", START_NS + 30 * MINUTE)) == []  # 4.9%
    assert watching.observe(equity("9500", START_NS + 40 * MINUTE)) == []  # exactly 5%: not over
    raised = watching.observe(equity("9490", START_NS + 50 * MINUTE))  # 5.1%
    assert [a.rule for a in raised] == ["loss_hour"]
    alert = raised[0]
    assert alert.severity is Severity.CRITICAL
    assert alert.key == "loss_hour:paper-1"
    assert "5.10%" in alert.title
    assert alert.run_id == "paper-1"
    assert alert.ts_ns == START_NS + 50 * MINUTE


def test_a_loss_spread_over_more_than_an_hour_does_not_alert():
    watching = rules()
    watching.observe(equity("10000", START_NS))
    watching.observe(equity("9700", START_NS + 40 * MINUTE))
    # 6% below the first point, but that point is 61 minutes old; 3.1% below the second.
    assert watching.observe(equity("9400", START_NS + 61 * MINUTE)) == []


def test_the_threshold_is_a_setting():
    watching = rules(hourly_loss_pct=Decimal(2))
    watching.observe(equity("100", START_NS))
    assert [a.rule for a in watching.observe(equity("97.9", START_NS + MINUTE))] == ["loss_hour"]


def _brute_force(points: list[tuple[int, int]], pct: Decimal) -> list[bool]:
    fired = []
    for j, (ts_j, e_j) in enumerate(points):
        peak = max(e for ts, e in points[: j + 1] if ts >= ts_j - HOUR_NS)
        fired.append(peak > 0 and (Decimal(peak) - e_j) / Decimal(peak) * 100 > pct)
    return fired


@given(
    steps=st.lists(
        st.tuples(st.integers(0, 40 * MINUTE), st.integers(1, 20_000)), min_size=1, max_size=60
    ),
    pct=st.sampled_from([Decimal(1), Decimal(5), Decimal("4.9"), Decimal(10)]),
)
def test_the_hourly_loss_rule_fires_exactly_when_equity_is_over_pct_below_the_hours_peak(
    steps, pct
):
    points, ts = [], START_NS
    for gap, value in steps:
        ts += gap
        points.append((ts, value))
    watching = rules(hourly_loss_pct=pct)
    fired = [bool(watching.observe(equity(str(e), t))) for t, e in points]
    assert fired == _brute_force(points, pct)


def test_losses_of_different_runs_are_judged_apart():
    watching = rules()
    watching.observe(equity("10000", START_NS, "a"))
    watching.observe(equity("100", START_NS, "b"))
    assert watching.observe(equity("101", START_NS + MINUTE, "b")) == []
    assert [a.run_id for a in watching.observe(equity("9000", START_NS + MINUTE, "a"))] == ["a"]


def test_a_backtest_is_not_watched_unless_asked():
    event = equity("100", START_NS) | {"mode": "backtest"}
    later = equity("50", START_NS + MINUTE) | {"mode": "backtest"}
    quiet = rules()
    quiet.observe(event)
    assert quiet.observe(later) == []
    loud = rules(modes=frozenset({"backtest"}))
    loud.observe(event)
    assert loud.observe(later)


# -- phase 3 -----------------------------------------------------------------------------------


def test_in_phase_3_a_days_loss_over_25_dollars_alerts():
    watching = rules()
    watching.observe(live("start", ts_ns=START_NS, phase=3, cash="5000", heartbeat_s=5))
    assert watching.observe(equity("4975", START_NS + 1, day_pnl="-25")) == []
    raised = watching.observe(equity("4974.99", START_NS + 2, day_pnl="-25.01"))
    assert [a.rule for a in raised] == ["loss_phase3"]
    assert raised[0].severity is Severity.WARNING
    assert "$25.01" in raised[0].title


def test_the_phase_3_rule_holds_only_in_phase_3():
    watching = rules()
    watching.observe(live("start", ts_ns=START_NS, phase=1, cash="5000"))
    assert watching.observe(equity("4900", START_NS + 1, day_pnl="-100")) == []


def test_without_a_day_pnl_the_phase_3_rule_uses_the_days_starting_equity():
    watching = rules()
    watching.observe(live("start", ts_ns=START_NS, phase="3"))
    raised = watching.observe(equity("4970", START_NS + 1, day_start_equity="5000"))
    assert [a.rule for a in raised] == ["loss_phase3"]


# -- errors, trades, risk, stops ------------------------------------------------------------


def error(ts: int, source: str = "exchange") -> dict:
    return live("error", ts_ns=ts, source=source, code="503", message="service unavailable")


def test_five_exchange_errors_within_a_minute_are_a_burst():
    watching = rules()
    for n in range(4):
        assert watching.observe(error(START_NS + n * 10 * S)) == []
    raised = watching.observe(error(START_NS + 40 * S))
    assert [a.key for a in raised] == ["error_burst:paper-1:exchange"]
    assert "503 service unavailable" in raised[0].text


def test_errors_spread_over_more_than_the_window_are_no_burst():
    watching = rules()
    assert all(watching.observe(error(START_NS + n * 15 * S)) == [] for n in range(10))


def test_errors_of_different_sources_are_counted_apart():
    watching = rules()
    for n in range(4):
        watching.observe(error(START_NS + n, "exchange"))
    assert watching.observe(error(START_NS + 5, "store")) == []


def test_every_trade_only_when_asked():
    fill = live("fill", trade_id="t-1", order_id="o-1", instrument="BTC-USD", side="buy",
                quantity="0.01", price="50000", fee="0.5")  # fmt: skip
    assert rules().observe(fill) == []
    raised = rules(every_trade=True).observe(fill)
    assert [a.key for a in raised] == ["trade:paper-1:t-1"]
    assert raised[0].title == "paper-1: bought 0.01 BTC-USD at 50000"


@pytest.mark.parametrize(
    ("kind", "alarming"),
    [
        ("TRIP", True),
        ("trip", True),
        ("LATCH", True),
        ("EMERGENCY_STOP", True),
        ("DAILY_LOSS_STOP", True),
        ("TOTAL_LOSS_STOP", True),
        ("stop", True),
        ("RESUME", False),
        ("RESET", False),
        ("DAILY_LOSS_LIFTED", False),
        ("SHARED_CLEARED", False),
        ("approve", False),
    ],
)
def test_trips_and_stops_alarm_and_their_undoing_does_not(kind, alarming):
    assert is_alarming_risk_event(kind) is alarming
    raised = rules().observe(live("risk", event=kind, reason="price moved 12% in 1m"))
    assert bool(raised) is alarming


def test_risk_alerts_can_be_turned_off():
    assert rules(risk_events=False).observe(live("risk", event="TRIP", reason="x")) == []


def test_a_session_that_stops_failed_alerts_and_a_finished_one_does_not():
    assert rules().observe(live("stop", status="finished", reason="done")) == []
    raised = rules().observe(live("stop", status="failed", reason="exchange unreachable"))
    assert [a.rule for a in raised] == ["session_failed"]
    assert "exchange unreachable" in raised[0].text


@pytest.mark.parametrize(
    "event",
    [
        {},
        {"kind": "equity"},
        live("equity", equity="not a number"),
        live("equity", equity="NaN"),
        live("equity", equity=None),
        live("equity", equity=True),
        live("equity", ts_ns="yesterday", equity="1"),
        live("error"),
        live("risk"),
        live("heartbeat", interval_s="soon"),
        live("start", phase="three"),
        live("mystery"),
    ],
)
def test_a_malformed_event_raises_nothing(event):
    assert rules().observe(event) == []


def test_a_key_too_long_for_its_column_ends_in_a_digest():
    long_a, long_b = alert_key("risk", "x" * 400, "a"), alert_key("risk", "x" * 400, "b")
    assert len(long_a) == len(long_b) == MAX_KEY
    assert long_a != long_b
    assert alert_key("a", 1) == "a:1"


def test_an_alert_refuses_an_empty_or_oversized_key():
    for key in ("", "k" * (MAX_KEY + 1)):
        with pytest.raises(StorageError, match="alert key"):
            Alert(rule="r", severity=Severity.INFO, key=key, title="t", text="", ts_ns=0)


# -- the dead-man's switch -------------------------------------------------------------------


def test_a_silent_session_is_down_after_twice_its_interval_and_once():
    switch = DeadMansSwitch(factor=2.0)
    assert switch.due(START_NS) == []
    switch.beat("s", interval_s=5, seq=1, mode="paper", now_ns=START_NS)
    switch.beat("s", interval_s=5, seq=2, mode="paper", now_ns=START_NS + 5 * S)
    assert switch.due(START_NS + 15 * S) == []  # exactly 2 x 5 s after the last beat
    raised = switch.due(START_NS + 15 * S + 1)
    assert [a.rule for a in raised] == ["session_down"]
    assert raised[0].key == "session_down:s:2"
    assert raised[0].severity is Severity.CRITICAL
    assert switch.due(START_NS + 60 * S) == []  # once per silence
    assert switch.watching() == {"s": True}


def test_a_session_beating_again_says_so_and_its_next_silence_is_a_new_alert():
    switch = DeadMansSwitch()
    switch.beat("s", interval_s=1, seq=1, mode="live", now_ns=0)
    assert len(switch.due(3 * S)) == 1
    back = switch.beat("s", interval_s=1, seq=9, mode="live", now_ns=4 * S)
    assert back is not None
    assert back.rule == "session_up"
    assert switch.beat("s", interval_s=1, seq=10, mode="live", now_ns=5 * S) is None
    again = switch.due(8 * S)
    assert [a.key for a in again] == ["session_down:s:10"]


def test_a_stopped_session_is_not_down():
    switch = DeadMansSwitch()
    switch.beat("s", interval_s=1, seq=1, mode="paper", now_ns=0)
    switch.disarm("s")
    assert switch.due(100 * S) == []


def test_a_session_that_never_beat_is_not_watched():
    switch = DeadMansSwitch()
    assert switch.beat("s", interval_s=0, seq=1, mode="paper", now_ns=0) is None
    assert switch.due(100 * S) == []


def test_the_switch_checks_often_enough_for_its_shortest_interval():
    switch = DeadMansSwitch(factor=2.0)
    assert switch.check_period_s() == 1.0
    switch.beat("slow", interval_s=60, seq=1, mode="paper", now_ns=0)
    switch.beat("fast", interval_s=0.4, seq=1, mode="paper", now_ns=0)
    assert switch.check_period_s() == pytest.approx(0.1)


# -- de-duplication and backoff ----------------------------------------------------------------


def test_a_key_is_admitted_once_per_window():
    dedup = Deduplicator(window_ns=900 * S)
    assert dedup.admit("k", 0)
    assert not any(dedup.admit("k", n * S) for n in range(1, 900))
    assert dedup.admit("other", 5 * S)
    assert dedup.admit("k", 900 * S)
    assert dedup.dropped == 899


def test_a_seeded_key_is_not_admitted_again_within_its_window():
    dedup = Deduplicator(window_ns=10 * S)
    dedup.seed([("k", 100 * S)])
    assert not dedup.admit("k", 105 * S)
    assert dedup.admit("k", 110 * S)


@given(st.integers(0, 100))
def test_backoff_doubles_and_is_capped(failures):
    backoff = Backoff(base_s=1, max_s=300)
    delay = backoff.delay_s(failures)
    assert delay == min(300, 2**failures)
    assert backoff.delay_s(failures + 1) >= delay


def test_a_receiver_asking_for_a_wait_is_believed():
    assert Backoff(base_s=1, max_s=300).delay_s(0, asked_s=30) == 30
    assert Backoff(base_s=1, max_s=10).delay_s(5, asked_s=2) == 10


# -- settings and rendering ---------------------------------------------------------------


def test_half_a_channel_is_refused_naming_what_is_missing():
    with pytest.raises(AlertConfigError, match="COINSWARM_ALERT_TELEGRAM_CHAT_ID"):
        AlertSettings(telegram_token="123:abc")
    with pytest.raises(AlertConfigError, match="COINSWARM_ALERT_EMAIL_TO"):
        AlertSettings(email_host="mail", email_from="bot@example.org")


def test_lists_and_thresholds_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("COINSWARM_ALERT_EMAIL_TO", "a@example.org, b@example.org")
    monkeypatch.setenv("COINSWARM_ALERT_WEBHOOK_URLS", "http://127.0.0.1:1/a,http://127.0.0.1:1/b")
    monkeypatch.setenv("COINSWARM_ALERT_HOURLY_LOSS_PCT", "2.5")
    settings = AlertSettings(email_host="mail", email_from="bot@example.org")
    assert settings.email_to == ["a@example.org", "b@example.org"]
    assert [u.get_secret_value() for u in settings.webhook_urls][1] == "http://127.0.0.1:1/b"
    assert settings.hourly_loss_pct == Decimal("2.5")
    assert "127.0.0.1:1/a" not in repr(settings)


def test_a_bad_value_is_one_line_naming_the_variable(monkeypatch):
    monkeypatch.setenv("COINSWARM_ALERT_WINDOW_S", "-1")
    with pytest.raises(AlertConfigError, match=r"^COINSWARM_ALERT_WINDOW_S: .*greater than 0$"):
        AlertSettings()


def test_secrets_are_redacted_and_channels_numbered():
    assert redact("GET /bot123:abc/send failed for 123:abc", ["123:abc", ""]) == (
        "GET /bot***/send failed for ***"
    )
    assert numbered("webhook", 3) == ["webhook", "webhook-2", "webhook-3"]


def test_a_message_is_cut_to_what_the_channel_takes():
    alert = Alert(
        rule="risk", severity=Severity.CRITICAL, key="k", title="t", text="x" * 5000, ts_ns=0
    )
    message = Message(7, alert)
    assert message.subject == "[coinswarm CRITICAL] t"
    assert len(message.body(300)) == 300
    assert message.body(300).endswith("…")
    assert message.body().startswith("[coinswarm CRITICAL] t\nxxx")


def test_every_variable_the_readme_names_is_a_setting():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("The server also watches the sessions", 1)[1].split("POST /api/", 1)[0]
    named = set(re.findall(r"`([A-Z][A-Z0-9_]*[A-Z0-9])`", section))
    assert {"EMAIL_HOST", "WEBHOOK_URLS", "HOURLY_LOSS_PCT"} <= named
    fields = {name.upper() for name in AlertSettings.model_fields}
    assert named - fields == set()


def test_a_session_down_for_a_day_is_forgotten():
    switch = DeadMansSwitch()
    switch.beat("gone", interval_s=5, seq=1, mode="paper", now_ns=0)
    assert len(switch.due(11 * S)) == 1
    switch.due(23 * 3600 * S)
    assert switch.watching() == {"gone": True}
    switch.due(25 * 3600 * S)
    assert switch.watching() == {}
