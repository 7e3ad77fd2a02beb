"""WS /api/ws over a real uvicorn on 127.0.0.1 and real websocket clients.

A client that reconnects with the last seq it saw gets what it missed; one whose seq is
older than the buffer gets a gap notice first; a client that stops reading is dropped (closed
with 1013) while a fast one receives every event, and the server goes on serving.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from coinswarm.api.app import create_app
from coinswarm.api.beside import running
from coinswarm.api.feed import Feed, install_live
from coinswarm.api.live import HUB, LiveHub
from coinswarm.api.services import Services
from coinswarm.api.settings import ServeSettings

WAIT_S = 10.0


@dataclass
class Server:
    url: str
    feed: Feed
    hub: LiveHub

    @property
    def ws(self) -> str:
        return self.url.replace("http://", "ws://") + "/api/ws"

    def publish(self, count: int, *, start: int = 0, pad: int = 0) -> None:
        """Publish `count` events through the feed (as a session would) and wait for them."""
        target = self.hub.last_seq + count
        for n in range(start, start + count):
            event = {"kind": "bar", "run_id": "run-ws", "n": n, "pad": "x" * pad}
            while not self.feed.submit(event):
                time.sleep(0.001)  # the feed's backlog is full: let it catch up
        deadline = time.monotonic() + WAIT_S
        while self.hub.last_seq < target:
            assert time.monotonic() < deadline, "the feed did not publish in time"
            time.sleep(0.005)


@contextmanager
def serving(**settings: Any) -> Iterator[Server]:
    """Serve the app on a free port of 127.0.0.1, its hub as `hub_options` say."""
    hub_options = settings.pop("hub", {})
    found = Services(settings=ServeSettings(**{"public": True, **settings}))
    found.parts[HUB] = LiveHub(**hub_options)
    feed = install_live(found)
    with running(create_app(found.settings, found=found), "127.0.0.1", 0) as url:
        yield Server(url, feed, found.parts[HUB])


async def receive(url: str, count: int) -> list[dict[str, Any]]:
    async with connect(url) as socket:
        return [json.loads(await asyncio.wait_for(socket.recv(), WAIT_S)) for _ in range(count)]


def test_a_client_after_a_seq_gets_the_rest_then_the_stream() -> None:
    with serving() as server:
        server.publish(20)

        async def body() -> list[dict[str, Any]]:
            async with connect(server.ws + "?after=15") as socket:
                replayed = [json.loads(await socket.recv()) for _ in range(5)]
                await asyncio.to_thread(server.publish, 5, start=20)
                streamed = [json.loads(await socket.recv()) for _ in range(5)]
                return replayed + streamed

        got = asyncio.run(body())
    assert [e["seq"] for e in got] == list(range(16, 26))
    assert [e["n"] for e in got] == list(range(15, 25))


def test_a_seq_older_than_the_buffer_gets_a_gap_notice_first() -> None:
    with serving(hub={"capacity": 10}) as server:
        server.publish(30)
        got = asyncio.run(receive(server.ws + "?after=5", 11))
    gap, *rest = got
    assert gap["kind"] == "gap"
    assert (gap["after"], gap["first"], gap["last"]) == (5, 21, 30)
    assert [e["seq"] for e in rest] == list(range(21, 31))


def test_a_client_that_disconnects_and_reconnects_gets_what_it_missed() -> None:
    with serving() as server:

        async def body() -> list[int]:
            seen: list[int] = []
            async with connect(server.ws + "?after=0") as socket:
                await asyncio.to_thread(server.publish, 10)
                seen += [json.loads(await socket.recv())["seq"] for _ in range(10)]
            await asyncio.to_thread(server.publish, 10, start=10)  # while it is away
            async with connect(f"{server.ws}?after={seen[-1]}") as socket:
                seen += [json.loads(await socket.recv())["seq"] for _ in range(10)]
                await asyncio.to_thread(server.publish, 1, start=20)
                seen.append(json.loads(await socket.recv())["seq"])
            return seen

        assert asyncio.run(body()) == list(range(1, 22))


class StalledClient:
    """A websocket client that shakes hands and then never reads: a phone in a tunnel.

    Its receive buffer is fixed small (the kernel would otherwise grow it to tens of MB on
    loopback), so the server's writes back up as they would to a stalled peer.
    """

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.socket.settimeout(WAIT_S)
        self.socket.connect((parts.hostname, parts.port))
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {parts.path}?{parts.query} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        self.socket.sendall(request.encode())
        answer = self.socket.recv(1024)
        assert answer.startswith(b"HTTP/1.1 101"), answer

    def closed_by_server(self) -> bool:
        """Read everything now; return True once the server's close frame (1013) came."""
        close = b"\x03\xf5too far behind"  # the close code 1013 and the start of its reason
        deadline = time.monotonic() + WAIT_S
        seen = b""
        try:
            while time.monotonic() < deadline:
                chunk = self.socket.recv(1 << 16)
                seen = seen[-64:] + chunk
                if close in seen:
                    return True
                if not chunk:
                    return False
        finally:
            self.socket.close()
        return False


def test_a_slow_client_is_dropped_while_a_fast_one_receives_everything() -> None:
    events, burst, pad = 1_000, 20, 8_000  # 8 MB: more than a stalled peer's buffers take
    with serving(hub={"client_queue": 64}) as server:
        stalled = StalledClient(server.ws + "?after=0")

        async def body() -> list[int]:
            fast_seqs: list[int] = []
            async with connect(server.ws, max_size=2**20) as fast:
                for start in range(0, events, burst):
                    await asyncio.to_thread(server.publish, burst, start=start, pad=pad)
                    for _ in range(burst):  # a fast client reads what came
                        text = await asyncio.wait_for(fast.recv(), WAIT_S)
                        fast_seqs.append(json.loads(text)["seq"])
            return fast_seqs

        assert asyncio.run(body()) == list(range(1, events + 1)), "the fast client lost events"
        assert server.hub.dropped_clients == 1
        assert stalled.closed_by_server(), "the stalled client is still connected"
        health = httpx.get(server.url + "/api/health", timeout=5.0)
        assert health.status_code == 200  # the server is fine
        assert asyncio.run(receive(server.ws + f"?after={events - 1}", 1))[0]["seq"] == events


def test_a_websocket_needs_a_viewer_token_unless_the_server_is_public() -> None:
    with serving(public=False, viewer_token="look-only") as server:
        server.publish(3)
        with pytest.raises(InvalidStatus) as refused:
            asyncio.run(receive(server.ws + "?after=0", 1))
        assert refused.value.response.status_code == 403
        with pytest.raises(InvalidStatus):
            asyncio.run(receive(server.ws + "?after=0&token=wrong", 1))
        got = asyncio.run(receive(server.ws + "?after=0&token=look-only", 3))
    assert [e["seq"] for e in got] == [1, 2, 3]


@pytest.mark.parametrize("query", ["after=-1", "after=abc", "kinds=bar,nonsense"])
def test_a_bad_query_is_refused_before_the_socket_opens(query: str) -> None:
    with serving() as server:
        with pytest.raises(InvalidStatus) as refused:
            asyncio.run(receive(f"{server.ws}?{query}", 1))
        assert refused.value.response.status_code == 403


def test_kinds_narrow_the_stream() -> None:
    with serving() as server:
        server.feed.submit({"kind": "equity", "run_id": "run-ws"})
        server.publish(3)
        server.feed.submit({"kind": "equity", "run_id": "run-ws"})
        server.publish(1)
        got = asyncio.run(receive(server.ws + "?after=0&kinds=equity", 2))
    assert [(e["kind"], e["seq"]) for e in got] == [("equity", 1), ("equity", 5)]
