"""The websocket client's pure parts: message parsing, the health monitor, backoff, ws tokens."""

from __future__ import annotations

import json
import random

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from coinswarm.exchanges.coinbase import CdpCredentials, ExchangeDataError, TokenSigner
from coinswarm.exchanges.coinbase.websocket import Backoff
from coinswarm.exchanges.coinbase.ws_events import (
    CandleUpdate,
    Heartbeat,
    StreamError,
    StreamMessage,
    UserUpdate,
    parse_message,
)
from coinswarm.exchanges.coinbase.ws_monitor import Monitor, Verdict
from coinswarm.exchanges.local_coinbase import JwtVerifier, KeyRing
from coinswarm.exchanges.local_coinbase.auth import CdpKey

NOW_S = 1_700_000_000


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def monotonic(self) -> float:
        return self.now

    def now_ns(self) -> int:
        return NOW_S * 1_000_000_000


def monitor(clock: Clock, window: int = 2) -> Monitor:
    return Monitor(monotonic=clock.monotonic, silence_s=3.0, reorder_window=window)


# -- sequence numbers ---------------------------------------------------------------------------


def test_in_order_then_a_duplicate_is_dropped() -> None:
    watch = monitor(Clock())
    assert [watch.sequence(n) for n in (0, 1, 2)] == [Verdict.IN_ORDER] * 3
    assert watch.sequence(1) is Verdict.DUPLICATE


def test_a_reordered_pair_is_accepted_late_and_is_no_gap() -> None:
    watch = monitor(Clock())
    verdicts = [watch.sequence(n) for n in (0, 2, 1, 3, 4, 5)]
    assert verdicts == [Verdict.IN_ORDER, Verdict.IN_ORDER, Verdict.LATE] + [Verdict.IN_ORDER] * 3
    assert watch.sequence(1) is Verdict.DUPLICATE


@pytest.mark.parametrize("window", [0, 1, 2, 5])
def test_a_lost_number_is_a_gap_after_the_reorder_window(window: int) -> None:
    watch = monitor(Clock(), window)
    watch.sequence(0)
    verdicts = [watch.sequence(n) for n in range(2, 2 + window + 1)]
    assert verdicts[-1] is Verdict.GAP
    assert Verdict.GAP not in verdicts[:-1]
    assert "[1]" in watch.problem


def test_a_jump_wider_than_the_window_is_a_gap_at_once() -> None:
    watch = monitor(Clock(), 2)
    watch.sequence(0)
    assert watch.sequence(10) is Verdict.GAP


def test_heartbeat_counter_jumps_and_silence_are_reported() -> None:
    clock = Clock()
    watch = monitor(clock)
    assert watch.heartbeat(5)
    assert watch.heartbeat(6)
    assert watch.heartbeat(6)
    assert not watch.heartbeat(9)
    assert "from 6 to 9" in watch.problem
    clock.now += 2.9
    assert not watch.silent()
    clock.now += 0.2
    assert watch.silent()
    assert "silence" in watch.problem
    watch.sequence(0)
    assert not watch.silent()


# -- parsing --------------------------------------------------------------------------------------


def envelope(channel: str, events: list[dict[str, object]], sequence: int = 3) -> str:
    return json.dumps(
        {
            "channel": channel,
            "client_id": "",
            "timestamp": "2023-11-14T22:13:20.123456Z",
            "sequence_num": sequence,
            "events": events,
        }
    )


def test_messages_become_typed_events_with_prices_as_strings() -> None:
    beat = parse_message(envelope("heartbeats", [{"heartbeat_counter": 4}]), 1)
    assert isinstance(beat, StreamMessage)
    assert beat.payload == Heartbeat(4)
    assert beat.ts == NOW_S * 1_000_000_000 + 123_456_000
    candle = {
        "product_id": "BTC-USD",
        "start": "1700000000",
        "open": "1.10",
        "high": "2",
        "low": "1",
        "close": "1.5",
        "volume": "3",
    }
    got = parse_message(envelope("candles", [{"type": "update", "candles": [candle]}]), 2)
    assert isinstance(got, StreamMessage)
    assert isinstance(got.payload, CandleUpdate)
    assert got.payload.candles[0].open == "1.10"
    orders = [{"order_id": "o1", "status": "OPEN", "cumulative_quantity": "0"}]
    user = parse_message(envelope("user", [{"type": "snapshot", "orders": orders}]), 2)
    assert isinstance(user, StreamMessage)
    assert isinstance(user.payload, UserUpdate)
    assert user.payload.kind == "snapshot"


def test_an_error_or_bad_json_is_a_stream_error_and_a_bad_envelope_names_its_field() -> None:
    error = parse_message(json.dumps({"type": "error", "message": "authentication failure"}), 1)
    assert isinstance(error, StreamError)
    assert "authentication failure" in error.message
    assert isinstance(parse_message("{not json", 1), StreamError)
    with pytest.raises(ExchangeDataError, match="sequence_num"):
        parse_message(json.dumps({"channel": "heartbeats", "events": []}), 1)
    with pytest.raises(ExchangeDataError, match="channel"):
        parse_message(envelope("market_trades", [{}]), 1)


# -- backoff and tokens ---------------------------------------------------------------------------


def test_backoff_doubles_to_its_ceiling_with_seeded_jitter() -> None:
    backoff = Backoff(base_s=0.5, max_s=8.0, jitter=0.5)
    first = [backoff.delay(n, random.Random(3)) for n in range(7)]
    again = [backoff.delay(n, random.Random(3)) for n in range(7)]
    assert first == again
    for attempt, delay in enumerate(first):
        ceiling = min(8.0, 0.5 * 2**attempt)
        assert ceiling / 2 <= delay <= ceiling


def test_a_websocket_token_has_no_uri_and_passes_the_exchange_s_check() -> None:
    import jwt  # noqa: PLC0415
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415

    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    key = CdpKey(name="organizations/o/apiKeys/k", private_key_pem=pem)
    ring = KeyRing()
    ring.add(key)
    clock = Clock()
    nonces = iter(["a", "b"])
    signer = TokenSigner(CdpCredentials(key.name, private), clock, nonce=lambda: next(nonces))
    first, second = signer.ws_token(), signer.ws_token()
    assert first != second  # a fresh token (new nonce) for every subscribe
    claims = jwt.decode(first, options={"verify_signature": False})
    assert "uri" not in claims
    assert claims["exp"] - claims["nbf"] == 120
    assert JwtVerifier(ring, clock).verify_ws(first) == key.name
