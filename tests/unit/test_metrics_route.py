"""GET /metrics: Prometheus text for a viewer (or anyone in public mode), refused otherwise."""

from __future__ import annotations

import asyncio

import httpx
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from coinswarm.api import create_app
from coinswarm.api.build import build_services
from coinswarm.api.routes.metrics import METRICS
from coinswarm.api.settings import ServeSettings
from coinswarm.infra.metrics import Metrics

VIEWER = "viewer-token-for-tests"
OPERATOR = "operator-token-for-tests"


def settings(*, public: bool = False) -> ServeSettings:
    return ServeSettings(
        viewer_token=SecretStr(VIEWER), operator_token=SecretStr(OPERATOR), public=public
    )


def get(app, token: str | None) -> httpx.Response:
    async def ask() -> httpx.Response:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.get("/metrics", headers=headers)

    return asyncio.run(ask())


def test_a_viewer_scrapes_what_the_feed_counted():
    found = build_services(settings())
    metrics = found.parts[METRICS]
    assert isinstance(metrics, Metrics)
    metrics.observe({"run_id": "r", "mode": "paper", "kind": "fill", "side": "buy", "fee": "1"})
    response = get(create_app(found=found), VIEWER)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    names = {
        sample.name: sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
        if sample.labels.get("side") == "buy" and not sample.name.endswith("_created")
    }
    assert names == {"coinswarm_fills_total": 1.0}


def test_the_operator_may_scrape_too():
    assert get(create_app(found=build_services(settings())), OPERATOR).status_code == 200


def test_no_token_or_a_wrong_one_is_refused_unless_public():
    app = create_app(found=build_services(settings()))
    missing = get(app, None)
    assert missing.status_code == 401
    assert missing.json() == {"error": "a viewer or operator token is needed"}
    assert get(app, "guess").status_code == 401
    public = create_app(found=build_services(settings(public=True)))
    assert get(public, None).status_code == 200


def test_a_server_built_without_the_part_still_answers():
    app = create_app(settings(public=True))
    response = get(app, None)
    assert response.status_code == 200
    assert "coinswarm_sessions_running" in response.text


def test_the_hubs_dropped_clients_are_counted_once_whoever_tells():
    class Hub:
        dropped_clients = 0

    found = build_services(settings(public=True))
    hub = found.parts["hub"] = Hub()
    metrics = found.parts[METRICS]
    app = create_app(found=found)

    def dropped() -> float:
        families = text_string_to_metric_families(get(app, None).text)
        return next(
            sample.value
            for family in families
            for sample in family.samples
            if sample.name == "coinswarm_ws_clients_dropped_total"
        )

    assert dropped() == 0
    hub.dropped_clients = 2
    assert dropped() == 2
    metrics.client_dropped()  # the hub's third drop, told directly
    hub.dropped_clients = 3
    assert dropped() == 3
    assert dropped() == 3
