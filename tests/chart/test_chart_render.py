"""The Helm chart without a cluster: lint, the rendered objects, the CRD copy, the values schema and docs,
and the RBAC rules against deploy/rbac/operator-clusterrole.yaml."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.chart.conftest import CHART, KUBE_VERSION, ROOT, Render, by_kind, one, run_helm, template_args

ALL_VALUES = CHART / "ci" / "all-values.yaml"
RBAC_SOURCE = ROOT / "deploy" / "rbac" / "operator-clusterrole.yaml"
CRD_SOURCE = ROOT / "deploy" / "crds"

Triple = tuple[str, str, str]


def rule_triples(rules: list[dict[str, Any]]) -> set[Triple]:
    return {
        (group, resource, verb)
        for rule in rules
        for group in rule.get("apiGroups", [])
        for resource in rule.get("resources", [])
        for verb in rule.get("verbs", [])
    }


@pytest.mark.parametrize("values", [None, ALL_VALUES], ids=["defaults", "all-values"])
def test_helm_lint_strict(helm: Path, values: Path | None) -> None:
    args = ["lint", "--strict", str(CHART), "--kube-version", KUBE_VERSION]
    if values:
        args += ["--values", str(values)]
    out = run_helm(helm, *args).stdout
    assert "0 chart(s) failed" in out


def test_default_render_has_the_expected_objects(render: Render) -> None:
    objects = render()
    kinds = sorted(o["kind"] for o in objects)
    assert kinds == sorted(
        [
            *["CustomResourceDefinition"]
            * 5,  # policies, exceptions, the two workspace kinds, Kopf's peering
            "ServiceAccount",
            # crds, objects, peering, credentials, the aggregated edit and view, and granting exceptions
            *["ClusterRole"] * 7,
            *["ClusterRoleBinding"] * 3,  # crds, objects, peering
            "RoleBinding",  # Secrets of the release namespace (cluster workspaces), nowhere else
            "Service",
            "Deployment",
            "PodDisruptionBudget",
        ]
    ), "defaults: Secrets only in the release namespace, no ServiceMonitor, no NetworkPolicy"
    assert {o["metadata"]["name"] for o in by_kind(objects, "CustomResourceDefinition")} == {
        "ecrprivacypolicies.ecrprivacy.dev",
        "ecrprivacyexceptions.ecrprivacy.dev",
        "guardrailsworkspaces.ecrprivacy.dev",
        "clusterguardrailsworkspaces.ecrprivacy.dev",
        "clusterkopfpeerings.kopf.dev",
    }
    for obj in objects:
        if obj["kind"] not in ("CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding"):
            assert obj["metadata"]["namespace"] == "ecr-privacy-operator"


def test_deployment_is_two_peered_replicas_rolling_and_hardened(render: Render) -> None:
    objects = render()
    deployment = one(objects, "Deployment")
    spec = deployment["spec"]
    assert spec["replicas"] == 2
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
    }
    budget = one(objects, "PodDisruptionBudget")["spec"]
    assert budget == {"minAvailable": 1, "selector": spec["selector"]}
    pod = spec["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    run_as = pod["securityContext"]["runAsUser"]
    assert isinstance(run_as, int)
    assert run_as > 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert container["resources"]["requests"]
    assert container["resources"]["limits"]["memory"]
    for probe in ("startupProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert {"name": "health", "containerPort": 8081, "protocol": "TCP"} in container["ports"]
    assert "--liveness=http://0.0.0.0:8081/healthz" in container["args"]
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
    assert {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}} in pod["volumes"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["ECR_PRIVACY_METRICS_PORT"] == "8080"
    assert env["ECR_PRIVACY_WEDGED_AFTER"] == "600"
    assert "ECR_PRIVACY_DEFAULT_CREDENTIALS_SECRET" not in env
    assert env["ECR_PRIVACY_ALLOWED_HOSTS"] == "*.cloud.turbot.com"
    assert env["ECR_PRIVACY_CREDENTIALS_BINDING"] == "ecr-privacy-operator-credentials"
    namespace_env = next(e for e in container["env"] if e["name"] == "ECR_PRIVACY_OPERATOR_NAMESPACE")
    assert namespace_env["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    assert (env["ECR_PRIVACY_PEERING"], env["ECR_PRIVACY_PEERING_NAME"]) == ("true", "ecr-privacy-operator")
    assert env["ECR_PRIVACY_PEERING_LIFETIME"] == "30"
    assert (
        container["image"]
        == f"ecr-privacy-operator:{yaml.safe_load((CHART / 'Chart.yaml').read_text())['appVersion']}"
    )


def test_all_values_render_every_optional_part(render: Render) -> None:
    objects = render(namespace="ops", values_files=[ALL_VALUES])
    assert one(objects, "ServiceMonitor")["spec"]["endpoints"][0]["interval"] == "30s"
    policy = one(objects, "NetworkPolicy")
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    for crd in by_kind(objects, "CustomResourceDefinition"):
        assert "annotations" not in crd["metadata"], "crds.keep=false drops the keep annotation"
    deployment = one(objects, "Deployment")["spec"]
    assert deployment["replicas"] == 3
    assert one(objects, "PodDisruptionBudget")["spec"]["minAvailable"] == 2
    container = one(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert container["image"].endswith("@sha256:" + "0" * 64)
    assert {"--namespace=team-a", "--namespace=team-b"} <= set(container["args"])
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["ECR_PRIVACY_ALLOWED_HOSTS"] == "*.cloud.turbot.com,guardrails.internal.example"
    assert env["ECR_PRIVACY_CA_BUNDLE"] == "/etc/ecr-privacy-operator/ca/bundle.pem"
    assert env["HTTPS_PROXY"] == "http://proxy.invalid:3128"
    assert (env["ECR_PRIVACY_PEERING_NAME"], env["ECR_PRIVACY_PEERING_LIFETIME"]) == ("ecr-privacy-ops", "20")
    bindings = {(b["metadata"]["namespace"], b["roleRef"]["name"]) for b in by_kind(objects, "RoleBinding")}
    assert bindings == {
        ("team-a", "ecr-privacy-operator"),
        ("team-b", "ecr-privacy-operator"),
        ("team-a", "ecr-privacy-operator-credentials"),
        ("ops", "ecr-privacy-operator-credentials"),
    }
    cluster_bindings = [b["roleRef"]["name"] for b in by_kind(objects, "ClusterRoleBinding")]
    assert sorted(cluster_bindings) == ["ecr-privacy-operator-crds", "ecr-privacy-operator-peering"], (
        "watchNamespaces: objects only by RoleBinding"
    )


def test_secret_namespaces_default_to_watch_namespaces(render: Render) -> None:
    objects = render(set_values=["watchNamespaces={a,b}"])
    secret_bindings = sorted(
        b["metadata"]["namespace"]
        for b in by_kind(objects, "RoleBinding")
        if b["roleRef"]["name"].endswith("-credentials")
    )
    assert secret_bindings == ["a", "b", "ecr-privacy-operator"]  # and the release namespace


def test_crds_can_be_left_out(render: Render) -> None:
    assert not by_kind(render(set_values=["crds.enabled=false"]), "CustomResourceDefinition")
    crds = by_kind(render(set_values=["peering.createCRD=false"]), "CustomResourceDefinition")
    assert sorted(c["metadata"]["name"] for c in crds) == [
        "clusterguardrailsworkspaces.ecrprivacy.dev",
        "ecrprivacyexceptions.ecrprivacy.dev",
        "ecrprivacypolicies.ecrprivacy.dev",
        "guardrailsworkspaces.ecrprivacy.dev",
    ]


def test_one_replica_without_peering_and_no_budget(render: Render) -> None:
    objects = render(set_values=["peering.enabled=false", "replicaCount=1"])
    container = one(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert not {"ECR_PRIVACY_PEERING", "ECR_PRIVACY_PEERING_NAME"} & {e["name"] for e in container["env"]}
    assert not by_kind(objects, "PodDisruptionBudget"), "a budget of 1 with 1 replica would block drains"


def test_several_replicas_without_peering_are_refused(helm: Path) -> None:
    proc = run_helm(helm, *template_args(set_values=["peering.enabled=false"]), check=False)
    assert proc.returncode != 0
    assert "replicaCount > 1 needs peering.enabled" in proc.stderr


def test_chart_crd_equals_deploy_crds(render: Render) -> None:
    """The chart's CRDs, as rendered, are the sources in deploy/crds plus Helm's keep annotation."""
    sources = [yaml.safe_load(path.read_text()) for path in sorted(CRD_SOURCE.glob("*.yaml"))]
    rendered = by_kind(render(), "CustomResourceDefinition")
    assert len(rendered) == len(sources)
    for crd in rendered:
        assert crd["metadata"].pop("annotations") == {"helm.sh/resource-policy": "keep"}
        assert crd in sources


def test_generated_files_are_current() -> None:
    """templates/crds, the README's values table and the Argo CD patch match their sources."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "hack" / "chart.py"), "--check"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize(
    "bad",
    [
        "replicaCount=0",
        "peering.lifetime=5",
        "peering.name=Not_A_Name",
        "config.logFormat=xml",
        "watchNamespaces={Team_A}",
        "metrics.port=70000",
        "crds.enabled=maybe",
        "image.digest=latest",
        "credentials.secretNamespaces=all",
    ],
)
def test_values_schema_rejects_bad_values(helm: Path, bad: str) -> None:
    proc = run_helm(helm, *template_args(set_values=[bad]), check=False)
    assert proc.returncode != 0, f"--set {bad} was accepted"
    assert "values don't meet the specifications of the schema" in proc.stderr, proc.stderr


def _documented(values_file: Path) -> set[str]:
    """Keys of values.yaml with a helm-docs ``# --`` comment right above them."""
    documented: set[str] = set()
    stack: list[tuple[int, str]] = []
    in_comment = False
    for line in values_file.read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("# --"):
            in_comment = True
            continue
        if stripped.startswith("#") and in_comment:
            continue
        match = re.match(r"^(\s*)([A-Za-z][\w-]*):", line)
        if match:
            indent = len(match.group(1))
            while stack and stack[-1][0] >= indent:
                stack.pop()
            stack.append((indent, match.group(2)))
            if in_comment:
                documented.add(".".join(name for _, name in stack))
        in_comment = False
    return documented


def test_every_value_is_documented() -> None:
    """Every key has a ``# --`` comment, or sits inside a documented object (e.g. securityContext)."""
    documented = _documented(CHART / "values.yaml")
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    undocumented: list[str] = []

    def walk(node: dict[str, Any], prefix: str) -> None:
        for key, value in node.items():
            path = f"{prefix}{key}"
            if path in documented:
                continue
            if isinstance(value, dict) and value:
                walk(value, path + ".")
            else:
                undocumented.append(path)

    walk(values, "")
    assert not undocumented


def test_schema_covers_every_value() -> None:
    schema = yaml.safe_load((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert schema["additionalProperties"] is False
    assert set(values) <= set(schema["properties"])


def test_rbac_rules_match_deploy_rbac(render: Render) -> None:
    """The chart grants exactly the rules of deploy/rbac/operator-clusterrole.yaml, split by scope."""
    source = {
        d["metadata"]["name"]: rule_triples(d["rules"]) for d in yaml.safe_load_all(RBAC_SOURCE.read_text())
    }
    roles = {
        r["metadata"]["name"]: rule_triples(r["rules"])
        for r in by_kind(render(set_values=["credentials.secretNamespaces={a}"]), "ClusterRole")
    }
    name = "ecr-privacy-operator"
    assert roles[f"{name}-crds"] | roles[name] | roles[f"{name}-peering"] == source[name]
    for role in ("credentials", "edit", "view", "exceptions"):
        assert roles[f"{name}-{role}"] == source[f"{name}-{role}"], role
    assert len(roles) == 7
    rendered = {r["metadata"]["name"]: r for r in by_kind(render(), "ClusterRole")}
    sources = {d["metadata"]["name"]: d for d in yaml.safe_load_all(RBAC_SOURCE.read_text())}
    for role in ("edit", "view"):  # the aggregation labels, as in deploy/rbac
        labels = sources[f"{name}-{role}"]["metadata"]["labels"]
        assert labels.items() <= rendered[f"{name}-{role}"]["metadata"]["labels"].items()
    binding_rule = next(
        r for r in rendered[f"{name}-credentials"]["rules"] if "rolebindings" in r["resources"]
    )
    assert binding_rule["resourceNames"] == [f"{name}-credentials"]


def test_no_cluster_wide_secret_access(render: Render) -> None:
    for values in ([], ["credentials.secretNamespaces={a,b}"]):
        objects = render(set_values=values)
        roles = {r["metadata"]["name"]: rule_triples(r["rules"]) for r in by_kind(objects, "ClusterRole")}
        for binding in by_kind(objects, "ClusterRoleBinding"):
            granted = roles[binding["roleRef"]["name"]]
            assert not any(resource == "secrets" for _, resource, _ in granted), binding["metadata"]["name"]
        for granted in roles.values():
            assert not {("", "secrets", "list"), ("", "secrets", "watch")} & granted
