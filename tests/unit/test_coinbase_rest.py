"""The request function over httpx's in-memory transport: what is retried and what is not."""

from __future__ import annotations

import random
from collections.abc import Callable

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from coinswarm.domain.clock import WallClock
from coinswarm.exchanges.coinbase import (
    CdpCredentials,
    ExchangeAuthError,
    ExchangeUnavailableError,
    RetryPolicy,
    TokenBucket,
    TokenSigner,
)
from coinswarm.exchanges.coinbase.rest import AmbiguousRequestError, RestClient

Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    def __init__(self, answers: list[httpx.Response | Exception]) -> None:
        self.answers = answers
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def client(recorder: Recorder, sleeps: list[float], seed: int = 3) -> RestClient:
    now = [0.0]

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    http = httpx.Client(
        base_url="https://api.example.test", transport=httpx.MockTransport(recorder)
    )
    credentials = CdpCredentials("k", ec.generate_private_key(ec.SECP256R1()))
    return RestClient(
        http,
        TokenSigner(credentials, WallClock()),
        bucket=TokenBucket(1000, monotonic=lambda: now[0], sleep=sleep),
        rng=random.Random(seed),
        sleep=sleep,
        policy=RetryPolicy(backoff_base_s=0.5, rate_limit_jitter_s=0.25),
    )


def ok() -> httpx.Response:
    return httpx.Response(200, json={"fine": True})


def test_s3_a_429_waits_the_reset_header_plus_seeded_jitter() -> None:
    recorder = Recorder([httpx.Response(429, headers={"x-ratelimit-reset": "2"}), ok()])
    sleeps: list[float] = []
    reply = client(recorder, sleeps).get("/accounts")
    assert reply.status == 200
    jitter = random.Random(3).uniform(0, 0.25)
    assert sleeps == [pytest.approx(2 + jitter)]


def test_s3_a_429_on_an_order_is_sent_again_since_nothing_was_done() -> None:
    recorder = Recorder([httpx.Response(429, headers={"retry-after": "1"}), ok()])
    reply = client(recorder, []).post("/orders", {"client_order_id": "x"}, retry_safe=False)
    assert reply.status == 200
    assert [r.content for r in recorder.requests] == [recorder.requests[0].content] * 2


def test_s3_endless_429s_give_up_with_a_clear_error() -> None:
    recorder = Recorder([httpx.Response(429) for _ in range(20)])
    with pytest.raises(ExchangeUnavailableError, match="429"):
        client(recorder, []).get("/accounts")
    assert len(recorder.requests) == RetryPolicy().rate_limit_retries + 1


def test_reads_retry_5xx_and_lost_answers_with_growing_jittered_backoff() -> None:
    lost = httpx.ReadTimeout("slow")
    recorder = Recorder([httpx.Response(502), lost, httpx.Response(503), ok()])
    sleeps: list[float] = []
    assert client(recorder, sleeps).get("/accounts").status == 200
    assert len(sleeps) == 3
    for attempt, wait in enumerate(sleeps):
        ceiling = 0.5 * 2**attempt
        assert ceiling / 2 <= wait <= ceiling


@pytest.mark.parametrize(
    "answer",
    [httpx.Response(503), httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("dropped")],
    ids=["503", "timeout", "dropped"],
)
def test_s1_s2_a_lost_order_answer_is_ambiguous_and_never_resent_here(
    answer: httpx.Response | Exception,
) -> None:
    recorder = Recorder([answer, ok()])
    with pytest.raises(AmbiguousRequestError):
        client(recorder, []).post("/orders", {"client_order_id": "x"}, retry_safe=False)
    assert len(recorder.requests) == 1


def test_an_order_that_never_left_is_sent_again() -> None:
    recorder = Recorder([httpx.ConnectError("refused"), ok()])
    reply = client(recorder, []).post("/orders", {"client_order_id": "x"}, retry_safe=False)
    assert reply.status == 200
    assert len(recorder.requests) == 2


def test_a_401_is_an_auth_error_that_points_at_the_clock_and_not_at_the_token() -> None:
    body = {"error": "UNAUTHORIZED", "message": "token expired: is the client clock behind?"}
    recorder = Recorder([httpx.Response(401, json=body)])
    with pytest.raises(ExchangeAuthError, match="clock") as caught:
        client(recorder, []).get("/accounts")
    token = recorder.requests[0].headers["authorization"].removeprefix("Bearer ")
    assert token not in str(caught.value)


def test_each_request_is_signed_for_its_own_route() -> None:
    recorder = Recorder([ok(), ok()])
    rest = client(recorder, [])
    rest.get("/accounts")
    rest.get("/products")
    first, second = (r.headers["authorization"] for r in recorder.requests)
    assert first != second
    assert recorder.requests[0].url.path == "/api/v3/brokerage/accounts"
