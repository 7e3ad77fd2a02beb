"""The Prometheus metrics of a running server, counted from the live events it sees.

`Metrics` owns a `CollectorRegistry` of its own, never prometheus-client's global one: two
servers in one process (or two tests) each count their own events. The feed shows it every
live event (docs/ISSUE14_PLAN.md, "Live events") through `observe`; the alert channels tell it
each delivery and failure; the websocket tells it each slow client it dropped. GET /metrics
serves `exposition()`.

Labels stay few. A label's value comes from a short list (mode, status, side, channel), or is
normalised text (a reject reason, an error code, a risk event) of which each metric keeps the
first `max_values` distinct ones and folds the rest into "other": an exchange that puts an
order id in every error message must not grow a time series per order. Per-run gauges
(heartbeat age, equity) exist only for runs that started and have not stopped, at most
`max_runs` of them, the longest silent dropped first.

Times: the heartbeat age is measured on the server's clock from when the beat arrived (a paper
replay stamps its events with market time, which says nothing about whether it is alive); the
bus lag is the server's clock at arrival minus the session's `sent_ns` (clocks of two machines
can disagree: a negative lag counts as zero).
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from coinswarm.infra.telemetry import KINDS, STATUSES

__all__ = [
    "CHANNELS",
    "CONTENT_TYPE",
    "METRIC_NAMES",
    "MODES",
    "Metrics",
    "normalised",
]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The Prometheus text exposition format's media type."""

MODES = ("paper", "sandbox", "live", "backtest")
CHANNELS = ("email", "sms", "webhook", "telegram", "dashboard")
_STATUSES = ("new", "open", "partially_filled", "filled", "cancelled", "rejected", "expired")
_SIDES = ("buy", "sell")
_SOURCES = ("exchange", "bus", "store")
_RISK_SOURCES = ("breaker", "kill_switch", "guard", "oversight")
OTHER = "other"
_TRIPS = frozenset({"trip", "tripped", "breaker_trip"})

DECISION_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
LAG_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

METRIC_NAMES = (
    "coinswarm_live_events_total",
    "coinswarm_orders_total",
    "coinswarm_order_rejections_total",
    "coinswarm_fills_total",
    "coinswarm_fill_fees_total",
    "coinswarm_risk_events_total",
    "coinswarm_breaker_trips_total",
    "coinswarm_decision_latency_seconds",
    "coinswarm_errors_total",
    "coinswarm_exchange_errors_total",
    "coinswarm_bus_lag_seconds",
    "coinswarm_session_stops_total",
    "coinswarm_alert_deliveries_total",
    "coinswarm_alert_delivery_failures_total",
    "coinswarm_ws_clients_dropped_total",
    "coinswarm_telemetry_dropped_total",
    "coinswarm_sessions_running",
    "coinswarm_heartbeat_age_seconds",
    "coinswarm_heartbeat_interval_seconds",
    "coinswarm_equity",
    "coinswarm_drawdown_ratio",
    "coinswarm_day_pnl",
    "coinswarm_daily_loss_limit",
)
"""Every metric family this module exposes (deploy/'s rules and dashboard name only these)."""

_NOT_WORD = re.compile(r"[^a-z0-9]+")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def normalised(text: object, *, keep_digits: bool = True, length: int = 40) -> str:
    """Return `text` as a label value: lower case, `_` between words, at most `length` long.

    Without `keep_digits` numbers are dropped first (a reason that quotes an amount or an id
    is the same reason whatever the number)."""
    value = str(text or "").lower()
    if not keep_digits:
        value = _NUMBER.sub(" ", value)
    value = _NOT_WORD.sub("_", value).strip("_")
    return value[:length].rstrip("_") or "unknown"


def _one_of(value: object, allowed: Iterable[str]) -> str:
    text = normalised(value)
    return text if text in allowed else OTHER


class _Capped:
    """The first `cap` distinct values of an open-ended label; later ones read "other"."""

    def __init__(self, cap: int) -> None:
        self._cap = cap
        self._seen: set[str] = set()

    def __call__(self, value: str) -> str:
        if value in self._seen:
            return value
        if len(self._seen) >= self._cap:
            return OTHER
        self._seen.add(value)
        return value


@dataclass(slots=True)
class _Run:
    """What the scrape-time gauges need of one running session."""

    mode: str
    beat_ns: int
    interval_s: float | None = None
    dropped: int = 0
    equity: float | None = None
    drawdown: float | None = None
    day_pnl: float | None = None
    daily_loss_limit: float | None = None


def _number(value: object) -> float | None:
    """Return `value` (a Decimal string, an int, a float) as a finite float, else None."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(Decimal(str(value)))
    except (InvalidOperation, ValueError):
        return None
    return number if math.isfinite(number) else None


class _RunGauges(Collector):
    """Compute the per-run gauges when Prometheus scrapes (an age is only true when asked)."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def describe(self) -> Iterable[Metric]:
        return []  # families are known only at collect time; no need to check names early

    def collect(self) -> Iterator[Metric]:
        now_ns = self._metrics.clock_ns()
        runs = self._metrics.runs()
        labels = ["run_id", "mode"]
        running = GaugeMetricFamily(
            "coinswarm_sessions_running",
            "Sessions that started and have not stopped, by mode.",
            labels=["mode"],
        )
        for mode in MODES:
            running.add_metric([mode], sum(1 for run in runs.values() if run.mode == mode))
        yield running
        families = {
            "age": GaugeMetricFamily(
                "coinswarm_heartbeat_age_seconds",
                "Seconds since the run's last heartbeat (or its start) reached this server.",
                labels=labels,
            ),
            "interval": GaugeMetricFamily(
                "coinswarm_heartbeat_interval_seconds",
                "How often the run said it beats.",
                labels=labels,
            ),
            "equity": GaugeMetricFamily(
                "coinswarm_equity", "The run's equity after its last bar.", labels=labels
            ),
            "drawdown": GaugeMetricFamily(
                "coinswarm_drawdown_ratio",
                "The run's drawdown from its peak, as a fraction.",
                labels=labels,
            ),
            "day_pnl": GaugeMetricFamily(
                "coinswarm_day_pnl", "The run's P&L since its UTC day began.", labels=labels
            ),
            "limit": GaugeMetricFamily(
                "coinswarm_daily_loss_limit",
                "The loss a day that stops the run (its phase's limit), in money.",
                labels=labels,
            ),
        }
        for run_id, run in runs.items():
            values = [run_id, run.mode]
            families["age"].add_metric(values, max(now_ns - run.beat_ns, 0) / 1e9)
            for key, value in (
                ("interval", run.interval_s),
                ("equity", run.equity),
                ("drawdown", run.drawdown),
                ("day_pnl", run.day_pnl),
                ("limit", run.daily_loss_limit),
            ):
                if value is not None:
                    families[key].add_metric(values, value)
        yield from families.values()


class Metrics:
    """Count what the live events say, on a registry of this object's own (see the module).

    Every method is safe to call from any thread; none raises on an event of an unexpected
    shape (a field missing or malformed is skipped: the feed must not stop for a metric).
    """

    def __init__(
        self,
        clock_ns: Callable[[], int] = time.time_ns,
        *,
        max_values: int = 32,
        max_runs: int = 128,
    ) -> None:
        self.clock_ns = clock_ns
        self.registry = CollectorRegistry(auto_describe=False)
        self._max_runs = max_runs
        self._lock = threading.Lock()
        self._runs: OrderedDict[str, _Run] = OrderedDict()
        self._reasons = _Capped(max_values)
        self._codes = _Capped(max_values)
        self._risk_names = _Capped(max_values)
        self._dropped_clients = 0
        self._build(self.registry)
        self.registry.register(_RunGauges(self))

    def _build(self, registry: CollectorRegistry) -> None:
        def counter(name: str, text: str, labels: tuple[str, ...] = ()) -> Counter:
            return Counter(name, text, labels, registry=registry)

        self.events = counter(
            "coinswarm_live_events", "Live events the server received, by kind.", ("kind",)
        )
        self.orders = counter(
            "coinswarm_orders",
            "Order updates, by mode and the status the order reached.",
            ("mode", "status"),
        )
        self.rejections = counter(
            "coinswarm_order_rejections",
            "Orders rejected, by mode and normalised reason.",
            ("mode", "reason"),
        )
        self.fills = counter("coinswarm_fills", "Fills booked, by mode and side.", ("mode", "side"))
        self.fees = counter(
            "coinswarm_fill_fees",
            "Fees paid on fills, in the fee's currency (the quote currency as a rule).",
            ("mode",),
        )
        self.risk_events = counter(
            "coinswarm_risk_events",
            "Risk layer events (trips, stops, resets, guard pauses), by source and event.",
            ("mode", "source", "event"),
        )
        self.breaker_trips = counter(
            "coinswarm_breaker_trips", "Circuit breaker trips, by mode.", ("mode",)
        )
        self.decision_latency = Histogram(
            "coinswarm_decision_latency_seconds",
            "From the engine taking a bar to the committee's verdict.",
            ("mode",),
            buckets=DECISION_BUCKETS,
            registry=registry,
        )
        self.errors = counter(
            "coinswarm_errors", "Errors sessions reported, by source.", ("mode", "source")
        )
        self.exchange_errors = counter(
            "coinswarm_exchange_errors",
            "Exchange errors sessions reported, by normalised code.",
            ("mode", "code"),
        )
        self.bus_lag = Histogram(
            "coinswarm_bus_lag_seconds",
            "From a session publishing an event to this server taking it.",
            buckets=LAG_BUCKETS,
            registry=registry,
        )
        self.stops = counter(
            "coinswarm_session_stops", "Sessions that stopped, by how.", ("mode", "status")
        )
        self.deliveries = counter(
            "coinswarm_alert_deliveries", "Alerts delivered, by channel.", ("channel",)
        )
        self.delivery_failures = counter(
            "coinswarm_alert_delivery_failures",
            "Failed attempts to deliver an alert (each is retried), by channel.",
            ("channel",),
        )
        self.clients_dropped = counter(
            "coinswarm_ws_clients_dropped",
            "Websocket clients dropped for falling behind.",
        )
        self.telemetry_drops = counter(
            "coinswarm_telemetry_dropped",
            "Live events dropped before this server counted them, by where.",
            ("where",),
        )

    # -- what other parts tell ----------------------------------------------------------------

    def alert_delivered(self, channel: str) -> None:
        """Count one alert delivered through `channel` (email, sms, webhook...)."""
        self.deliveries.labels(_one_of(channel, CHANNELS)).inc()

    def alert_failed(self, channel: str) -> None:
        """Count one failed attempt to deliver through `channel`."""
        self.delivery_failures.labels(_one_of(channel, CHANNELS)).inc()

    def client_dropped(self) -> None:
        """Count one websocket client dropped because it could not keep up."""
        with self._lock:
            self._dropped_clients += 1
        self.clients_dropped.inc()

    def clients_dropped_up_to(self, total: int) -> None:
        """Raise the dropped-clients count to `total` (the live hub's own count, read at each
        scrape), so each drop counts once whether the hub or `client_dropped` told it."""
        with self._lock:
            new = total - self._dropped_clients
            if new <= 0:
                return
            self._dropped_clients = total
        self.clients_dropped.inc(new)

    def telemetry_dropped(self, count: int = 1, *, where: str = "server") -> None:
        """Count `count` live events lost `where` ("session": its queue; "server": the feed)."""
        if count > 0:
            self.telemetry_drops.labels(_one_of(where, ("session", "server"))).inc(count)

    # -- the live events ----------------------------------------------------------------------

    def observe(self, event: Mapping[str, Any]) -> None:
        """Count one live event (the feed calls this for each, in order)."""
        kind = normalised(event.get("kind"))
        self.events.labels(kind if kind in KINDS else OTHER).inc()
        mode = _one_of(event.get("mode"), MODES)
        self._lag(event.get("sent_ns"))
        handler = self._HANDLERS.get(kind)
        if handler is not None:
            handler(self, event, mode)
        run_id = event.get("run_id")
        if isinstance(run_id, str) and run_id and kind not in ("stop",):
            self._touch(run_id, mode, event, beat=kind in ("start", "heartbeat"))

    def _lag(self, sent_ns: object) -> None:
        if isinstance(sent_ns, int) and not isinstance(sent_ns, bool) and sent_ns > 0:
            self.bus_lag.observe(max(self.clock_ns() - sent_ns, 0) / 1e9)

    def _order(self, event: Mapping[str, Any], mode: str) -> None:
        status = _one_of(event.get("status"), _STATUSES)
        self.orders.labels(mode, status).inc()
        if status == "rejected":
            reason = normalised(event.get("reject_reason"), keep_digits=False)
            with self._lock:
                reason = self._reasons(reason)
            self.rejections.labels(mode, reason).inc()

    def _fill(self, event: Mapping[str, Any], mode: str) -> None:
        self.fills.labels(mode, _one_of(event.get("side"), _SIDES)).inc()
        fee = _number(event.get("fee"))
        if fee is not None and fee > 0:
            self.fees.labels(mode).inc(fee)

    def _risk(self, event: Mapping[str, Any], mode: str) -> None:
        name = normalised(event.get("event"))
        # A guard says which of its inputs paused it ("guard:exchange"): the part is enough.
        source = _one_of(str(event.get("source") or "").partition(":")[0], _RISK_SOURCES)
        with self._lock:
            capped = self._risk_names(name)
        self.risk_events.labels(mode, source, capped).inc()
        if name in _TRIPS:
            self.breaker_trips.labels(mode).inc()

    def _verdict(self, event: Mapping[str, Any], mode: str) -> None:
        latency = _number(event.get("latency_s"))
        if latency is not None and latency >= 0:
            self.decision_latency.labels(mode).observe(latency)

    def _error(self, event: Mapping[str, Any], mode: str) -> None:
        source = _one_of(event.get("source"), _SOURCES)
        self.errors.labels(mode, source).inc()
        if source == "exchange":
            with self._lock:
                code = self._codes(normalised(event.get("code")))
            self.exchange_errors.labels(mode, code).inc()

    def _stop(self, event: Mapping[str, Any], mode: str) -> None:
        self.stops.labels(mode, _one_of(event.get("status"), STATUSES)).inc()
        with self._lock:
            self._runs.pop(str(event.get("run_id")), None)

    _HANDLERS: Mapping[str, Callable[[Metrics, Mapping[str, Any], str], None]] = {
        "order": _order,
        "fill": _fill,
        "risk": _risk,
        "verdict": _verdict,
        "error": _error,
        "stop": _stop,
    }

    # -- per-run state, read at scrape time ---------------------------------------------------

    def _touch(self, run_id: str, mode: str, event: Mapping[str, Any], *, beat: bool) -> None:
        now = self.clock_ns()
        kind = event.get("kind")
        with self._lock:
            run = self._runs.get(run_id)
            if run is None:
                if not beat:
                    return  # a run's first event here is not a beat: we do not know it is alive
                run = self._runs[run_id] = _Run(mode=mode, beat_ns=now)
                while len(self._runs) > self._max_runs:
                    self._runs.popitem(last=False)
            if beat:
                run.beat_ns = now
                self._runs.move_to_end(run_id)
                run.interval_s = (
                    _number(event.get("interval_s" if kind == "heartbeat" else "heartbeat_s"))
                    or run.interval_s
                )
            if kind == "heartbeat":
                dropped = event.get("dropped")
                if isinstance(dropped, int) and dropped > run.dropped:
                    self.telemetry_drops.labels("session").inc(dropped - run.dropped)
                    run.dropped = dropped
            elif kind == "equity":
                self._equity(run, event)

    @staticmethod
    def _equity(run: _Run, event: Mapping[str, Any]) -> None:
        run.equity = _number(event.get("equity"))
        run.drawdown = _number(event.get("drawdown"))
        run.day_pnl = _number(event.get("day_pnl"))
        run.daily_loss_limit = _number(event.get("daily_loss_limit"))

    def runs(self) -> dict[str, _Run]:
        """Return a copy of the running sessions this server has heard beat."""
        with self._lock:
            return {run_id: replace(run) for run_id, run in self._runs.items()}

    def exposition(self) -> bytes:
        """Return every metric in the Prometheus text format."""
        return generate_latest(self.registry)
