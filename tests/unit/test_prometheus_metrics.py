"""The server's Prometheus metrics count what the live events say, with bounded labels."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from coinswarm.infra.metrics import METRIC_NAMES, Metrics, normalised

NS = 1_000_000_000


class Clock:
    def __init__(self, now_ns: int = 1_800_000_000 * NS) -> None:
        self.now_ns = now_ns

    def __call__(self) -> int:
        return self.now_ns


def event(kind: str, run_id: str = "r1", mode: str = "paper", **fields: Any) -> dict[str, Any]:
    return {"run_id": run_id, "mode": mode, "kind": kind, "ts_ns": 1, **fields}


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = metrics.exposition().decode()
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(metrics: Metrics, name: str, **labels: str) -> float | None:
    return samples(metrics).get((name, tuple(sorted(labels.items()))))


def families(metrics: Metrics) -> set[str]:
    text = metrics.exposition().decode()
    return {family.name for family in text_string_to_metric_families(text)}


def test_every_declared_family_is_exposed_once_events_have_come():
    clock = Clock()
    metrics = Metrics(clock)
    metrics.observe(event("start", heartbeat_s=5.0))
    metrics.observe(
        event("equity", equity="1000", drawdown=0.1, day_pnl="-5", daily_loss_limit="50")
    )
    # Counter families are exposed as <name>_total; the parser names them without the suffix.
    exposed = families(metrics)
    for name in METRIC_NAMES:
        assert name.removesuffix("_total") in exposed, name


def test_two_servers_in_one_process_count_apart():
    first, second = Metrics(Clock()), Metrics(Clock())
    first.observe(event("fill", side="buy", fee="0.5"))
    assert value(first, "coinswarm_fills_total", mode="paper", side="buy") == 1
    assert value(second, "coinswarm_fills_total", mode="paper", side="buy") is None


def test_orders_fills_fees_and_rejections_by_their_labels():
    metrics = Metrics(Clock())
    metrics.observe(event("order", status="open"))
    metrics.observe(event("order", status="filled", mode="live"))
    metrics.observe(event("order", status="rejected", reject_reason="insufficient funds: 12.5"))
    metrics.observe(event("order", status="rejected", reject_reason="Insufficient funds: 99"))
    metrics.observe(event("fill", side="sell", fee="0.25"))
    metrics.observe(event("fill", side="sell", fee="0.5"))
    assert value(metrics, "coinswarm_orders_total", mode="paper", status="open") == 1
    assert value(metrics, "coinswarm_orders_total", mode="live", status="filled") == 1
    assert value(metrics, "coinswarm_orders_total", mode="paper", status="rejected") == 2
    # The amounts differ, the reason does not: one series.
    assert (
        value(
            metrics,
            "coinswarm_order_rejections_total",
            mode="paper",
            reason="insufficient_funds",
        )
        == 2
    )
    assert value(metrics, "coinswarm_fills_total", mode="paper", side="sell") == 2
    assert value(metrics, "coinswarm_fill_fees_total", mode="paper") == 0.75


def test_breaker_trips_and_risk_events():
    metrics = Metrics(Clock())
    metrics.observe(event("risk", event="TRIP", source="breaker", reason="10% in a minute"))
    metrics.observe(event("risk", event="RESET", source="kill_switch"))
    metrics.observe(event("risk", event="PAUSED", source="guard:exchange"))
    assert value(metrics, "coinswarm_breaker_trips_total", mode="paper") == 1
    labels = {"mode": "paper", "source": "breaker", "event": "trip"}
    assert value(metrics, "coinswarm_risk_events_total", **labels) == 1
    labels = {"mode": "paper", "source": "guard", "event": "paused"}
    assert value(metrics, "coinswarm_risk_events_total", **labels) == 1


def test_decision_latency_histogram_from_verdicts():
    metrics = Metrics(Clock())
    for latency in (0.002, 0.002, 0.3, None):
        metrics.observe(event("verdict", latency_s=latency))
    assert value(metrics, "coinswarm_decision_latency_seconds_count", mode="paper") == 3
    bucket = "coinswarm_decision_latency_seconds_bucket"
    assert value(metrics, bucket, mode="paper", le="0.0025") == 2
    total = value(metrics, "coinswarm_decision_latency_seconds_sum", mode="paper")
    assert total is not None
    assert abs(total - 0.304) < 1e-9


def test_exchange_errors_by_code_and_errors_by_source():
    metrics = Metrics(Clock())
    metrics.observe(event("error", source="exchange", code="RateLimitError", message="slow"))
    metrics.observe(event("error", source="exchange", code="429", message="slow"))
    metrics.observe(event("error", source="store", code="x", message="disk"))
    errors = "coinswarm_exchange_errors_total"
    assert value(metrics, errors, mode="paper", code="ratelimiterror") == 1
    assert value(metrics, "coinswarm_exchange_errors_total", mode="paper", code="429") == 1
    assert value(metrics, "coinswarm_errors_total", mode="paper", source="exchange") == 2
    assert value(metrics, "coinswarm_errors_total", mode="paper", source="store") == 1


def test_label_values_are_capped():
    metrics = Metrics(Clock(), max_values=3)
    for code in range(10):
        metrics.observe(event("error", source="exchange", code=f"E{code}"))
    codes = {
        dict(labels)["code"]
        for (name, labels), _ in samples(metrics).items()
        if name == "coinswarm_exchange_errors_total"
    }
    assert codes == {"e0", "e1", "e2", "other"}
    assert value(metrics, "coinswarm_exchange_errors_total", mode="paper", code="other") == 7
    # An unknown mode or status is folded too, never a new series of its own.
    metrics.observe(event("order", mode="moon", status="weird"))
    assert value(metrics, "coinswarm_orders_total", mode="other", status="other") == 1


def test_bus_lag_from_sent_ns_on_the_servers_clock():
    clock = Clock()
    metrics = Metrics(clock)
    metrics.observe(event("bar", sent_ns=clock.now_ns - NS // 5))  # 0.2 s late
    metrics.observe(event("bar", sent_ns=clock.now_ns + 3 * NS))  # a clock ahead: counts as 0
    metrics.observe(event("bar"))  # no sent_ns: not counted
    assert value(metrics, "coinswarm_bus_lag_seconds_count") == 2
    assert value(metrics, "coinswarm_bus_lag_seconds_bucket", le="0.001") == 1
    assert value(metrics, "coinswarm_bus_lag_seconds_bucket", le="0.25") == 2
    assert value(metrics, "coinswarm_bus_lag_seconds_sum") == 0.2


def test_heartbeat_age_is_computed_when_scraped_and_ends_with_the_run():
    clock = Clock()
    metrics = Metrics(clock)
    metrics.observe(event("start", heartbeat_s=5.0))
    clock.now_ns += 3 * NS
    assert value(metrics, "coinswarm_heartbeat_age_seconds", run_id="r1", mode="paper") == 3
    assert value(metrics, "coinswarm_heartbeat_interval_seconds", run_id="r1", mode="paper") == 5
    metrics.observe(event("heartbeat", seq=1, interval_s=2.0))
    clock.now_ns += 7 * NS  # a kill -9: nothing more comes, the age keeps growing
    assert value(metrics, "coinswarm_heartbeat_age_seconds", run_id="r1", mode="paper") == 7
    assert value(metrics, "coinswarm_heartbeat_interval_seconds", run_id="r1", mode="paper") == 2
    assert value(metrics, "coinswarm_sessions_running", mode="paper") == 1
    metrics.observe(event("stop", status="finished"))
    assert value(metrics, "coinswarm_heartbeat_age_seconds", run_id="r1", mode="paper") is None
    assert value(metrics, "coinswarm_sessions_running", mode="paper") == 0
    assert value(metrics, "coinswarm_session_stops_total", mode="paper", status="finished") == 1


def test_a_run_first_seen_mid_session_is_tracked_from_its_first_beat():
    clock = Clock()
    metrics = Metrics(clock)
    metrics.observe(event("bar"))
    assert value(metrics, "coinswarm_sessions_running", mode="paper") == 0
    metrics.observe(event("heartbeat", seq=9, interval_s=5.0))
    assert value(metrics, "coinswarm_sessions_running", mode="paper") == 1


def test_per_run_series_are_bounded_dropping_the_longest_silent():
    clock = Clock()
    metrics = Metrics(clock, max_runs=2)
    for run in ("a", "b", "c"):
        metrics.observe(event("start", run_id=run, heartbeat_s=1.0))
        clock.now_ns += NS
    ages = {
        dict(labels)["run_id"]
        for (name, labels), _ in samples(metrics).items()
        if name == "coinswarm_heartbeat_age_seconds"
    }
    assert ages == {"b", "c"}


def test_equity_gauges_follow_the_last_equity_event():
    metrics = Metrics(Clock())
    metrics.observe(event("start", heartbeat_s=5.0))
    metrics.observe(event("equity", equity="1000.5", drawdown=0.02, day_pnl="-12.25"))
    metrics.observe(
        event("equity", equity="990", drawdown=0.03, day_pnl="-22.75", daily_loss_limit="50")
    )
    labels = {"run_id": "r1", "mode": "paper"}
    assert value(metrics, "coinswarm_equity", **labels) == 990
    assert value(metrics, "coinswarm_drawdown_ratio", **labels) == 0.03
    assert value(metrics, "coinswarm_day_pnl", **labels) == -22.75
    assert value(metrics, "coinswarm_daily_loss_limit", **labels) == 50


def test_alert_deliveries_clients_and_telemetry_drops():
    metrics = Metrics(Clock())
    metrics.alert_delivered("email")
    metrics.alert_delivered("Webhook")
    metrics.alert_failed("sms")
    metrics.alert_failed("pigeon")
    metrics.client_dropped()
    metrics.client_dropped()
    metrics.telemetry_dropped(3)
    metrics.observe(event("start", heartbeat_s=5.0))
    metrics.observe(event("heartbeat", seq=1, interval_s=5.0, dropped=4))
    metrics.observe(event("heartbeat", seq=2, interval_s=5.0, dropped=6))
    metrics.observe(event("heartbeat", seq=3, interval_s=5.0, dropped=None))
    assert value(metrics, "coinswarm_alert_deliveries_total", channel="email") == 1
    assert value(metrics, "coinswarm_alert_deliveries_total", channel="webhook") == 1
    assert value(metrics, "coinswarm_alert_delivery_failures_total", channel="sms") == 1
    assert value(metrics, "coinswarm_alert_delivery_failures_total", channel="other") == 1
    assert value(metrics, "coinswarm_ws_clients_dropped_total") == 2
    assert value(metrics, "coinswarm_telemetry_dropped_total", where="server") == 3
    # Heartbeats carry the session's running total: the counter adds what is new.
    assert value(metrics, "coinswarm_telemetry_dropped_total", where="session") == 6


@given(
    st.dictionaries(
        st.sampled_from(
            ["kind", "mode", "run_id", "status", "fee", "latency_s", "sent_ns", "code", "event"]
        ),
        st.one_of(st.none(), st.text(max_size=20), st.integers(), st.floats(), st.booleans()),
    )
)
def test_no_event_shape_makes_observe_raise(payload):
    metrics = Metrics(Clock())
    metrics.observe(payload)
    metrics.exposition()


@given(st.text(max_size=200))
def test_normalised_label_values_are_short_plain_words(text):
    label = normalised(text, keep_digits=False)
    assert 0 < len(label) <= 40
    assert all(char.isascii() and (char.isalnum() or char == "_") for char in label)
    assert not any(char.isdigit() for char in label)
