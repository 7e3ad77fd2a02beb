"""The outbox's sender: deliver every pending (alert, channel) row, retrying until it is taken.

Rows are written by `Outbox.add` (alert, deliveries and audit entry in one transaction) before
any channel is tried. The sender loop claims due rows for a lease, sends each on its own task
(a slow mail server does not hold up a webhook), and settles what came back: delivered, or
failed with the next attempt `Backoff` says (1 s, 2 s, 4 s... up to the cap, or what a 429
asked for), every failure audited. A row is pending until delivered; a restarted sender takes
the pending rows again at once (`resume_pending`).

Every call on the store runs on one thread of the outbox's own (`DbThread`): the store is not
thread-safe, and a SQLite commit with `synchronous=FULL` must not stall the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import ParamSpec, TypeVar

from coinswarm.infra.alerts.channels import Channel, DeliveryError, Message, redact
from coinswarm.infra.storage import Store
from coinswarm.infra.storage.alert_records import Alert, DeliveryOutcome, DueDelivery

__all__ = ["Backoff", "DbThread", "Outbox"]

logger = logging.getLogger(__name__)

_NS = 1_000_000_000
_P = ParamSpec("_P")
_T = TypeVar("_T")
_STOP_GRACE_S = 1.0
_LINGER_S = 0.01


class DbThread:
    """Run every call on one worker thread, in the order given."""

    def __init__(self, name: str = "alerts-db") -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)

    async def __call__(self, fn: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, partial(fn, *args, **kwargs))

    def close(self) -> None:
        """Let queued calls finish, then end the thread."""
        self._executor.shutdown(wait=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class Backoff:
    """Capped exponential backoff: `base_s`, twice that, four times... never over `max_s`."""

    base_s: float = 1.0
    max_s: float = 300.0

    def delay_s(self, failures_before: int, asked_s: float | None = None) -> float:
        """Return the wait before the next attempt after `failures_before + 1` failures."""
        exponent = min(max(failures_before, 0), 60)
        delay = min(self.max_s, self.base_s * 2.0**exponent)
        if asked_s is not None:
            # A receiver that says when (HTTP 429 Retry-After) is believed, up to the cap.
            delay = min(max(delay, asked_s), max(self.max_s, asked_s))
        return delay


OnOutcome = Callable[[DueDelivery, DeliveryOutcome], None]


class Outbox:
    """Deliver the outbox's rows on `channels`; see the module's docstring."""

    def __init__(
        self,
        store: Store,
        db: DbThread,
        channels: Sequence[Channel],
        *,
        clock_ns: Callable[[], int],
        backoff: Backoff,
        timeout_s: float,
        on_outcome: OnOutcome | None = None,
        per_channel: int = 16,
        poll_s: float = 2.0,
    ) -> None:
        self._store = store
        self._db = db
        self._channels: Mapping[str, Channel] = {c.name: c for c in channels}
        self._clock_ns = clock_ns
        self._backoff = backoff
        self._timeout_s = timeout_s
        # A lease outlives any attempt, so a row is never sent twice by live senders.
        self._lease_ns = int((2 * timeout_s + 10) * _NS)
        self._on_outcome = on_outcome
        # Attempts under way at once on one channel: enough to clear a burst, few enough that
        # one slow channel holds up no other, and a receiver is not flooded with connections.
        self._per_channel = per_channel
        self._poll_s = poll_s
        self._secrets = tuple(s for c in channels for s in c.secrets())
        self._wake = asyncio.Event()
        self._in_flight: dict[asyncio.Task[DeliveryOutcome], DueDelivery] = {}
        self._finished: list[tuple[DueDelivery, DeliveryOutcome]] = []
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def channel_names(self) -> tuple[str, ...]:
        return tuple(self._channels)

    async def start(self) -> int:
        """Make pending rows due now and start sending; return how many were pending."""
        pending = await self._db(self._store.resume_pending, now_ns=self._clock_ns())
        self._task = asyncio.create_task(self._run(), name="alerts-outbox")
        return pending

    async def stop(self) -> None:
        """Stop sending: let attempts under way finish briefly, settle them, release the rest."""
        if self._task is not None:
            # Not cancelled: a round ends between two calls on the store, never inside one
            # (a commit whose caller was cancelled would be taken for one not made).
            self._stopping = True
            self._wake.set()
            with contextlib.suppress(Exception):
                await self._task
            self._task = None
        if self._in_flight:
            await asyncio.wait(list(self._in_flight), timeout=_STOP_GRACE_S)
        unfinished = [d for task, d in self._in_flight.items() if not task.done()]
        for task in list(self._in_flight):
            if task.done():
                self._collect(task)
            else:
                task.cancel()
        self._in_flight.clear()
        await self._settle()
        if unfinished:
            await self._db(self._store.release, [(d.alert_id, d.channel) for d in unfinished])

    async def add(self, alerts: Sequence[tuple[Alert, Collection[str]]]) -> list[int]:
        """Write alerts and their deliveries (one per channel named) to the outbox; send."""
        pairs = [(alert, sorted(channels)) for alert, channels in alerts]
        ids = await self._db(self._store.add_alerts, pairs, now_ns=self._clock_ns())
        self._wake.set()
        return ids

    async def pending(self) -> int:
        """Return how many deliveries on this outbox's channels are not yet delivered."""
        return await self._db(self._store.pending_deliveries, list(self._channels))

    # -- the loop ------------------------------------------------------------------------------

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                wait_s = await self._round()
            except Exception:
                # A database gone for a moment must not end the sender: try again shortly.
                logger.exception("the alert outbox failed a round; trying again")
                wait_s = self._poll_s
            if wait_s > 0 and not self._stopping:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait_s)

    async def _round(self) -> float:
        """Settle, claim and start what is due; return how long to wait for the next round."""
        if self._finished and self._in_flight:
            # More attempts are about to finish: settle them together, one commit for many.
            await asyncio.sleep(_LINGER_S)
        batch, self._finished = self._finished, []
        free = {} if self._stopping else self._free_slots()
        try:
            claimed, next_due = await self._db(
                self._settle_and_claim, [outcome for _, outcome in batch], free
            )
        except BaseException:
            self._finished[:0] = batch  # settled next round; the leases keep them ours
            raise
        for due, outcome in batch:
            self._report(due, outcome)
        for due in claimed:
            task = asyncio.create_task(self._attempt(due), name=f"alert-{due.alert_id}")
            self._in_flight[task] = due
            task.add_done_callback(self._done)
        if not free or len(claimed) == sum(free.values()):
            return self._poll_s  # every slot is busy: a finishing attempt wakes the loop
        if next_due is None:
            return self._poll_s
        return min(max((next_due - self._clock_ns()) / _NS, 0.0), self._poll_s) or 0.001

    def _free_slots(self) -> dict[str, int]:
        busy: dict[str, int] = {}
        for due in self._in_flight.values():
            busy[due.channel] = busy.get(due.channel, 0) + 1
        free = {name: self._per_channel - busy.get(name, 0) for name in self._channels}
        return {name: slots for name, slots in free.items() if slots > 0}

    def _settle_and_claim(
        self, outcomes: Sequence[DeliveryOutcome], free: Mapping[str, int]
    ) -> tuple[list[DueDelivery], int | None]:
        """On the store's thread, one transaction: settle, claim, and the next due time."""
        return self._store.sender_round(
            outcomes, free, list(self._channels), now_ns=self._clock_ns(), lease_ns=self._lease_ns
        )

    def _done(self, task: asyncio.Task[DeliveryOutcome]) -> None:
        if task.cancelled() or task not in self._in_flight:
            return
        self._collect(task)
        self._wake.set()

    def _collect(self, task: asyncio.Task[DeliveryOutcome]) -> None:
        due = self._in_flight.pop(task)
        self._finished.append((due, task.result()))

    async def _settle(self) -> None:
        if not self._finished:
            return
        batch, self._finished = self._finished, []
        try:
            await self._db(
                self._store.settle, [outcome for _, outcome in batch], now_ns=self._clock_ns()
            )
        except BaseException:
            self._finished[:0] = batch  # settled next round; the leases keep them ours
            raise
        for due, outcome in batch:
            self._report(due, outcome)

    def _report(self, due: DueDelivery, outcome: DeliveryOutcome) -> None:
        if outcome.delivered:
            logger.info("alert %d delivered on %s", due.alert_id, due.channel)
        else:
            wait_s = max(outcome.retry_at_ns - self._clock_ns(), 0) / _NS
            logger.warning(
                "alert %d not delivered on %s (attempt %d): %s; next attempt in %.0f s",
                due.alert_id,
                due.channel,
                due.attempts + 1,
                outcome.error,
                wait_s,
            )
        if self._on_outcome is not None:
            try:
                self._on_outcome(due, outcome)
            except Exception:
                logger.exception("the alert outcome hook failed")

    async def _attempt(self, due: DueDelivery) -> DeliveryOutcome:
        channel = self._channels[due.channel]
        asked: float | None = None
        try:
            async with asyncio.timeout(self._timeout_s + 5):
                await channel.send(Message(due.alert_id, due.alert))
        except DeliveryError as exc:
            error, asked = str(exc), exc.retry_after_s
        except TimeoutError:
            error = f"{due.channel}: no answer within {self._timeout_s:g} s"
        except Exception as exc:  # a channel's bug is a failed attempt, retried, not a crash
            logger.exception("channel %s raised", due.channel)
            error = f"{due.channel}: {type(exc).__name__}"
        else:
            return DeliveryOutcome(
                alert_id=due.alert_id, channel=due.channel, attempts_before=due.attempts
            )
        delay_s = self._backoff.delay_s(due.attempts, asked)
        return DeliveryOutcome(
            alert_id=due.alert_id,
            channel=due.channel,
            attempts_before=due.attempts,
            error=redact(error, self._secrets)[:500],
            retry_at_ns=self._clock_ns() + int(delay_s * _NS),
        )
