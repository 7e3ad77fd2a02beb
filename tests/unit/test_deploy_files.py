"""deploy/: Prometheus's configuration and rules, Grafana's dashboard and provisioning, compose.

Without promtool or Docker here, each file is parsed and checked for what would break it in
use: every metric a rule or a panel names is one the server exposes (a rename in
infra/metrics.py fails here), every file a configuration points at exists, and the dashboard's
panels do not overlap.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from coinswarm.infra.metrics import METRIC_NAMES, Metrics

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
PROMETHEUS = DEPLOY / "prometheus"
GRAFANA = DEPLOY / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "coinswarm.json"
DATASOURCE_UID = "coinswarm-prometheus"

_METRIC = re.compile(r"\b(coinswarm_[a-z0-9_]+)")
_DURATION = re.compile(r"^\d+[smhdwy]$")


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def exposed_names() -> set[str]:
    """Return every sample name the server's metrics expose once each has a sample."""
    metrics = Metrics(lambda: 10**18)
    run = {"run_id": "r", "mode": "paper", "ts_ns": 1, "sent_ns": 10**18 - 1}
    events: list[dict[str, Any]] = [
        {"kind": "start", "heartbeat_s": 5.0},
        {"kind": "heartbeat", "seq": 1, "interval_s": 5.0, "dropped": 1},
        {"kind": "order", "status": "rejected", "reject_reason": "no"},
        {"kind": "fill", "side": "buy", "fee": "1"},
        {"kind": "risk", "event": "TRIP", "source": "breaker"},
        {"kind": "verdict", "latency_s": 0.01},
        {"kind": "error", "source": "exchange", "code": "x"},
        {"kind": "equity", "equity": "1", "drawdown": 0, "day_pnl": "0", "daily_loss_limit": "1"},
        {"kind": "stop", "run_id": "other", "status": "finished"},
    ]
    for event in events:
        metrics.observe({**run, **event})
    metrics.alert_delivered("email")
    metrics.alert_failed("email")
    metrics.client_dropped()
    text = metrics.exposition().decode()
    return {
        sample.name for family in text_string_to_metric_families(text) for sample in family.samples
    }


EXPOSED = exposed_names()


def named_metrics(expression: str) -> set[str]:
    return set(_METRIC.findall(expression))


def balanced(expression: str) -> bool:
    depth = {"(": 0, "{": 0, "[": 0}
    closing = {")": "(", "}": "{", "]": "["}
    for char in expression:
        if char in depth:
            depth[char] += 1
        elif char in closing:
            depth[closing[char]] -= 1
            if depth[closing[char]] < 0:
                return False
    return not any(depth.values())


def rules() -> list[dict[str, Any]]:
    return [rule for group in load(PROMETHEUS / "alerts.yml")["groups"] for rule in group["rules"]]


def panels() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = json.loads(DASHBOARD.read_text(encoding="utf-8"))["panels"]
    return found


def dashboard_expressions() -> list[str]:
    return [target["expr"] for panel in panels() for target in panel.get("targets", [])]


def test_the_exposed_names_include_every_declared_family():
    # The check below is only as good as this set: each family has a sample in it.
    for name in METRIC_NAMES:
        assert name in EXPOSED or f"{name}_count" in EXPOSED, name


def test_prometheus_scrapes_the_servers_metrics_with_a_token_file():
    config = load(PROMETHEUS / "prometheus.yml")
    (job,) = [job for job in config["scrape_configs"] if job["job_name"] == "coinswarm"]
    assert job["metrics_path"] == "/metrics"
    assert job["static_configs"][0]["targets"] == ["127.0.0.1:8787"]
    authorization = job["authorization"]
    assert authorization["type"] == "Bearer"
    assert "credentials" not in authorization  # never a token in the repository
    # ...nor a file of it: the token is a secret mounted from the environment (compose.yaml)
    assert authorization["credentials_file"] == "/run/secrets/coinswarm_viewer_token"
    for rule_file in config["rule_files"]:
        assert (PROMETHEUS / rule_file).is_file()


def test_every_rule_is_complete_and_names_only_exposed_metrics():
    found = rules()
    assert {rule["alert"] for rule in found} >= {
        "CoinswarmSessionDown",
        "CoinswarmExchangeErrorBurst",
        "CoinswarmBreakerTripped",
        "CoinswarmAlertDeliveryFailing",
        "CoinswarmBusLag",
    }
    assert len({rule["alert"] for rule in found}) == len(found)
    for rule in found:
        expression = rule["expr"]
        assert balanced(expression), rule["alert"]
        assert rule["labels"]["severity"] in ("critical", "warning")
        assert rule["annotations"]["summary"]
        assert _DURATION.match(rule.get("for", "0s")), rule["alert"]
        names = named_metrics(expression)
        assert names or "up{" in expression, rule["alert"]
        assert names <= EXPOSED, (rule["alert"], names - EXPOSED)


def test_the_session_down_rule_compares_the_age_with_twice_the_interval():
    (rule,) = [rule for rule in rules() if rule["alert"] == "CoinswarmSessionDown"]
    assert rule["expr"] == (
        "coinswarm_heartbeat_age_seconds > 2 * coinswarm_heartbeat_interval_seconds"
    )


def test_every_panel_names_only_exposed_metrics_and_every_metric_has_a_panel():
    shown: set[str] = set()
    for expression in dashboard_expressions():
        assert balanced(expression), expression
        names = named_metrics(expression)
        assert names <= EXPOSED, (expression, names - EXPOSED)
        shown |= names
    for name in METRIC_NAMES:
        family = {name, f"{name}_bucket", f"{name}_count", f"{name}_sum"}
        assert family & shown, f"no panel shows {name}"


def test_the_dashboard_is_well_formed():
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert dashboard["uid"] == "coinswarm-overview"
    ids = [panel["id"] for panel in panels()]
    assert len(set(ids)) == len(ids)
    cells: set[tuple[int, int]] = set()
    for panel in panels():
        grid = panel["gridPos"]
        assert grid["x"] >= 0, panel["title"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        for target in panel.get("targets", []):
            assert target["datasource"]["uid"] == DATASOURCE_UID
        covered = {
            (grid["x"] + dx, grid["y"] + dy) for dx in range(grid["w"]) for dy in range(grid["h"])
        }
        assert not covered & cells, f"panel {panel['title']!r} overlaps another"
        cells |= covered
    variables = {variable["name"] for variable in dashboard["templating"]["list"]}
    for expression in dashboard_expressions():
        for used in re.findall(r"\$(\w+)", expression):
            assert used in variables, expression


def test_grafana_provisions_the_datasource_and_the_dashboards_folder():
    provisioning = GRAFANA / "provisioning"
    (source,) = load(provisioning / "datasources" / "prometheus.yml")["datasources"]
    assert source["uid"] == DATASOURCE_UID
    assert source["type"] == "prometheus"
    (provider,) = load(provisioning / "dashboards" / "coinswarm.yml")["providers"]
    assert provider["options"]["path"] == "${COINSWARM_GRAFANA_DASHBOARDS}"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = load(DEPLOY / "compose.yaml")
    return loaded


def test_compose_mounts_files_that_exist(compose):
    for service in compose["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), source


def test_compose_takes_every_secret_from_the_environment(compose):
    secrets = compose["secrets"]
    assert secrets["coinswarm_viewer_token"] == {"environment": "COINSWARM_API_VIEWER_TOKEN"}
    assert all(set(secret) == {"environment"} for secret in secrets.values())
    assert compose["services"]["prometheus"]["secrets"] == ["coinswarm_viewer_token"]
    grafana = compose["services"]["grafana"]
    mounted = f"/run/secrets/{grafana['secrets'][0]}"
    assert grafana["environment"]["GF_SECURITY_ADMIN_PASSWORD__FILE"] == mounted
    assert not list(DEPLOY.rglob("secrets"))  # no folder of secrets in the repository


def test_compose_points_grafana_at_the_mounted_dashboards(compose):
    grafana = compose["services"]["grafana"]
    mounted = {
        target: source
        for source, target, *_ in (volume.split(":") for volume in grafana["volumes"])
    }
    folder = grafana["environment"]["COINSWARM_GRAFANA_DASHBOARDS"]
    assert mounted[folder] == "./grafana/dashboards"
    assert mounted[grafana["environment"]["GF_PATHS_PROVISIONING"]] == "./grafana/provisioning"
    prometheus = compose["services"]["prometheus"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus["command"]
    volumes = prometheus["volumes"]
    assert any(volume.startswith("./prometheus:/etc/prometheus") for volume in volumes)
