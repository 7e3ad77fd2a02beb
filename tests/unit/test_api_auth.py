"""Who may look and who may act, on every route the app serves.

Every POST route (enumerated from the app, so a router added later is covered) refuses a
missing or wrong token with 401 and a viewer's with 403, before it reads its body or changes
anything; each refusal is written to the audit log and the server's log, neither of which
ever holds a token. Every GET route but the health check wants a token, unless the server is
public: then GETs go through without one, and POSTs still do not. Tokens are compared with
`hmac.compare_digest`, both of them on every request.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter, FastAPI

from coinswarm.api import auth
from coinswarm.api.app import create_app
from coinswarm.api.audit import AUDITOR, Auditor
from coinswarm.api.build import build_services
from coinswarm.api.services import Services
from coinswarm.api.settings import ServeSettings
from coinswarm.backtest.defaults import data_home
from coinswarm.infra import audit
from coinswarm.infra.storage import Store

OPERATOR = "op-" + "S3cret" * 6
VIEWER = "vw-" + "L00k" * 8
OPEN = {"/api/health"}  # answers without a token, for load balancers and dead-man's switches


def settings(tmp_path: Path, **changes: object) -> ServeSettings:
    base: dict[str, object] = {
        "viewer_token": VIEWER,
        "operator_token": OPERATOR,
        "db": f"sqlite:///{tmp_path / 'server.db'}",
    }
    return ServeSettings.model_validate({**base, **changes})


@pytest.fixture
def found(tmp_path: Path) -> Iterator[Services]:
    services = build_services(settings(tmp_path))
    yield services
    asyncio.run(services.parts[AUDITOR].stop())


def routes(app: FastAPI, method: str) -> list[str]:
    """Return the path of every operation of `app` answering `method`, path parameters
    filled (from its OpenAPI schema: FastAPI includes routers lazily, so `app.routes` does not
    list their routes)."""
    app.openapi_schema = None  # a route added after the first call must show
    paths = [p for p, ops in app.openapi()["paths"].items() if method.lower() in ops]
    return sorted(re.sub(r"\{[^}]+\}", "x", p) for p in paths)


def call(app: FastAPI, method: str, path: str, token: str | None) -> httpx.Response:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.request(method, path, headers=headers)

    return asyncio.run(send())


def refusals(db: str) -> list[audit.AuditEntry]:
    with Store.open(db, upgrade=True) as store:
        return [e for e in audit.entries(store.engine) if e.kind == "api_refused"]


def test_the_app_has_post_routes_to_guard(found: Services) -> None:
    posts = routes(create_app(found=found), "POST")
    assert {"/api/control/pause", "/api/control/resume", "/api/control/stop"} <= set(posts)


@pytest.mark.parametrize(
    ("token", "status", "why"),
    [
        (None, 401, "the operator token is needed"),
        ("wrong", 401, "the token matches no role"),
        (OPERATOR[:-1], 401, "the token matches no role"),
        (OPERATOR + "x", 401, "the token matches no role"),
        (VIEWER, 403, "a viewer may look but not act"),
    ],
    ids=["missing", "wrong", "a prefix", "longer", "viewer"],
)
def test_every_post_refuses_all_but_the_operator(
    found: Services, tmp_path: Path, caplog: pytest.LogCaptureFixture, token, status, why
) -> None:
    app = create_app(found=found)
    posts = routes(app, "POST")
    with caplog.at_level(logging.WARNING, logger="coinswarm.api.auth"):
        for path in posts:
            answer = call(app, "POST", path, token)
            assert answer.status_code == status, (path, answer.text)
            assert answer.json() == {"error": why}
            if status == 401:
                assert answer.headers["www-authenticate"] == "Bearer"
    # Refused before anything changed: no state file, no job, nothing but the refusals.
    assert not any(data_home().glob("risk-state*.json"))
    logged = [r.getMessage() for r in caplog.records]
    assert logged == [f"refused {p} from 127.0.0.1: {why}" for p in posts]
    entries = refusals(found.settings.db or "")
    assert [(e.actor, e.data()) for e in entries] == [
        ("api", {"client": "127.0.0.1", "path": p, "reason": why}) for p in posts
    ]
    written = " ".join([*logged, *(e.payload for e in entries)])
    for secret in (OPERATOR, VIEWER, OPERATOR[:-1]):
        assert secret not in written


def test_every_guarded_get_wants_a_token_unless_public(tmp_path: Path) -> None:
    closed = build_services(settings(tmp_path))
    public = build_services(settings(tmp_path, public=True))
    app, open_app = create_app(found=closed), create_app(found=public)
    _viewer_route(app)
    _viewer_route(open_app)
    gets = [p for p in routes(app, "GET") if p not in OPEN]
    assert "/api/test-viewer" in gets
    for path in gets:
        assert call(app, "GET", path, None).status_code == 401, path
        assert call(app, "GET", path, "wrong").status_code == 401, path
        assert call(app, "GET", path, VIEWER).status_code not in (401, 403), path
        assert call(app, "GET", path, OPERATOR).status_code not in (401, 403), path
        assert call(open_app, "GET", path, None).status_code not in (401, 403), path
    # A wrong token is wrong even on a public server: it is not taken for no token.
    assert call(open_app, "GET", "/api/test-viewer", "wrong").status_code == 401
    for path in routes(open_app, "POST"):
        assert call(open_app, "POST", path, None).status_code == 401, path
        assert call(open_app, "POST", path, VIEWER).status_code == 403, path
    assert call(app, "GET", "/api/health", None).status_code == 200
    for services in (closed, public):
        asyncio.run(services.parts[AUDITOR].stop())


def _viewer_route(app: FastAPI) -> None:
    """Add a GET route guarded as the readers' routes are, so the rule is tested even before
    any reader lands."""
    router = APIRouter()

    @router.get("/api/test-viewer")
    def looked(role: auth.Viewer) -> dict[str, str]:
        return {"role": role}

    app.include_router(router)
    # Mounted last, the dashboards' catch-all would answer first: put the route before it.
    app.router.routes.insert(0, app.router.routes.pop())


def test_the_roles_each_token_grants(tmp_path: Path) -> None:
    app = create_app(found=build_services(settings(tmp_path)))
    _viewer_route(app)
    assert call(app, "GET", "/api/test-viewer", VIEWER).json() == {"role": "viewer"}
    assert call(app, "GET", "/api/test-viewer", OPERATOR).json() == {"role": "operator"}


def test_without_an_operator_token_nobody_can_act(tmp_path: Path) -> None:
    found = build_services(settings(tmp_path, operator_token=None))
    app = create_app(found=found)
    for token in (None, "", "None", VIEWER):
        for path in routes(app, "POST"):
            assert call(app, "POST", path, token).status_code in (401, 403), (path, token)
    asyncio.run(found.parts[AUDITOR].stop())


def test_tokens_are_compared_in_constant_time_both_every_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    app = create_app(found=build_services(settings(tmp_path)))
    for token in (OPERATOR, VIEWER, "wrong"):
        compared.clear()
        call(app, "POST", "/api/control/stop", token)
        # The operator's and the viewer's token are both compared, whichever matches.
        assert sorted(b for _a, b in compared) == sorted([OPERATOR.encode(), VIEWER.encode()])
        assert {a for a, _b in compared} == {token.encode()}


def test_a_refusal_stands_when_the_audit_log_cannot_be_written(tmp_path: Path) -> None:
    found = build_services(settings(tmp_path))
    found.parts[AUDITOR] = Auditor(f"sqlite:///{tmp_path / 'no' / 'such' / 'folder.db'}")
    app = create_app(found=found)
    answer = call(app, "POST", "/api/control/stop", None)
    assert answer.status_code == 401
    assert answer.json() == {"error": "the operator token is needed"}


def test_settings_never_show_a_token(tmp_path: Path) -> None:
    shown = repr(settings(tmp_path)) + str(settings(tmp_path).model_dump())
    assert OPERATOR not in shown
    assert VIEWER not in shown
