"""The chart's monitoring parts: probes on /healthz and /readyz, the PrometheusRule and the Grafana dashboard
ConfigMap (both off by default), and that every metric the alerts, the dashboard and docs/observability.md
name is one the operator exports."""

from __future__ import annotations

import json
import re
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families

from ecr_privacy_operator.metrics import Metrics
from tests.chart.conftest import CHART, ROOT, Render, by_kind, one

DASHBOARD = ROOT / "deploy" / "monitoring" / "grafana-dashboard.json"
DOCS = ROOT / "docs" / "observability.md"
ALERTS = {
    "EcrPrivacyPolicyStalled",
    "EcrPrivacyPolicyNotReady",
    "EcrPrivacyPolicyDrifted",
    "EcrPrivacyPolicyAlarms",
    "EcrPrivacyExceptionExpiresSoon",
    "EcrPrivacyGuardrailsErrors",
    "EcrPrivacyOperatorDown",
    "EcrPrivacyNoReconciles",
    "EcrPrivacyFeedUnavailable",
    "EcrPrivacyFeedLoopDown",
}
METRIC = re.compile(r"\becrprivacy_[a-z_]+")


def exported() -> tuple[set[str], set[str]]:
    """(sample names, family names) the operator's registry exports, with one object and the pass gauges."""
    metrics = Metrics()
    metrics.watch_passes(lambda: 0.0, lambda: 0.0)
    metrics.set_object("ns", "name", drift=0, compliance=None, conditions={})
    metrics.on_request("ObservePolicy", "ok", 0.1)
    metrics.on_retry("ObservePolicy")
    metrics.reconciles.labels("create", "Succeeded", "").inc()
    metrics.reconcile_seconds.labels("create").observe(0.1)
    metrics.guardrails_changes.labels("PackCreated").inc()
    metrics.feed_polls.labels("ok").inc()
    metrics.feed_activities.labels("pass").inc()
    metrics.feed_fallbacks.labels("FeedForbidden").inc()
    metrics.exception_expiry.labels("ns", "name").set(1.8e9)
    samples, families = set(), set()
    for family in text_string_to_metric_families(b"".join(metrics.exposition()).decode()):
        if family.name.endswith("_created"):  # prometheus-client's creation timestamps of counters/histograms
            continue
        families.add(family.name)
        samples |= {s.name for s in family.samples}
    return samples, families


def test_monitoring_objects_are_off_by_default(render: Render) -> None:
    kinds = {o["kind"] for o in render()}
    assert "PrometheusRule" not in kinds
    assert "ConfigMap" not in kinds


def test_probes_and_wedge_limit(render: Render) -> None:
    container = one(render(), "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    container = one(render(set_values=["metrics.enabled=false", "config.wedgedAfter=120"]), "Deployment")[
        "spec"
    ]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}, "no metrics port"
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["ECR_PRIVACY_WEDGED_AFTER"] == "120"


def test_servicemonitor_honors_the_object_labels(render: Render) -> None:
    monitor = one(render(set_values=["metrics.serviceMonitor.enabled=true"]), "ServiceMonitor")
    assert monitor["spec"]["endpoints"][0]["honorLabels"] is True


def test_prometheus_rule_alerts(render: Render) -> None:
    objects = render(
        release="ops",
        set_values=[
            "monitoring.prometheusRule.enabled=true",
            "monitoring.prometheusRule.driftFor=30m",
            "monitoring.prometheusRule.alarmThreshold=3",
        ],
    )
    rule = one(objects, "PrometheusRule")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    (group,) = rule["spec"]["groups"]
    alerts = {r["alert"]: r for r in group["rules"]}
    assert set(alerts) == ALERTS
    assert alerts["EcrPrivacyPolicyDrifted"]["for"] == "30m"
    assert alerts["EcrPrivacyPolicyAlarms"]["expr"].endswith("> 3")
    samples, _ = exported()
    for name, alert in alerts.items():
        assert 'job="ops-ecr-privacy-operator-metrics"' in alert["expr"], name
        assert alert["labels"]["severity"] in ("warning", "critical"), name
        assert alert["annotations"]["summary"], name
        for metric in METRIC.findall(alert["expr"]):
            assert metric in samples, f"{name} uses {metric}, which the operator does not export"


def test_prometheus_rule_job_and_extra_rules(render: Render) -> None:
    values = CHART / "ci" / "all-values.yaml"
    rule = one(
        render(values_files=[values], set_values=["monitoring.prometheusRule.job=custom"]), "PrometheusRule"
    )
    rules = rule["spec"]["groups"][0]["rules"]
    assert rules[-1]["alert"] == "EcrPrivacyManyObjectsNotReady"
    assert all('job="custom"' in r["expr"] for r in rules if r["alert"] in ALERTS)
    assert rule["metadata"]["labels"]["release"] == "prometheus"


def test_dashboard_configmap_and_queries(render: Render) -> None:
    (configmap,) = by_kind(render(set_values=["monitoring.grafanaDashboard.enabled=true"]), "ConfigMap")
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    dashboard: dict[str, Any] = json.loads(configmap["data"]["ecr-privacy-operator.json"])
    assert dashboard == json.loads(DASHBOARD.read_text())
    panels = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    samples, _ = exported()
    queries = [t["expr"] for p in panels for t in p.get("targets", [])]
    queries += [v["definition"] for v in dashboard["templating"]["list"] if "definition" in v]
    assert queries
    used = {m for q in queries for m in METRIC.findall(q)}
    assert used <= samples, f"the dashboard queries unknown metrics: {used - samples}"


def test_docs_list_every_metric_family() -> None:
    _, families = exported()
    text = DOCS.read_text()
    missing = sorted(f for f in families if f"`{f}" not in text)
    assert not missing, f"docs/observability.md does not describe {missing}"
    documented = set(METRIC.findall(text))
    samples, _ = exported()
    assert documented <= samples | families, f"docs name unknown metrics: {documented - samples - families}"


def test_all_values_enable_the_monitoring_parts() -> None:
    values = yaml.safe_load((CHART / "ci" / "all-values.yaml").read_text())
    assert values["monitoring"]["prometheusRule"]["enabled"] is True
    assert values["monitoring"]["grafanaDashboard"]["enabled"] is True


def test_docs_give_the_charts_alert_defaults() -> None:
    """Every ``monitoring.prometheusRule`` setting docs/observability.md names as "`key` (default)" carries the
    chart's default, and every threshold and duration of the chart is documented so."""
    rule = yaml.safe_load((CHART / "values.yaml").read_text())["monitoring"]["prometheusRule"]
    documented = re.findall(
        r"`(\w+)` \(([^)]+)\)", DOCS.read_text().split("\n## Alerts\n", 1)[1].split("\n## ", 1)[0]
    )
    assert documented
    for key, default in documented:
        if key in rule and key != "job":  # job: the default is described, not a value
            assert default == str(rule[key]), (
                f"docs/observability.md gives {key} as {default}, the chart {rule[key]}"
            )
    settings = {
        k for k, v in rule.items() if isinstance(v, (int, float, str)) and not isinstance(v, bool)
    } - {"job"}
    assert settings - {k for k, _ in documented} == set()
