"""The live hub numbers every event, replays what a reconnecting client missed, says when it
cannot, and drops a client that falls behind without touching the others."""

from __future__ import annotations

import asyncio
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coinswarm.api.live import GAP, Client, LiveHub


def event(n: int, kind: str = "bar", run_id: str = "run-a") -> dict[str, object]:
    return {"kind": kind, "run_id": run_id, "n": n}


def seqs(texts: list[str]) -> list[int]:
    return [json.loads(t)["seq"] for t in texts if json.loads(t)["kind"] != GAP]


def drain(client: Client) -> list[str]:
    texts = []
    while not client.queue.empty():
        text = client.queue.get_nowait()
        assert text is not None
        texts.append(text)
    return texts


def run(body):  # type: ignore[no-untyped-def]
    """Run `body` on an event loop, as the server's hub runs on its own."""
    return asyncio.run(body())


def test_each_event_gets_the_next_seq_and_the_original_is_left_alone() -> None:
    async def body() -> None:
        hub = LiveHub()
        original = event(1)
        first = hub.publish(original)
        second = hub.publish(event(2))
        assert (first["seq"], second["seq"]) == (1, 2)
        assert "seq" not in original
        assert hub.last_seq == 2

    run(body)


@given(published=st.integers(0, 60), after=st.integers(0, 70), capacity=st.integers(1, 40))
def test_a_client_gets_every_buffered_event_after_its_seq_or_a_gap_notice_first(
    published: int, after: int, capacity: int
) -> None:
    async def body() -> None:
        hub = LiveHub(capacity=capacity)
        for n in range(published):
            hub.publish(event(n))
        _client, first = hub.join(after=after)
        oldest = max(published - capacity + 1, 1)
        replayed = seqs(first)
        assert replayed == list(range(max(after + 1, oldest), published + 1))
        notices = [json.loads(t) for t in first if json.loads(t)["kind"] == GAP]
        missed = after < oldest - 1 and published > 0
        restarted = after > published
        assert bool(notices) == (missed or restarted)
        if notices:
            assert first[0] == json.dumps(notices[0], sort_keys=True, separators=(",", ":"))

    run(body)


def test_a_new_client_without_a_seq_gets_only_what_comes_next() -> None:
    async def body() -> None:
        hub = LiveHub()
        hub.publish(event(1))
        client, first = hub.join(after=None)
        assert first == []
        hub.publish(event(2))
        assert seqs(drain(client)) == [2]

    run(body)


def test_clients_get_only_the_kinds_and_the_run_they_asked_for() -> None:
    async def body() -> None:
        hub = LiveHub()
        equity, run_b = (
            hub.join(after=None, kinds=["equity"])[0],
            hub.join(after=None, run_id="run-b")[0],
        )
        hub.publish(event(1, "bar"))
        hub.publish(event(2, "equity"))
        hub.publish(event(3, "bar", run_id="run-b"))
        assert seqs(drain(equity)) == [2]
        assert seqs(drain(run_b)) == [3]

    run(body)


def test_a_slow_client_is_dropped_and_the_fast_one_keeps_receiving_everything() -> None:
    async def body() -> None:
        hub = LiveHub(client_queue=3)
        slow, _ = hub.join(after=None)
        fast, _ = hub.join(after=None)
        received: list[str] = []
        for n in range(10):
            hub.publish(event(n))
            received += drain(fast)  # the fast client keeps up
        assert seqs(received) == list(range(1, 11))
        assert slow.dropped
        assert slow.closed.is_set()
        assert slow.queue.get_nowait() is None  # the sender's signal to close
        assert hub.dropped_clients == 1
        assert hub.clients == 1
        hub.publish(event(11))
        assert seqs(drain(fast)) == [11]

    run(body)


def test_stats_say_what_the_hub_did() -> None:
    async def body() -> None:
        hub = LiveHub(capacity=2)
        client, _ = hub.join(after=None)
        for n in range(3):
            hub.publish(event(n, "equity"))
        stats = hub.stats()
        assert stats == stats | {
            "published": 3,
            "delivered": 3,
            "clients": 1,
            "buffered": 2,
            "first_seq": 2,
            "last_seq": 3,
            "by_kind": {"equity": 3},
        }
        hub.leave(client)
        assert hub.clients == 0

    run(body)


def test_a_hub_needs_room() -> None:
    with pytest.raises(ValueError, match="capacity"):
        LiveHub(capacity=0)
