"""The alert engine: live events in, alerts out to every channel, each once per window.

    engine = AlertEngine(AlertSettings(), url=db_url, parts=services.parts)
    await engine.start()
    engine.observe(event)            # for every live event; never blocks, never raises
    await engine.send_report("Daily P&L 2026-12-14", text, [Attachment(...)])
    engine.recent(50)                # the newest alerts and their deliveries, per channel
    await engine.stop()

`observe` runs the rules and the de-duplication at once, under a lock (it may be called from
any thread), and queues what they admit; a task of the engine writes the queue to the outbox
and the outbox's sender delivers it. A ticker checks the dead-man's switch. Each admitted alert
is logged and audited; nothing secret is in either.

What is not covered: an alert admitted but not yet written (a few milliseconds) dies with the
process that admitted it. Everything written is delivered, across restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from coinswarm.domain.errors import CoinswarmError
from coinswarm.infra.alerts.channels import Channel, build_channels
from coinswarm.infra.alerts.deadman import DeadMansSwitch
from coinswarm.infra.alerts.dedup import Deduplicator
from coinswarm.infra.alerts.outbox import Backoff, DbThread, Outbox
from coinswarm.infra.alerts.rules import Rules, RuleSettings, alert_key
from coinswarm.infra.alerts.settings import AlertSettings
from coinswarm.infra.storage import Store
from coinswarm.infra.storage.alert_records import (
    Alert,
    Attachment,
    DeliveryOutcome,
    DueDelivery,
    Severity,
    StoredAlert,
)

__all__ = ["AlertEngine", "AlertEngineError"]

logger = logging.getLogger(__name__)

_NS = 1_000_000_000


class AlertEngineError(CoinswarmError):
    """The engine cannot do what was asked in its state (not started, say)."""


def rule_settings(settings: AlertSettings) -> RuleSettings:
    """Return the rules' part of the alert settings."""
    return RuleSettings(
        hourly_loss_pct=settings.hourly_loss_pct,
        phase3_loss_usd=settings.phase3_loss_usd,
        error_burst_count=settings.error_burst_count,
        error_burst_s=settings.error_burst_s,
        every_trade=settings.every_trade,
        risk_events=settings.risk_events,
        session_down=settings.session_down,
        modes=frozenset(settings.modes),
    )


class AlertEngine:
    """Rules, de-duplication, the dead-man's switch and the outbox of one server."""

    def __init__(
        self,
        settings: AlertSettings | None = None,
        *,
        store: Store | None = None,
        url: str | None = None,
        channels: Sequence[Channel] | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
        parts: Mapping[str, Any] | None = None,
    ) -> None:
        """Watch with `settings`; keep the outbox in `store` (or the database at `url`).

        `channels` replaces those the settings describe (tests); `parts` are the server's
        (`Services.parts`): its "hub" takes the dashboard's alerts, its "metrics" count
        deliveries. `clock_ns` is the wall clock of the dead-man's switch and the window.
        """
        self.settings = settings or AlertSettings()
        self._given_store = store
        self._url = self.settings.db or url
        self._given_channels = None if channels is None else list(channels)
        self._clock_ns = clock_ns
        self._parts = parts if parts is not None else {}
        self._lock = threading.Lock()
        self._rules = Rules(rule_settings(self.settings))
        self._deadman = DeadMansSwitch(self.settings.heartbeat_factor)
        self._dedup = Deduplicator(int(self.settings.window_s * _NS))
        self._inbox: deque[Alert] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._wake: asyncio.Event | None = None
        self._store: Store | None = None
        self._db: DbThread | None = None
        self._client: httpx.AsyncClient | None = None
        self._mail: ThreadPoolExecutor | None = None
        self._outbox: Outbox | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    # -- what the feed calls -----------------------------------------------------------------

    def observe(self, event: Mapping[str, Any]) -> None:
        """Judge one live event; queue the alerts it raises. Never blocks, never raises."""
        try:
            now = self._clock_ns()
            with self._lock:
                raised = self._judge(event, now)
                admitted = [alert for alert in raised if self._dedup.admit(alert.key, now)]
        except Exception:
            logger.exception("the alert rules failed on a %r event", event.get("kind"))
            return
        self._queue(admitted)

    def check_heartbeats(self) -> None:
        """Raise session-down for every session silent too long (the ticker calls this)."""
        now = self._clock_ns()
        with self._lock:
            admitted = [a for a in self._deadman.due(now) if self._dedup.admit(a.key, now)]
        self._queue(admitted)

    def _judge(self, event: Mapping[str, Any], now: int) -> list[Alert]:
        raised = self._rules.observe(event)
        kind, run_id = event.get("kind"), event.get("run_id")
        mode = str(event.get("mode") or "")
        if not isinstance(run_id, str) or not self.settings.session_down:
            return raised
        if kind == "stop":
            self._deadman.disarm(run_id)
        elif kind == "heartbeat" and mode in self.settings.modes:
            back = self._deadman.beat(
                run_id,
                interval_s=_seconds(event.get("interval_s")),
                # `beat` numbers the session's beats; `seq` is the hub's numbering of events.
                seq=_int(event.get("beat", event.get("seq"))),
                mode=mode,
                now_ns=now,
            )
            if back is not None:
                raised.append(back)
        return raised

    def _queue(self, alerts: Iterable[Alert]) -> None:
        queued = False
        for alert in alerts:
            logger.warning("alert [%s] %s", alert.severity.value, alert.title)
            self._inbox.append(alert)
            queued = True
        if queued:
            self._wake_writer()

    def _wake_writer(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is None or wake is None or loop.is_closed():
            return  # queued until start()
        if threading.get_ident() == self._loop_thread:
            wake.set()
        else:
            loop.call_soon_threadsafe(wake.set)

    # -- alerts and reports raised directly --------------------------------------------------

    async def raise_alert(self, alert: Alert) -> int | None:
        """Write `alert` to the outbox now, unless its key was sent within the window.

        Return its id, or None for a repeat. Needs a started engine.
        """
        outbox = self._running()
        now = self._clock_ns()
        with self._lock:
            if not self._dedup.admit(alert.key, now):
                return None
        logger.warning("alert [%s] %s", alert.severity.value, alert.title)
        ids = await outbox.add([(alert, outbox.channel_names)])
        return ids[0]

    async def send_report(
        self,
        subject: str,
        text: str,
        attachments: Sequence[Attachment] = (),
        *,
        key: str | None = None,
        run_id: str | None = None,
    ) -> int | None:
        """Send a report (the daily P&L) through every channel, by the same outbox.

        Email carries the attachments; the other channels carry the subject and the text
        (cut to what each takes). Written to the outbox before this returns, so it is
        delivered even if this process ends now (by the next one to start on the database).
        Give `key` (say "report:daily:2026-12-14:paper") so that a report sent twice within
        the window is sent once; returns the alert's id, or None for such a repeat.
        """
        now = self._clock_ns()
        alert = Alert(
            rule="report",
            severity=Severity.INFO,
            key=key or alert_key("report", subject, now),
            title=subject,
            text=text,
            ts_ns=now,
            run_id=run_id,
            attachments=tuple(attachments),
        )
        return await self.raise_alert(alert)

    # -- reading -------------------------------------------------------------------------------

    @property
    def channels(self) -> tuple[str, ...]:
        """Return the names of the channels alerts go to (empty before start)."""
        return () if self._outbox is None else self._outbox.channel_names

    def recent(self, limit: int = 50) -> list[StoredAlert]:
        """Return the newest alerts, newest first, with their delivery on each channel.

        Safe from any thread: it reads through a store of its own over the same engine.
        """
        store = self._store
        if store is None:
            return []
        return Store(store.engine).recent_alerts(limit)

    def sessions(self) -> dict[str, bool]:
        """Return each session the dead-man's switch watches, and whether it is down."""
        with self._lock:
            return self._deadman.watching()

    @property
    def dropped(self) -> int:
        """Return how many alerts were dropped as repeats inside their window."""
        return self._dedup.dropped

    async def drain(self, timeout_s: float = 30.0) -> bool:
        """Wait until everything queued is delivered; return False if `timeout_s` ran out."""
        outbox = self._running()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self._inbox and await outbox.pending() == 0:
                return True
            await asyncio.sleep(0.05)
        return False

    # -- lifetime ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the outbox, resume what was pending, start the writer and the ticker."""
        if self._outbox is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._wake = asyncio.Event()
        self._db = DbThread()
        store = self._given_store
        if store is None:
            store = await self._db(Store.open, self._url, upgrade=True)
        self._store = store
        since = self._clock_ns() - self._dedup.window_ns
        self._dedup.seed(await self._db(store.alert_keys_since, since))
        self._outbox = Outbox(
            store,
            self._db,
            self._channels(),
            clock_ns=self._clock_ns,
            backoff=Backoff(base_s=self.settings.retry_base_s, max_s=self.settings.retry_max_s),
            timeout_s=self.settings.timeout_s,
            on_outcome=self._count,
        )
        pending = await self._outbox.start()
        if pending:
            logger.warning("%d alert deliveries were pending; sending them now", pending)
        self._tasks = [
            asyncio.create_task(self._write_loop(), name="alerts-writer"),
            asyncio.create_task(self._tick_loop(), name="alerts-deadman"),
        ]
        if self._inbox:
            self._wake.set()

    async def stop(self) -> None:
        """Write what is queued, stop sending (pending rows wait for the next start)."""
        # The writer is not cancelled but told to end: cancelled inside a commit, it would
        # queue the alerts it had just written again.
        self._stopping = True
        if self._wake is not None:
            self._wake.set()
        for task in self._tasks:
            if task.get_name() == "alerts-deadman":
                task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        if self._outbox is not None:
            with contextlib.suppress(Exception):
                await self._write_queued()
            await self._outbox.stop()
            self._outbox = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        if self._mail is not None:
            self._mail.shutdown(wait=False)
            self._mail = None
        if self._db is not None:
            if self._store is not None and self._given_store is None:
                await self._db(self._store.close)
            self._db.close()
            self._db = None
        self._store = None
        self._loop = self._wake = None
        self._stopping = False

    async def __aenter__(self) -> AlertEngine:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    # -- inside ----------------------------------------------------------------------------------

    def _running(self) -> Outbox:
        if self._outbox is None:
            msg = "the alert engine is not started: call `await engine.start()` first"
            raise AlertEngineError(msg)
        return self._outbox

    def _channels(self) -> list[Channel]:
        if self._given_channels is not None:
            return self._given_channels
        # Connections kept open for the attempts the outbox runs at once (16 a channel); few,
        # since httpcore looks over every pooled connection for each request.
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=32)
        self._client = httpx.AsyncClient(timeout=self.settings.timeout_s, limits=limits)
        self._mail = ThreadPoolExecutor(max_workers=2, thread_name_prefix="alerts-mail")
        return build_channels(
            self.settings,
            self._client,
            hub_of=lambda: self._parts.get("hub"),
            clock_ns=self._clock_ns,
            mail_executor=self._mail,
        )

    async def _write_loop(self) -> None:
        assert self._wake is not None
        while not self._stopping:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self._write_queued()
            except Exception:
                logger.exception("could not write alerts to the outbox; trying again")
                if not self._stopping:
                    await asyncio.sleep(1.0)
                    self._wake.set()

    async def _write_queued(self) -> None:
        outbox = self._running()
        batch: list[Alert] = []
        while self._inbox:
            batch.append(self._inbox.popleft())
        if not batch:
            return
        try:
            await outbox.add([(alert, outbox.channel_names) for alert in batch])
        except BaseException:
            self._inbox.extendleft(reversed(batch))  # not lost: written on the next try
            raise

    async def _tick_loop(self) -> None:
        while True:
            with self._lock:
                period = self._deadman.check_period_s()
            await asyncio.sleep(period)
            self.check_heartbeats()

    def _count(self, due: DueDelivery, outcome: DeliveryOutcome) -> None:
        metrics = self._parts.get("metrics")
        name = "alert_delivered" if outcome.delivered else "alert_failed"
        count = getattr(metrics, name, None)
        if callable(count):
            count(due.channel.partition("-")[0])  # by kind: webhook-2 counts as a webhook


def _seconds(value: object) -> float:
    try:
        return float(str(value))
    except ValueError:
        return 0.0


def _int(value: object) -> int:
    try:
        return int(str(value))
    except ValueError:
        return 0
