"""The sandbox and live feed: closed candles in, bars out; heartbeats alone are a stall."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import pytest

from coinswarm.exchanges.coinbase.ws_events import (
    Candle,
    CandleUpdate,
    Heartbeat,
    StreamMessage,
)
from coinswarm.sessions import FeedStalledError, candle_bars


@dataclass
class Config:
    url: str = "wss://127.0.0.1:1"


@dataclass
class ScriptedStream:
    """A stream that hands out a fixed list of events, then heartbeats; each get takes 1 s."""

    events: list[object]
    now: float = 0.0
    config: Config = field(default_factory=Config)
    sequence: int = 0

    def get(self, timeout: float) -> object:
        self.now += 1.0
        self.sequence += 1
        payload = self.events.pop(0) if self.events else Heartbeat(counter=self.sequence)
        return StreamMessage(1, "x", self.sequence, 0, payload)  # type: ignore[arg-type]

    def monotonic(self) -> float:
        return self.now


def candle(start: int, close: str) -> CandleUpdate:
    values = {"open": "10", "high": "12", "low": "9", "close": close, "volume": "1"}
    return CandleUpdate("update", (Candle(product_id="BTC-USD", start=str(start), **values),))


def test_a_bar_is_emitted_once_its_candle_is_closed_by_a_later_one() -> None:
    stream = ScriptedStream([candle(3600, "10"), candle(3600, "11"), candle(7200, "11.5")])
    bars = list(
        candle_bars(
            stream,  # type: ignore[arg-type]
            bars=1,
            idle_timeout_s=100,
            stop=threading.Event(),
            monotonic=stream.monotonic,
        )
    )
    assert [(b.ts, b.close) for b in bars] == [(3600 * 10**9, 11.0)]


def test_heartbeats_without_candles_are_a_stall_named_with_the_url() -> None:
    stream = ScriptedStream([candle(3600, "10")])
    feed = candle_bars(
        stream,  # type: ignore[arg-type]
        bars=None,
        idle_timeout_s=30,
        stop=threading.Event(),
        monotonic=stream.monotonic,
    )
    with pytest.raises(FeedStalledError, match=r"no market data from wss://127.0.0.1:1 for 30 s"):
        list(feed)
    assert 30 < stream.now < 40


def test_a_set_stop_ends_the_feed_at_once() -> None:
    stop = threading.Event()
    stop.set()
    stream = ScriptedStream([candle(3600, "10"), candle(7200, "10")])
    feed = candle_bars(
        stream,  # type: ignore[arg-type]
        bars=None,
        idle_timeout_s=30,
        stop=stop,
        monotonic=stream.monotonic,
    )
    assert list(feed) == []
