"""Hot state in a real Redis server on 127.0.0.1:6379, shared between processes.

The shared `HotState` contract runs against both backends through one parametrized fixture.
Then what only a server can show: a kill switch set in one process stops another, a token
bucket stays exact across processes, and a server that refuses, stalls, goes away mid-run or
loses its data gives a `StateUnavailableError` naming the server and the operation, never a
silent "no kill switch". Each test uses its own namespace and deletes its keys. The machine's
Redis is never stopped: a closed port, a silent listener and a proxy we cut stand in for it.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from decimal import Decimal

import pytest
import redis

from absent import absent
from coinswarm.infra.state import (
    HotState,
    MemoryHotState,
    RedisHotState,
    StateUnavailableError,
    fail_safe_kill_switch,
)
from state_contract import T0, HotStateContract

HOST, PORT = "127.0.0.1", 6379
URL = f"redis://{HOST}:{PORT}/0"
SUBPROCESS_TIMEOUT_S = 30


def _unreachable_reason() -> str | None:
    client = redis.Redis(host=HOST, port=PORT, socket_connect_timeout=0.5, socket_timeout=0.5)
    try:
        client.ping()
    except redis.RedisError as error:
        return f"no Redis server answers at {HOST}:{PORT} ({error})"
    finally:
        client.close()
    return None


def _namespace() -> str:
    return f"test-{uuid.uuid4().hex}"


@contextmanager
def _redis_state(namespace: str | None = None, url: str = URL) -> Iterator[RedisHotState]:
    state = RedisHotState(url, namespace=namespace or _namespace())
    try:
        yield state
    finally:
        state.delete_all()
        state.close()


@contextmanager
def _memory_state() -> Iterator[HotState]:
    yield MemoryHotState()


@pytest.fixture(scope="module")
def redis_reachable() -> None:
    reason = _unreachable_reason()
    if reason:
        absent(reason)


@pytest.fixture(scope="module", params=["memory", "redis"])
def state_factory(request):
    if request.param == "memory":
        return _memory_state
    request.getfixturevalue("redis_reachable")
    return _redis_state


class TestContract(HotStateContract):
    """Run the shared contract against each backend."""


# -- across processes -----------------------------------------------------------------------

SET_SWITCH = """
import sys
from coinswarm.infra.state import RedisHotState
with RedisHotState(sys.argv[1], namespace=sys.argv[2]) as state:
    state.set_kill_switch("manual stop from process B", "ops", int(sys.argv[3]))
"""

READ_SWITCH = """
import sys
from coinswarm.infra.state import RedisHotState
with RedisHotState(sys.argv[1], namespace=sys.argv[2]) as state:
    flag = state.kill_switch()
print("none" if flag is None else f"{flag.reason}|{flag.by}|{flag.ts_ns}")
"""

TAKE_MANY = """
import sys
from coinswarm.infra.state import RedisHotState
with RedisHotState(sys.argv[1], namespace=sys.argv[2]) as state:
    granted = [
        state.take("orders", now_ns=int(sys.argv[3]), rate_per_s=1.0, burst=100)
        for _ in range(60)
    ]
print(sum(granted))
"""

SET_MEMORY_SWITCH = """
from coinswarm.infra.state import MemoryHotState
state = MemoryHotState()
print(state.set_kill_switch("manual stop from process B", "ops", 1).reason)
"""


def _python(code: str, *args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT_S,
        check=True,
    )


@pytest.mark.usefixtures("redis_reachable")
def test_a_kill_switch_set_in_another_process_stops_this_one():
    with _redis_state() as state:
        assert state.kill_switch() is None
        _python(SET_SWITCH, URL, state.namespace, T0)
        flag = state.kill_switch()
        assert flag is not None
        assert (flag.reason, flag.by, flag.ts_ns) == ("manual stop from process B", "ops", T0)


@pytest.mark.usefixtures("redis_reachable")
def test_another_process_sees_the_kill_switch_set_here():
    with _redis_state() as state:
        state.set_kill_switch("daily loss 5.1% > 5%", "risk", T0)
        out = _python(READ_SWITCH, URL, state.namespace).stdout.strip()
        assert out == f"daily loss 5.1% > 5%|risk|{T0}"


@pytest.mark.usefixtures("redis_reachable")
def test_one_bucket_is_exact_across_processes():
    with _redis_state() as state:
        children = [
            subprocess.Popen(
                [sys.executable, "-c", TAKE_MANY, URL, state.namespace, str(T0)],
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(4)
        ]
        granted = [int(child.communicate(timeout=SUBPROCESS_TIMEOUT_S)[0]) for child in children]
        assert all(child.returncode == 0 for child in children)
        assert sum(granted) == 100  # 240 takes at one instant against a burst of 100
        assert not state.take("orders", now_ns=T0, rate_per_s=1.0, burst=100)


def test_an_in_memory_kill_switch_cannot_reach_another_process():
    here = MemoryHotState()
    assert _python(SET_MEMORY_SWITCH).stdout.strip() == "manual stop from process B"
    assert here.kill_switch() is None  # which is why several processes need Redis


@pytest.mark.usefixtures("redis_reachable")
def test_namespaces_are_isolated():
    with _redis_state() as one, _redis_state() as other:
        one.set_kill_switch("manual stop", "ops", T0)
        one.set_price("BTC-USD", Decimal(65_000), T0)
        assert other.kill_switch() is None
        assert other.price("BTC-USD") is None


@pytest.mark.parametrize("namespace", ["", "has space", "glob*", "{tag}", "x" * 101])
def test_a_namespace_that_could_leak_into_another_is_refused(namespace):
    with pytest.raises(ValueError, match="namespace"):
        RedisHotState(URL, namespace=namespace)


# -- a server that cannot answer --------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def test_a_closed_port_is_a_clear_error():
    port = _closed_port()
    with pytest.raises(StateUnavailableError) as caught:
        RedisHotState(f"redis://{HOST}:{port}/0", namespace=_namespace())
    message = str(caught.value)
    assert f"redis://{HOST}:{port}/0" in message
    assert "could not open namespace" in message
    assert "trading must stop" in message
    assert caught.value.backend == f"redis://{HOST}:{port}/0"


def test_a_password_in_the_url_stays_out_of_the_error():
    port = _closed_port()
    with pytest.raises(StateUnavailableError) as caught:
        RedisHotState(f"redis://:hunter2@{HOST}:{port}/0", namespace=_namespace())
    assert "hunter2" not in str(caught.value)
    assert f"{HOST}:{port}" in str(caught.value)


def test_a_server_that_never_answers_fails_within_the_timeout():
    with socket.create_server((HOST, 0)) as silent:  # accepts into its backlog, never replies
        port = silent.getsockname()[1]
        with pytest.raises(StateUnavailableError, match=rf"{HOST}:{port}.*Timeout"):
            RedisHotState(f"redis://{HOST}:{port}/0", namespace=_namespace(), timeout_s=0.2)


class _Proxy:
    """Forward a free port on 127.0.0.1 to the real server until cut, as a network would."""

    def __init__(self) -> None:
        self._listener = socket.create_server((HOST, 0))
        self.url = f"redis://{HOST}:{self._listener.getsockname()[1]}/0"
        self._sockets: list[socket.socket] = []
        self._threads = [threading.Thread(target=self._accept)]
        self._threads[0].start()

    def _accept(self) -> None:
        while True:
            try:
                near, _ = self._listener.accept()
            except OSError:
                return
            far = socket.create_connection((HOST, PORT))
            self._sockets += [near, far]
            for source, sink in ((near, far), (far, near)):
                pump = threading.Thread(target=_pump, args=(source, sink))
                self._threads.append(pump)
                pump.start()

    def cut(self) -> None:
        # shutdown() wakes the threads blocked in accept() and recv(); close() alone would not.
        for sock in [self._listener, *self._sockets]:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join(timeout=5)
        for sock in [self._listener, *self._sockets]:
            sock.close()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        return


@pytest.fixture
def proxy(redis_reachable) -> Iterator[_Proxy]:
    proxy = _Proxy()
    yield proxy
    proxy.cut()


def test_a_server_that_goes_away_mid_run_stops_trading(proxy):
    namespace = _namespace()
    with _redis_state(namespace) as direct, RedisHotState(proxy.url, namespace=namespace) as state:
        state.set_price("BTC-USD", Decimal("65000.5"), T0)
        assert state.take("orders", now_ns=T0, rate_per_s=1.0, burst=5)
        assert state.kill_switch() is None

        proxy.cut()

        calls = {
            "read the kill switch": state.kill_switch,
            "set the kill switch": lambda: state.set_kill_switch("stop", "ops", T0),
            "clear the kill switch": lambda: state.clear_kill_switch("ops", T0),
            "take 1 from bucket 'orders'": lambda: state.take(
                "orders", now_ns=T0, rate_per_s=1.0, burst=5
            ),
            "read bucket 'orders'": lambda: state.wait_time_ns(
                "orders", now_ns=T0, rate_per_s=1.0, burst=5
            ),
            "set the price of 'BTC-USD'": lambda: state.set_price("BTC-USD", Decimal(1), T0),
            "read the price of 'BTC-USD'": lambda: state.price("BTC-USD"),
        }
        for operation, call in calls.items():
            with pytest.raises(StateUnavailableError) as caught:
                call()
            assert f"{proxy.url} could not {operation}" in str(caught.value)

        flag = fail_safe_kill_switch(state, now_ns=T0 + 1)
        assert flag is not None
        assert flag.ts_ns == T0 + 1
        assert "could not read the kill switch" in flag.reason
        assert direct.price("BTC-USD") == (Decimal("65000.5"), T0)  # nothing was half-written


@pytest.mark.usefixtures("redis_reachable")
def test_a_server_that_lost_its_data_does_not_read_as_a_clear_switch():
    with _redis_state() as state, RedisHotState(URL, namespace=state.namespace) as other:
        state.set_kill_switch("total loss 10%", "risk", T0)
        other.delete_all()  # what a restart of a server that keeps nothing on disk looks like
        with pytest.raises(StateUnavailableError, match="kill switch set earlier may have been"):
            state.kill_switch()
        with pytest.raises(StateUnavailableError, match="keys are gone"):
            state.take("orders", now_ns=T0, rate_per_s=1.0, burst=5)
        with pytest.raises(StateUnavailableError, match="keys are gone"):
            state.price("BTC-USD")


@pytest.mark.usefixtures("redis_reachable")
def test_data_it_cannot_read_is_an_error_not_a_default():
    with _redis_state() as state:
        client = redis.Redis(host=HOST, port=PORT, decode_responses=True)
        try:
            client.hset(f"{{{state.namespace}}}:price:BTC-USD", mapping={"price": "cheap"})
            client.hset(f"{{{state.namespace}}}:meta", mapping={"reason": "half a flag"})
        finally:
            client.close()
        with pytest.raises(StateUnavailableError, match="cannot read"):
            state.price("BTC-USD")
        with pytest.raises(StateUnavailableError, match="cannot read"):
            state.kill_switch()
