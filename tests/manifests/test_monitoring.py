"""The optional monitoring objects: metrics Service, ServiceMonitor, PrometheusRule, Grafana dashboard ConfigMap.

The alerts are those docs/observability.md shows, parsed by Prometheus' own promtool (Debian's prometheus package,
which `make unit` and `make test` install); the dashboard's queries too. The ServiceMonitor and PrometheusRule kinds
are the Prometheus Operator's CRDs, which the test control plane does not have: their specs are decoded here into
the Prometheus Operator's own Go types, unknown fields refused (hack/controlplane/promcheck), and
tests/integration/test_manifests.py has the API server admit them against stand-ins of those CRDs
(tests/integration/monitoring-crds.yaml: the kinds and their metadata, not their schemas).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.manifests.render import CHART, REPO, Object, chart_with, container, one, pod_spec, render_values, tool

DASHBOARD = REPO / "docs" / "grafana-dashboard.json"
ALL_ON: dict[str, Any] = {
    "metrics": {"service": {"enabled": True}, "serviceMonitor": {"enabled": True}, "prometheusRule": {"enabled": True}},
    "grafanaDashboard": {"enabled": True},
}
MONITORING = {"Service", "ServiceMonitor", "PrometheusRule", "ConfigMap"}


def _documented_alerts() -> dict[str, dict[str, Any]]:
    """The first rule of each name in the YAML blocks of docs/observability.md's Alerts section."""
    text = (REPO / "docs" / "observability.md").read_text()
    section = text.split("## Alerts", 1)[1].split("\n## ", 1)[0]
    alerts: dict[str, dict[str, Any]] = {}
    for block in re.findall(r"```yaml\n(.*?)```", section, re.S):
        for rule in yaml.safe_load(block):
            alerts.setdefault(rule["alert"], rule)
    return alerts


def test_monitoring_is_off_by_default() -> None:
    assert not {d["kind"] for d in chart_with({})} & MONITORING


def test_the_rule_holds_the_documented_alerts() -> None:
    rule = one(chart_with(ALL_ON), "PrometheusRule", "rollboot-operator")
    [group] = rule["spec"]["groups"]
    rendered = {r["alert"]: r for r in group["rules"]}
    documented = _documented_alerts()
    assert sorted(rendered) == sorted(documented)
    for name, doc in documented.items():
        expr = doc["expr"].replace("3 * 86400", "259200")
        assert (rendered[name]["expr"], rendered[name].get("for")) == (expr, doc.get("for")), name
        for field in ("labels", "annotations"):
            assert rendered[name].get(field, {}) | doc.get(field, {}) == rendered[name].get(field, {}), (name, field)


def _promcheck(stream: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(tool("promcheck"))], input=stream, capture_output=True, text=True, timeout=60)


def test_the_monitoring_objects_decode_into_the_prometheus_operators_types() -> None:
    values = {**ALL_ON, "metrics": {**ALL_ON["metrics"], "serviceMonitor": {"enabled": True, "interval": "1m"}}}
    result = _promcheck(render_values(values).stdout)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "checked 2, refused 0"


@pytest.mark.parametrize(
    ("document", "refusal"),
    [
        pytest.param(
            {"kind": "ServiceMonitor", "spec": {"endpoints": [{"port": "metrics", "intervall": "30s"}]}},
            'unknown field "intervall"',
            id="misspelt-field",
        ),
        pytest.param(
            {"kind": "PrometheusRule", "spec": {"groups": [{"name": "g", "rules": [{"alert": "A", "for": ["6h"]}]}]}},
            "Rule.spec.groups.rules.for",
            id="wrong-type",
        ),
    ],
)
def test_promcheck_refuses_what_the_real_crds_would(document: dict[str, Any], refusal: str) -> None:
    body = {"apiVersion": "monitoring.coreos.com/v1", "metadata": {"name": "x"}, **document}
    result = _promcheck(yaml.safe_dump(body))
    assert result.returncode == 1
    assert refusal in result.stdout


def test_the_threshold_of_reboot_required_too_long_is_a_value() -> None:
    values = {**ALL_ON, "metrics": {"prometheusRule": {"enabled": True, "rebootRequiredTooLongSeconds": 3600}}}
    [group] = one(chart_with(values), "PrometheusRule", "rollboot-operator")["spec"]["groups"]
    assert group["rules"][0]["expr"].endswith("> 3600")


def _promtool(tmp_path: Path, groups: list[dict[str, Any]]) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: make prometheus (Debian's prometheus package) installs it"
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump({"groups": groups}))
    result = subprocess.run([promtool, "check", "rules", str(rules)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_accepts_the_rule(tmp_path: Path) -> None:
    _promtool(tmp_path, one(chart_with(ALL_ON), "PrometheusRule", "rollboot-operator")["spec"]["groups"])


def test_promtool_parses_every_query_of_the_dashboard(tmp_path: Path) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
    variables = {"$cluster": ".*", "$policy": ".*", "$__rate_interval": "5m"}
    rules = []
    for number, expr in enumerate(exprs):
        for variable, value in variables.items():
            expr = expr.replace(variable, value)
        rules.append({"record": f"dashboard:query_{number}", "expr": expr})
    _promtool(tmp_path, [{"name": "dashboard", "rules": rules}])


def test_every_dashboard_query_can_be_narrowed_to_a_cluster() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
    exprs += [v["definition"] for v in dashboard["templating"]["list"] if v["name"] == "policy"]
    for expr in exprs:
        selectors = re.findall(r"\brollboot_[a-z_]+(\{[^}]*\})?", expr)
        assert selectors and all('cluster=~"$cluster"' in s for s in selectors), expr
    assert "cluster" in [v["name"] for v in dashboard["templating"]["list"]]


def test_the_chart_carries_a_copy_of_the_dashboard() -> None:
    copy = CHART / "files" / "grafana-dashboard.json"
    assert copy.read_bytes() == DASHBOARD.read_bytes(), "stale: make chart"
    configmap = one(chart_with(ALL_ON), "ConfigMap", "rollboot-operator-dashboard")
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(configmap["data"]["rollboot.json"]) == json.loads(DASHBOARD.read_text())


def test_the_dashboard_configmap_may_go_to_grafanas_namespace() -> None:
    folder = {"grafana_folder": "K8s"}
    values = {"grafanaDashboard": {"enabled": True, "namespace": "monitoring", "annotations": folder}}
    configmap = one(chart_with(values), "ConfigMap", "rollboot-operator-dashboard")
    assert configmap["metadata"]["namespace"] == "monitoring"
    assert configmap["metadata"]["annotations"] == {"grafana_folder": "K8s"}


def test_the_service_monitor_scrapes_the_operators_metrics_port_through_the_service() -> None:
    values = {"metrics": {"serviceMonitor": {"enabled": True, "interval": "30s", "labels": {"release": "kps"}}}}
    rendered = chart_with(values)
    service = one(rendered, "Service", "rollboot-operator-metrics")
    monitor: Object = one(rendered, "ServiceMonitor", "rollboot-operator")
    deployment = one(rendered, "Deployment", "rollboot-operator")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    [port] = service["spec"]["ports"]
    assert port["targetPort"] in {p["name"] for p in container(deployment)["ports"]}
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["endpoints"] == [{"port": port["name"], "path": "/metrics", "interval": "30s"}]
    assert monitor["metadata"]["labels"]["release"] == "kps"
    assert pod_spec(deployment)["serviceAccountName"] == "rollboot-operator"


@pytest.mark.parametrize(
    "values",
    [
        pytest.param({"metrics": {"serviceMonitor": {"enabled": True}}}, id="serviceMonitor"),
        pytest.param({"metrics": {"service": {"enabled": True}}}, id="service"),
        pytest.param({"metrics": {"prometheusRule": {"enabled": True}}}, id="prometheusRule"),
    ],
)
def test_monitoring_without_a_metrics_port_is_refused(values: dict[str, Any]) -> None:
    result = render_values({**values, "operator": {"metricsPort": 0}}, check=False)
    assert result.returncode != 0
    assert "need" in result.stderr and "operator.metricsPort, which is 0" in result.stderr
