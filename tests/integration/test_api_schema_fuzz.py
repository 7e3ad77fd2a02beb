"""Schemathesis against the app's own OpenAPI schema: no operation ever answers 500.

Every operation of `app.openapi()` (so every router in `routes.ROUTERS`, whoever added it)
is called with inputs schemathesis draws from its schema, valid ones and invalid ones, with
the viewer's token and with the operator's, through the app running as `coinswarm serve`
runs it: built by `build_services`, its parts started by its lifespan. The check is
schemathesis's `not_a_server_error`. Jobs start a stand-in interpreter that answers at once,
so that fuzzing the job routes starts no real backtest.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from anyio.from_thread import BlockingPortal, start_blocking_portal
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from coinswarm.api.app import create_app
from coinswarm.api.build import build_services
from coinswarm.api.errors import install_error_handlers
from coinswarm.api.jobs import JOBS, Jobs
from coinswarm.api.settings import ServeSettings

OPERATOR = "operator-" + "f" * 24
VIEWER = "viewer-" + "z" * 24
EXAMPLES = 6  # per operation, per mode, per token: about 600 calls in all
BASE = "http://127.0.0.1"


class Running:
    """The app with its lifespan started, in an event loop of its own thread."""

    def __init__(self, app: FastAPI, portal: BlockingPortal) -> None:
        self.app = app
        self.portal = portal

    def call(self, kwargs: dict[str, Any]) -> httpx.Response:
        return self.portal.call(self._send, kwargs)

    async def _send(self, kwargs: dict[str, Any]) -> httpx.Response:
        transport = httpx.ASGITransport(app=self.app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            request = client.build_request(
                kwargs["method"],
                kwargs["url"],
                headers=kwargs.get("headers"),
                params=kwargs.get("params"),
                cookies=kwargs.get("cookies"),
                json=kwargs.get("json"),
                content=kwargs.get("data") if isinstance(kwargs.get("data"), bytes | str) else None,
            )
            response = await client.send(request)
            await response.aread()
            return response


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    folder = tmp_path_factory.mktemp("fuzz")
    configured = ServeSettings.model_validate(
        {
            "viewer_token": VIEWER,
            "operator_token": OPERATOR,
            "db": f"sqlite:///{folder / 'server.db'}",
            "runs_dir": folder / "runs",
        }
    )
    found = build_services(configured)
    stand_in = folder / "stand-in-python"
    stand_in.write_text(f'#!{sys.executable}\nprint(\'{{"run": "fuzzed"}}\')\n', encoding="utf-8")
    stand_in.chmod(0o755)
    found.parts[JOBS] = Jobs(configured, python=str(stand_in), grace_s=2)
    app = create_app(found=found)
    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(app.router.lifespan_context(app)),
    ):
        yield Running(app, portal)


def operations(app: FastAPI) -> list[Any]:
    schema = schemathesis.openapi.from_dict(app.openapi())
    return [result.ok() for result in schema.get_all_operations()]


def test_the_schema_lists_the_operations_to_fuzz(running: Running) -> None:
    paths = {(op.method.upper(), op.path) for op in operations(running.app)}
    assert ("POST", "/api/control/stop") in paths
    assert ("POST", "/api/jobs/backtest") in paths
    assert ("GET", "/api/health") in paths


@pytest.mark.parametrize("token", [OPERATOR, VIEWER], ids=["operator", "viewer"])
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_operation_answers_a_server_error(
    running: Running, token: str, mode: GenerationMode
) -> None:
    assert server_errors(running, token, mode) == []


def server_errors(running: Running, token: str, mode: GenerationMode) -> list[str]:
    """Fuzz every operation of the running app; return one line per operation that failed."""
    headers = {"Authorization": f"Bearer {token}"}
    failures: list[str] = []
    for operation in operations(running.app):

        @settings(
            max_examples=EXAMPLES,
            database=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def fuzz(case: Any) -> None:
            kwargs = case.as_transport_kwargs(base_url=BASE, headers=headers)
            response = running.call(kwargs)
            case.validate_response(response, checks=[not_a_server_error])

        try:
            fuzz()
        except Unsatisfiable:
            # Nothing invalid to send: an operation without parameters or body.
            assert mode is GenerationMode.NEGATIVE, operation.label
        except Exception as error:
            failures.append(f"{operation.label}: {str(error).splitlines()[0]}")
    return failures


def test_the_fuzz_finds_a_route_that_fails() -> None:
    # The check can fail: a route that raises (answered 500 by the error handlers) is found.
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/api/broken")
    def broken(limit: int = 10) -> dict[str, int]:
        return {"half": 100 // (limit % 2)}  # ZeroDivisionError on every even limit

    with start_blocking_portal() as portal:
        (failure,) = server_errors(Running(app, portal), VIEWER, GenerationMode.POSITIVE)
    assert failure.startswith("GET /api/broken: ")


def test_the_lifespan_started_the_parts(running: Running) -> None:
    answer = running.call({"method": "GET", "url": f"{BASE}/api/health"})
    assert answer.status_code == 200
    assert Path(running.app.state.services.settings.db.removeprefix("sqlite:///")).parent.is_dir()
