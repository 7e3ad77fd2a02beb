"""A Coinbase Advanced Trade websocket client that keeps itself connected, with a synchronous face.

`CoinbaseStream` runs an asyncio client (the `websockets` library) in a background thread and
hands typed events (`ws_events`) to the engine through a thread-safe queue: `get(timeout)`.
It subscribes to `heartbeats` plus the asked channels, one subscribe message per channel,
each carrying a freshly signed JWT (Coinbase checks the token on every subscribe).

A stream that cannot be trusted is STALE, and says so with a `StreamStatus` event so that
trading can pause: a lost sequence number, a heartbeat-counter jump, silence longer than
`silence_s`, or a closed socket. The client then drops the connection and reconnects with
exponential backoff and seeded jitter, subscribes again (new snapshots rebuild the book and
the open orders), reports `Reconnected` so that the owner fills the gap from REST, and turns
LIVE at the first heartbeat of the new connection. Duplicated messages are dropped here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import queue
import random
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from ssl import SSLContext
from typing import Any
from urllib.parse import urlsplit

import websockets
from websockets.asyncio.client import ClientConnection, connect

from coinswarm.exchanges.coinbase.errors import ExchangeDataError
from coinswarm.exchanges.coinbase.tokens import TokenSigner
from coinswarm.exchanges.coinbase.ws_events import (
    Heartbeat,
    Reconnected,
    StreamError,
    StreamEvent,
    StreamMessage,
    StreamState,
    StreamStatus,
    parse_message,
)
from coinswarm.exchanges.coinbase.ws_monitor import Monitor, Monotonic, Verdict
from coinswarm.exchanges.network_errors import describe

__all__ = [
    "COINBASE_WS_URL",
    "USER_WS_URL",
    "AsyncSleep",
    "Backoff",
    "CoinbaseStream",
    "StreamConfig",
]

COINBASE_WS_URL = "wss://advanced-trade-ws.coinbase.com"
USER_WS_URL = "wss://advanced-trade-ws-user.coinbase.com"

AsyncSleep = Callable[[float], Awaitable[None]]

_LOST = (OSError, TimeoutError, websockets.ConnectionClosed, websockets.InvalidHandshake)
"""What a connection that is gone or never came up raises."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Backoff:
    """Delays between reconnect attempts: doubling from `base_s` up to `max_s`, with jitter.

    The delay of attempt n is `min(max_s, base_s * 2**n)` scaled by a factor drawn from
    [1 - jitter, 1], so that many clients dropped together do not come back together.
    """

    base_s: float = 0.5
    max_s: float = 30.0
    jitter: float = 0.5

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Return how long to wait before reconnect attempt `attempt` (0 is the first)."""
        ceiling = min(self.max_s, self.base_s * 2.0 ** min(attempt, 30))
        return ceiling * (1 - self.jitter * rng.random())


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamConfig:
    """Where to connect, what to subscribe to, and when to call the stream stale.

    `channels` are the channels besides `heartbeats` (always subscribed: without them
    Coinbase closes a quiet channel, and they prove the stream is alive). `silence_s` is the
    longest quiet time tolerated; `reorder_window` how many messages a late sequence number
    may trail by; `max_attempts` the reconnect attempts in a row before giving up (None:
    never give up).
    """

    url: str = COINBASE_WS_URL
    product_ids: tuple[str, ...] = ()
    channels: tuple[str, ...] = ("ticker",)
    silence_s: float = 5.0
    reorder_window: int = 3
    backoff: Backoff = Backoff()
    max_attempts: int | None = None
    open_timeout_s: float = 10.0
    poll_s: float = 0.1


class _Stale(Exception):  # noqa: N818 - a signal to drop the connection, caught in this module
    """The connection cannot be trusted any more."""


class CoinbaseStream:
    """The websocket stream in a background thread; read it with `get(timeout)`.

    `signer` signs the token in each subscribe (leave it out for public market data only);
    `monotonic`, `sleep` and `rng` are injectable so silence, backoff and jitter can be tested.
    """

    def __init__(
        self,
        config: StreamConfig,
        *,
        signer: TokenSigner | None = None,
        monotonic: Monotonic = time.monotonic,
        sleep: AsyncSleep = asyncio.sleep,
        rng: random.Random | None = None,
        ssl: SSLContext | None = None,
    ) -> None:
        self.config = config
        self._ssl = ssl  # None: the system's trust store for wss://
        self._signer = signer
        self._monotonic = monotonic
        self._sleep = sleep
        self._rng = rng or random.Random(0)  # noqa: S311 - jitter needs spread, not secrecy
        self._events: queue.Queue[StreamEvent] = queue.Queue()
        self._state = StreamState.CONNECTING
        self._connection = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        # Cancelling alone is not enough: `wait_for` on Python 3.11 can swallow a cancel that
        # lands as its inner call completes, so every loop also checks this flag.
        self._stopping = threading.Event()
        self.dropped_duplicates = 0

    # -- the synchronous face ----------------------------------------------------------------

    @property
    def state(self) -> StreamState:
        """Return the stream's state now: trading should wait unless it is LIVE."""
        return self._state

    def start(self) -> CoinbaseStream:
        """Start the background thread; return self, so `with CoinbaseStream(...).start()` reads."""
        if self._thread is not None:
            raise RuntimeError("the stream was already started")
        self._thread = threading.Thread(target=self._thread_main, name="coinbase-ws", daemon=True)
        self._thread.start()
        self._started.wait(5.0)
        return self

    def get(self, timeout: float) -> StreamEvent | None:
        """Return the next event, or None when none came within `timeout` seconds."""
        try:
            return self._events.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop the stream and its thread; raise `TimeoutError` if it will not stop in time."""
        self._stopping.set()
        loop, task, thread = self._loop, self._task, self._thread
        if loop is not None and task is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop finished on its own meanwhile
                loop.call_soon_threadsafe(task.cancel)
        if thread is not None:
            thread.join(timeout_s)
            if thread.is_alive():
                msg = f"websocket stream {self.config.url} did not stop within {timeout_s} s"
                raise TimeoutError(msg)

    def __enter__(self) -> CoinbaseStream:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- the thread ----------------------------------------------------------------------------

    def _thread_main(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        self._started.set()
        try:
            await self._run()
        except asyncio.CancelledError:
            pass  # close() asked us to stop
        finally:
            self._set_state(StreamState.CLOSED, "closed")

    async def _run(self) -> None:
        attempts = 0
        while not self._stopping.is_set():
            reason = await self._session(attempts)
            if self._state is StreamState.LIVE:
                attempts = 0  # the backoff starts over after a connection that worked
            self._set_state(StreamState.STALE, reason)
            if self.config.max_attempts is not None and attempts >= self.config.max_attempts:
                self._set_state(StreamState.CLOSED, f"gave up after {attempts} attempts: {reason}")
                return
            await self._sleep(self.config.backoff.delay(attempts, self._rng))
            attempts += 1

    async def _session(self, attempts: int) -> str:
        """Run one connection until it fails; return why it ended."""
        try:
            # Only an explicit context is passed: `ssl=None` would turn TLS off for wss:// URLs.
            trust: dict[str, Any] = {} if self._ssl is None else {"ssl": self._ssl}
            async with connect(
                self.config.url,
                **trust,
                open_timeout=self.config.open_timeout_s,
                close_timeout=1,
                max_size=2**24,
            ) as ws:
                self._connection += 1
                monitor = Monitor(
                    monotonic=self._monotonic,
                    silence_s=self.config.silence_s,
                    reorder_window=self.config.reorder_window,
                )
                await self._subscribe(ws)
                if self._connection > 1:
                    self._events.put(Reconnected(self._connection, attempts))
                await self._read(ws, monitor)
        except _Stale as stale:
            return str(stale)
        except _LOST as lost:
            told = describe(lost, urlsplit(self.config.url).netloc)
            return f"connection lost: {told or f'{type(lost).__name__}: {lost}'}"
        return "connection ended"

    async def _subscribe(self, ws: ClientConnection) -> None:
        for channel in ("heartbeats", *self.config.channels):
            message: dict[str, object] = {"type": "subscribe", "channel": channel}
            if channel != "heartbeats":
                message["product_ids"] = list(self.config.product_ids)
            if self._signer is not None:
                message["jwt"] = self._signer.ws_token()
            await ws.send(json.dumps(message))

    async def _read(self, ws: ClientConnection, monitor: Monitor) -> None:
        while not self._stopping.is_set():
            try:
                text = await asyncio.wait_for(ws.recv(), self.config.poll_s)
            except TimeoutError:
                text = None
            if text is not None:
                self._take(text, monitor)
            if monitor.silent():
                raise _Stale(monitor.problem)

    def _take(self, text: str | bytes, monitor: Monitor) -> None:
        try:
            event = parse_message(text, self._connection)
        except ExchangeDataError as error:
            raise _Stale(f"unreadable message: {error}") from None
        if isinstance(event, StreamError):
            self._events.put(event)
            return
        verdict = monitor.sequence(event.sequence_num)
        if verdict is Verdict.DUPLICATE:
            self.dropped_duplicates += 1
            return
        if verdict is Verdict.GAP:
            raise _Stale(monitor.problem)
        self._events.put(event)
        self._on_heartbeat(event, monitor)

    def _on_heartbeat(self, event: StreamMessage, monitor: Monitor) -> None:
        if not isinstance(event.payload, Heartbeat):
            return
        if not monitor.heartbeat(event.payload.counter):
            raise _Stale(monitor.problem)
        if self._state is not StreamState.LIVE:
            self._set_state(StreamState.LIVE, "heartbeats arriving")

    def _set_state(self, state: StreamState, reason: str) -> None:
        if state is self._state:
            return
        self._state = state
        self._events.put(StreamStatus(state, reason, self._connection))
