"""A failure on the way to an exchange is told by its cause, whichever library wrapped it:
httpx (our Coinbase client), requests and urllib3 (ccxt's). Real failures on 127.0.0.1 where
they can be made here (refused, an untrusted certificate); the DNS chain as ccxt raises it.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest
import requests

from coinswarm.exchanges.network_errors import describe, host_in
from tls_harness import untrusted_tls_port


@pytest.fixture
def tls_port(tmp_path) -> Iterator[int]:
    with untrusted_tls_port(tmp_path) as port:
        yield port


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_untrusted_certificate_is_told_as_tls_through_httpx(tls_port):
    with pytest.raises(httpx.ConnectError) as caught:
        httpx.get(f"https://127.0.0.1:{tls_port}/", timeout=5)
    told = describe(caught.value, "127.0.0.1")
    assert told is not None
    assert told.startswith("TLS certificate verify failed for 127.0.0.1: ")
    assert "ConnectError" not in told


def test_an_untrusted_certificate_is_told_as_tls_through_requests(tls_port):
    with pytest.raises(requests.exceptions.SSLError) as caught:
        requests.get(f"https://127.0.0.1:{tls_port}/", timeout=5)
    told = describe(caught.value, "127.0.0.1")
    assert told is not None
    assert told.startswith("TLS certificate verify failed for 127.0.0.1: ")


def test_a_refused_connection_is_told_as_refused():
    port = free_port()
    with pytest.raises(httpx.ConnectError) as caught:
        httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
    assert describe(caught.value, f"127.0.0.1:{port}") == (
        f"cannot reach 127.0.0.1:{port}: connection refused"
    )


def test_a_dns_failure_under_ccxt_and_urllib3_is_told_as_dns():
    # The chain ccxt raises when a name does not resolve: NetworkError <- requests'
    # ConnectionError <- urllib3's MaxRetryError (its `reason`) <- NameResolutionError <- gaierror.
    lookup = socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    class NameResolutionError(OSError):
        pass

    class MaxRetryError(Exception):
        def __init__(self, reason: BaseException) -> None:
            super().__init__("Max retries exceeded")
            self.reason = reason

    class NetworkError(Exception):
        pass

    resolving = NameResolutionError("Failed to resolve 'api.example.test'")
    resolving.__cause__ = lookup
    wrapped = requests.exceptions.ConnectionError(MaxRetryError(resolving))
    outer = NetworkError("coinbase GET https://api.example.test/v2/currencies")
    outer.__cause__ = wrapped
    assert describe(outer, "api.example.test") == (
        "cannot reach api.example.test: DNS lookup failed (Name or service not known)"
    )


def test_an_error_that_is_no_network_failure_is_left_to_its_own_message():
    assert describe(ValueError("bad symbol"), "example.test") is None


def test_a_loop_of_causes_ends():
    first, second = RuntimeError("a"), RuntimeError("b")
    first.__context__, second.__context__ = second, first
    assert describe(first, "example.test") is None


def test_the_host_is_read_from_the_request_ccxt_names():
    assert host_in("coinbase GET https://api.example.test/v2/currencies", "x") == "api.example.test"
    assert host_in("GET wss://127.0.0.1:8443/ws", "x") == "127.0.0.1"
    assert host_in("no address here", "the exchange") == "the exchange"
