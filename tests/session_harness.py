"""A local Coinbase-compatible exchange for session tests: HTTPS, fast websockets, a replay.

The exchange does not reveal bars by itself; `replaying` reveals one every few milliseconds
while a session runs, as the exchange's own clock would, and `Lockstep` reveals each once the
session has handled the one before, so a slow machine slows the replay instead of racing it.
`journal_paced` is that lockstep for any session, even one in another process: it reads how
far the session got from the session's own journal.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import IO, Protocol

import numpy as np
import numpy.typing as npt
import pytest

from coinswarm import preflight, sessions
from coinswarm.backtest import shadow_live
from coinswarm.data import synthetic_market
from coinswarm.domain.bar import NS_PER_HOUR, NS_PER_SECOND, BarSeries
from coinswarm.domain.instrument import instrument_from_symbol
from coinswarm.exchanges.local_coinbase import (
    CdpKey,
    KeyPermissions,
    KeyRing,
    RunningServer,
    Venue,
    create_app,
    generate_key,
    make_tls_files,
    serve_in_thread,
)
from coinswarm.exchanges.local_coinbase.stream import StreamSettings, StreamState
from coinswarm.exchanges.local_coinbase.wsfaults import WsFaultPlan
from coinswarm.exchanges.local_faults import RequestLog, RequestLogMiddleware
from coinswarm.strategies.base import Strategy

PRODUCT = "BTC-USD"
FAST_STREAM = StreamSettings(heartbeat_s=0.05, poll_s=0.01)
HOUR_START = 1_700_000_000 * NS_PER_SECOND // NS_PER_HOUR * NS_PER_HOUR  # on the hour


@dataclass
class Exchange:
    server: RunningServer
    venue: Venue
    key: CdpKey
    ca_file: Path
    ws_faults: WsFaultPlan
    times: tuple[int, ...] = ()  # the open times of PRODUCT's bars, revealed or not

    @property
    def url(self) -> str:
        return self.server.base_url


def serve(
    tmp_path: Path,
    *,
    permissions: KeyPermissions | None = None,
    btc: Decimal = Decimal(0),
    market: Sequence[BarSeries] | None = None,
    balances: Mapping[str, Decimal] | None = None,
    ws_faults: WsFaultPlan | None = None,
    requests: RequestLog | None = None,
) -> Iterator[Exchange]:
    """Serve `market` over HTTPS on 127.0.0.1 with `balances` on the account.

    By default, 400 synthetic BTC-USD bars and $100k (and `btc` coins); the exchange lists
    the products of `market`. The websocket feed applies `ws_faults` when given (a test may
    count them); `requests` logs every request.
    """
    if market is None:
        market = [synthetic_market(instrument=PRODUCT, bars=400, seed=11, start_price=20_000.0)]
    if balances is None:
        balances = {"USD": Decimal(100_000), "BTC": btc}
    products = {s.instrument: instrument_from_symbol(s.instrument) for s in market}
    venue = Venue(products, market, balances=balances)
    key = generate_key()
    keys = KeyRing()
    keys.add(key, permissions)
    tls = make_tls_files(tmp_path)
    app = create_app(venue, keys, stream=FAST_STREAM, private_per_second=1000.0)
    if ws_faults is not None:
        app.state.stream = StreamState(settings=FAST_STREAM, faults=ws_faults)
    if requests is not None:
        app.add_middleware(RequestLogMiddleware, log=requests)
    with serve_in_thread(app, tls=tls) as server:
        times = next((tuple(int(t) for t in m.ts) for m in market if m.instrument == PRODUCT), ())
        yield Exchange(server, venue, key, tls.ca_cert, app.state.stream.faults, times)


def flat_hourly_market(price: float, lows: npt.NDArray[np.float64]) -> BarSeries:
    """Return hourly BTC-USD bars from `HOUR_START`, one a low: open and close at `price`.

    Each bar's high is 10 above the price and its volume 5: a market that moves only where a
    test puts a low.
    """
    bars = len(lows)
    flat = np.full(bars, price)
    ts = HOUR_START + np.arange(bars, dtype=np.int64) * NS_PER_HOUR
    return BarSeries(PRODUCT, NS_PER_HOUR, ts, flat, flat + 10.0, lows, flat, np.full(bars, 5.0))


@contextmanager
def replaying(venue: Venue, every_s: float = 0.03) -> Iterator[None]:
    """Reveal a bar every `every_s` seconds while the block runs: the exchange's own clock."""
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(every_s):
            venue.advance(1)

    thread = threading.Thread(target=tick, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5.0)


def sandbox_request(
    exchange: Exchange, tmp_path: Path, **changes: object
) -> sessions.SessionRequest:
    """Return a sandbox session of sma-cross 2/5 on `exchange`, its database and journal in
    `tmp_path` (`sandbox.db`, `session.jsonl`); `changes` override any field."""
    values: dict[str, object] = {
        "mode": preflight.SANDBOX,
        "url": exchange.url,
        "products": (PRODUCT,),
        "strategy": "sma-cross",
        "parameters": {"fast": "2", "slow": "5"},
        "bars": 30,
        "idle_timeout_s": 20.0,
        "ca_file": exchange.ca_file,
        "database": f"sqlite:///{tmp_path / 'sandbox.db'}",
        "journal_path": tmp_path / "session.jsonl",
        **changes,
    }
    return sessions.SessionRequest(**values)  # type: ignore[arg-type]


def use_keys(monkeypatch: pytest.MonkeyPatch, key: CdpKey, *, live: bool) -> None:
    """Put `key` in the live or the sandbox key variables."""
    names = (
        ("COINSWARM_COINBASE_KEY_NAME", "COINSWARM_COINBASE_PRIVATE_KEY")
        if live
        else (preflight.SANDBOX_KEY_NAME, preflight.SANDBOX_PRIVATE_KEY)
    )
    monkeypatch.setenv(names[0], key.name)
    monkeypatch.setenv(names[1], key.private_key_pem)


def use_strategy(
    monkeypatch: pytest.MonkeyPatch, strategy: Strategy, shadow: Callable[[], Strategy]
) -> None:
    """Trade `strategy`; the shadow backtest beside the session runs a fresh `shadow()`.

    Its name is the test's own, which no loader knows: it is pinned as it is.
    """
    monkeypatch.setattr(sessions, "pin_strategy", lambda spec: spec)
    monkeypatch.setattr(sessions, "build_strategy", lambda *_: (strategy, {}))
    monkeypatch.setattr(shadow_live, "build_strategy", lambda *_: (shadow(), {}))


def after_bars(journal: Path, bars: int, then: Callable[[], None]) -> threading.Thread:
    """Start a thread that calls `then` once the session's journal shows `bars` stepped bars."""

    def wait_then() -> None:
        stop = threading.Event()
        while not stop.wait(0.01):
            if journal.exists() and journal.read_text().count('"kind":"bar"') >= bars:
                break
        then()

    thread = threading.Thread(target=wait_then, daemon=True)
    thread.start()
    return thread


class ShowsBars(Protocol):
    """A strategy that records the bar times the session showed it, in order."""

    @property
    def seen(self) -> Sequence[int]: ...


class Lockstep:
    """Reveal the exchange's bars one at a time, each once the session handled the one before.

    The session handles bar j-1 when bar j's candle arrives (a candle is closed by the next),
    so bar j is revealed only after the session showed bar j-2 to `strategy`, and no sooner
    than `min_bar_s` after bar j-1. Before the strategy's first bar, one is revealed every
    `warm_up_s` (time for the session to subscribe), and only once `started` is set when
    `awaits_start` (the test sets it as the session begins). `gate(j)` may hold bar j back;
    `before(j)` runs just before bar j is revealed (a test acts or arms faults there).
    """

    def __init__(
        self,
        venue: Venue,
        times: Sequence[int],
        strategy: ShowsBars,
        *,
        warm_up_s: float,
        min_bar_s: float = 0.0,
        awaits_start: bool = False,
        gate: Callable[[int], bool] = lambda _: True,
        before: Callable[[int], None] = lambda _: None,
    ) -> None:
        self._venue, self._times, self._strategy = venue, list(times), strategy
        self._warm_up_s, self._min_bar_s = warm_up_s, min_bar_s
        self._gate, self._before = gate, before
        self.started = threading.Event()
        if not awaits_start:
            self.started.set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.error: BaseException | None = None

    def _next(self) -> int:
        last = self._venue.last_bar(PRODUCT)
        return 0 if last is None else self._times.index(last.ts) + 1

    def _ready(self, j: int, revealed_at: float) -> bool:
        if j >= len(self._times) or not self._gate(j):
            return False
        seen, waited = self._strategy.seen, time.monotonic() - revealed_at
        if not seen:
            return self.started.is_set() and waited >= self._warm_up_s
        return waited >= self._min_bar_s and seen[-1] >= self._times[max(j - 2, 0)]

    def _run(self) -> None:
        revealed_at = time.monotonic()
        try:
            while not self._stop.wait(0.002):
                j = self._next()
                if self._ready(j, revealed_at):
                    self._before(j)
                    self._venue.advance(1)
                    revealed_at = time.monotonic()
        except BaseException as error:  # reported by the test, not lost on this thread
            self.error = error

    @contextmanager
    def running(self) -> Iterator[Lockstep]:
        """Replay while the block runs; raise what failed on the replay's thread, if anything."""
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join(timeout=5.0)
            # The replay's failure (a person's command refused) is the cause of any other.
            if self.error is not None:
                raise self.error


class JournalBars:
    """The bar times a session stepped, read from its journal as the session writes it.

    `journal` is the journal file, or a folder where the session will make a new one (a
    session in another process names its journal after its run id; journals already there
    belong to sessions before it). Each look reads only what was appended since the last,
    and only whole lines.
    """

    def __init__(self, journal: Path) -> None:
        self._journal = journal
        self._folder = journal.suffix != ".jsonl"  # decided once: the folder may not exist yet
        self._before = set(journal.glob("*.jsonl")) if self._folder else set()
        self._stream: IO[bytes] | None = None
        self._partial = b""
        self._seen: list[int] = []

    def _find(self) -> Path | None:
        if self._folder:
            return next(iter(sorted(set(self._journal.glob("*.jsonl")) - self._before)), None)
        return self._journal if self._journal.is_file() else None

    def _open(self) -> IO[bytes] | None:
        if self._stream is None:
            found = self._find()
            self._stream = None if found is None else found.open("rb")
        return self._stream

    def started(self) -> bool:
        """Return whether the session has opened its journal."""
        return self._open() is not None

    @property
    def seen(self) -> Sequence[int]:
        stream = self._open()
        if stream is None:
            return self._seen
        *lines, self._partial = (self._partial + stream.read()).split(b"\n")
        for line in lines:
            if b'"kind":"bar"' in line:
                record = json.loads(line)
                if record["instrument"] == PRODUCT:
                    self._seen.append(int(record["ts"]))
        return self._seen

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()


@contextmanager
def journal_paced(
    exchange: Exchange,
    journal: Path | None = None,
    *,
    warm_up_s: float = 0.2,
    bars: int | None = None,
) -> Iterator[None]:
    """Reveal the exchange's bars as fast as the session, whose journal is `journal`, takes them.

    By default the journal is the one the session makes in the data folder's `sessions`.

    Nothing is revealed until the session opens its journal; then one bar every `warm_up_s`
    until the journal shows its first stepped bar (time to subscribe), then bar j once the
    session stepped bar j-2 (see `Lockstep`). A loaded machine slows the replay, never races it.
    With `bars` (the session's own count), no bar is revealed past the one that closes the
    session's last: what fills, fills while the session is still stepping bars, never after.
    """
    stepped = JournalBars(journal or Path(os.environ["COINSWARM_HOME"]) / "sessions")
    times = list(exchange.times)

    def gate(j: int) -> bool:
        if not stepped.started():
            return False
        seen = stepped.seen
        return bars is None or not seen or j <= times.index(seen[0]) + bars

    replay = Lockstep(exchange.venue, times, stepped, warm_up_s=warm_up_s, gate=gate)
    try:
        with replay.running():
            yield
    finally:
        stepped.close()
