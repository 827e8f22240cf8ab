"""The chart against the real local kube-apiserver: rendered manifests are accepted (server-side dry run), and
the chart's ServiceAccount may make every call the operator makes, and nothing else it should not.

The RBAC checks impersonate ``system:serviceaccount:<ns>:<sa>`` (the admin user may impersonate anyone):
first real API calls as the operator makes them, then SelfSubjectAccessReviews (what ``kubectl auth can-i
--as=...`` sends) for the calls that must be forbidden.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from tests.chart.conftest import CHART, ROOT, run_helm, template_args
from tests.controlplane.harness import ControlPlane
from tests.fixtures.kube import GROUP, PLURAL, VERSION
from tests.fixtures.manifests import apply, ensure_namespaces, split_crds

ALL_VALUES = CHART / "ci" / "all-values.yaml"
SERVICEMONITOR_CRD = Path(__file__).parent / "testdata" / "servicemonitor-crd.yaml"
PROMETHEUSRULE_CRD = Path(__file__).parent / "testdata" / "prometheusrule-crd.yaml"
SAMPLES = sorted((ROOT / "deploy" / "samples").glob("*.yaml"))


@pytest.fixture(scope="module")
def servicemonitor_crd(kube: ControlPlane) -> None:
    """Stand-ins for the Prometheus Operator's ServiceMonitor and PrometheusRule CRDs."""
    for path, name in (
        (SERVICEMONITOR_CRD, "servicemonitors.monitoring.coreos.com"),
        (PROMETHEUSRULE_CRD, "prometheusrules.monitoring.coreos.com"),
    ):
        apply(kube, path.read_text())
        kube.kubectl("wait", "--for=condition=Established", f"crd/{name}", "--timeout=60s")


@pytest.mark.parametrize("values", [None, ALL_VALUES], ids=["defaults", "all-values"])
def test_rendered_chart_is_accepted_by_the_api_server(
    kube: ControlPlane, helm: Path, servicemonitor_crd: None, values: Path | None
) -> None:
    """helm template | kubectl apply --dry-run=server: CRDs are checked first, then everything else."""
    namespace = f"chart-{uuid.uuid4().hex[:8]}"
    ensure_namespaces(kube, namespace, "team-a", "team-b")
    manifest = run_helm(
        helm, *template_args(namespace=namespace, values_files=[values] if values else [])
    ).stdout
    crds, rest = split_crds(manifest)
    out = apply(kube, crds, "--dry-run=server")
    assert "customresourcedefinition.apiextensions.k8s.io/ecrprivacypolicies.ecrprivacy.dev" in out
    out = apply(kube, rest, "--dry-run=server", "--validate=strict")
    assert "deployment.apps/ecr-privacy-operator serverside-applied (server dry run)" in out
    if values:
        assert "servicemonitor.monitoring.coreos.com/ecr-privacy-operator" in out
        assert "prometheusrule.monitoring.coreos.com/ecr-privacy-operator" in out
        assert "configmap/ecr-privacy-operator-dashboard" in out
        assert "networkpolicy.networking.k8s.io/ecr-privacy-operator" in out


@pytest.mark.parametrize("sample", SAMPLES, ids=[p.stem for p in SAMPLES])
def test_samples_are_accepted(kube: ControlPlane, crd: dict[str, Any], ns: str, sample: Path) -> None:
    proc = kube.kubectl(
        "apply", "-n", ns, "--dry-run=server", "--validate=strict", "-f", str(sample), check=False
    )
    assert proc.returncode == 0, proc.stderr


# -- RBAC by impersonation ---------------------------------------------------------------------------------
class Impersonated:
    """API clients that impersonate one ServiceAccount (headers ``Impersonate-User``)."""

    def __init__(self, kube: ControlPlane, user: str) -> None:
        self.user = user
        self.api = k8s_config.new_client_from_config(config_file=str(kube.admin_kubeconfig))
        self.api.set_default_header("Impersonate-User", user)

    def can(
        self, verb: str, resource: str, namespace: str = "", group: str = "", subresource: str = ""
    ) -> bool:
        review = k8s.AuthorizationV1Api(self.api).create_self_subject_access_review(
            {
                "apiVersion": "authorization.k8s.io/v1",
                "kind": "SelfSubjectAccessReview",
                "spec": {
                    "resourceAttributes": {
                        "verb": verb,
                        "resource": resource,
                        "group": group,
                        "namespace": namespace,
                        "subresource": subresource,
                    }
                },
            }
        )
        return bool(review.status.allowed)


def install_rbac(kube: ControlPlane, helm: Path, release_ns: str, *set_values: str) -> str:
    """Apply the chart (without its CRD: the ``crd`` fixture owns it) for real; return the SA's user name."""
    ensure_namespaces(kube, release_ns)
    manifest = run_helm(
        helm, *template_args(namespace=release_ns, set_values=["crds.enabled=false", *set_values])
    ).stdout
    apply(kube, manifest)
    return f"system:serviceaccount:{release_ns}:ecr-privacy-operator"


@pytest.fixture(scope="module")
def cluster_wide(
    kube: ControlPlane, helm: Path, crd: dict[str, Any], api_client: k8s.ApiClient
) -> Iterator[dict[str, Any]]:
    """The chart installed cluster-wide; Secrets readable in ``team`` (listed) and the release namespace
    (cluster workspaces); ``other`` is a namespace with a Secret the operator must not read."""
    suffix = uuid.uuid4().hex[:6]
    release_ns, team, other = f"op-{suffix}", f"team-{suffix}", f"other-{suffix}"
    ensure_namespaces(kube, team, other)
    user = install_rbac(kube, helm, release_ns, f"credentials.secretNamespaces={{{team}}}")
    core = k8s.CoreV1Api(api_client)
    for namespace in (team, other, release_ns):
        core.create_namespaced_secret(
            namespace,
            {
                "metadata": {"name": "guardrails-credentials"},
                "stringData": {"accessKey": "a", "secretKey": "s"},
            },
        )
    objects = k8s.CustomObjectsApi(api_client)
    for namespace in (team, other):
        objects.create_namespaced_custom_object(
            GROUP,
            VERSION,
            namespace,
            PLURAL,
            {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "EcrPrivacyPolicy",
                "metadata": {"name": "p"},
                "spec": {"workspaceRef": {"name": "w"}},
            },
        )
        objects.create_namespaced_custom_object(
            GROUP,
            VERSION,
            namespace,
            "guardrailsworkspaces",
            {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "GuardrailsWorkspace",
                "metadata": {"name": "w"},
                "spec": {
                    "url": "https://acme.cloud.turbot.com",
                    "credentialsSecretRef": {"name": "guardrails-credentials"},
                },
            },
        )
    as_operator = Impersonated(kube, user)
    try:
        yield {"as": as_operator, "release": release_ns, "team": team, "other": other}
    finally:
        as_operator.api.close()


def test_service_account_may_make_every_call_the_operator_makes(cluster_wide: dict[str, Any]) -> None:
    """Real calls, as the operator's ServiceAccount, in the shape Kopf and ecr_privacy_operator.kube make them."""
    sa: Impersonated = cluster_wide["as"]
    team, other, release = cluster_wide["team"], cluster_wide["other"], cluster_wide["release"]
    objects = k8s.CustomObjectsApi(sa.api)
    core = k8s.CoreV1Api(sa.api)
    # Kopf: CRD discovery and watch, then list + watch of the objects in every namespace
    crds = k8s.ApiextensionsV1Api(sa.api).list_custom_resource_definition()
    assert any(c.metadata.name == f"{PLURAL}.{GROUP}" for c in crds.items)
    listed = objects.list_cluster_custom_object(GROUP, VERSION, PLURAL)
    assert {(o["metadata"]["namespace"], o["metadata"]["name"]) for o in listed["items"]} >= {
        (team, "p"),
        (other, "p"),
    }
    watch = objects.list_cluster_custom_object(
        GROUP, VERSION, PLURAL, watch=True, timeout_seconds=1, _preload_content=False
    )
    # close before the connection goes back to the pool: the unread watch stream would otherwise be in the way
    # of the next request on it (http.client's ResponseNotReady)
    watch.close()
    watch.release_conn()
    # Kopf: its finalizer and annotations; the operator: status
    for namespace in (team, other):
        objects.patch_namespaced_custom_object(
            GROUP,
            VERSION,
            namespace,
            PLURAL,
            "p",
            {
                "metadata": {
                    "finalizers": ["ecrprivacy.dev/finalizer"],
                    "annotations": {"ecrprivacy.dev/test": "x"},
                }
            },
        )
        objects.patch_namespaced_custom_object_status(
            GROUP, VERSION, namespace, PLURAL, "p", {"status": {"observedGeneration": 1}}
        )
        objects.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "p")
        objects.patch_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, "p", {"metadata": {"finalizers": None}}
        )
        # Kopf's events (core v1)
        core.create_namespaced_event(
            namespace,
            {
                "metadata": {"generateName": "p."},
                "involvedObject": {
                    "apiVersion": f"{GROUP}/{VERSION}",
                    "kind": "EcrPrivacyPolicy",
                    "name": "p",
                    "namespace": namespace,
                },
                "reason": "Synced",
                "message": "test",
                "type": "Normal",
                "source": {"component": "ecr-privacy-operator"},
            },
        )
    # workspaces: both kinds watched, their status written, Kopf's finalizer on them
    assert objects.list_cluster_custom_object(GROUP, VERSION, "guardrailsworkspaces")["items"]
    objects.list_cluster_custom_object(GROUP, VERSION, "clusterguardrailsworkspaces")
    objects.patch_namespaced_custom_object_status(
        GROUP, VERSION, team, "guardrailsworkspaces", "w", {"status": {"policies": 1}}
    )
    k8s.CoreV1Api(sa.api).list_namespace()  # the namespace labels a cluster workspace selects on
    # credentials: the listed namespace and the release namespace (cluster workspaces)
    # Kopf's peering: the operator creates its ClusterKopfPeering when missing and reads it at start-up; Kopf
    # lists and watches it and merge-patches its keep-alive into it (no status subresource)
    peering = ("kopf.dev", "v1", "clusterkopfpeerings")
    name = f"peering-{team}"
    objects.create_cluster_custom_object(
        *peering, {"apiVersion": "kopf.dev/v1", "kind": "ClusterKopfPeering", "metadata": {"name": name}}
    )
    objects.get_cluster_custom_object(*peering, name)
    assert name in {p["metadata"]["name"] for p in objects.list_cluster_custom_object(*peering)["items"]}
    objects.patch_cluster_custom_object(
        *peering, name, {"status": {"op@host": {"priority": 1, "lifetime": 30}}}
    )
    # credentials: the listed namespace and the release namespace (default Secret)
    assert core.read_namespaced_secret("guardrails-credentials", team).data["accessKey"]
    assert core.read_namespaced_secret("guardrails-credentials", release).data["accessKey"]
    # in-use protection: the workspace's finalizer on its Secret and on the credentials RoleBinding
    finalizer = {"metadata": {"finalizers": ["guardrailsworkspace.ecrprivacy.dev/w"]}}
    core.patch_namespaced_secret("guardrails-credentials", team, finalizer)
    core.patch_namespaced_secret("guardrails-credentials", team, {"metadata": {"finalizers": None}})
    rbac = k8s.RbacAuthorizationV1Api(sa.api)
    binding = "ecr-privacy-operator-credentials"
    rbac.patch_namespaced_role_binding(binding, team, finalizer)
    rbac.patch_namespaced_role_binding(binding, team, {"metadata": {"finalizers": None}})
    with pytest.raises(k8s.ApiException) as other_binding:  # only the binding of that one name
        rbac.read_namespaced_role_binding("tenant-admin", team)
    assert other_binding.value.status == 403
    # ... but not a namespace that was not listed
    with pytest.raises(k8s.ApiException) as denied:
        core.read_namespaced_secret("guardrails-credentials", other)
    assert denied.value.status == 403


@pytest.mark.parametrize(
    ("verb", "resource", "group", "where", "subresource"),
    [
        ("get", "secrets", "", "other", ""),
        ("get", "secrets", "", "", ""),  # cluster-wide
        ("list", "secrets", "", "team", ""),
        ("watch", "secrets", "", "team", ""),
        ("create", "secrets", "", "team", ""),
        ("create", "ecrprivacypolicies", GROUP, "team", ""),
        ("update", "ecrprivacypolicies", GROUP, "team", ""),
        ("delete", "ecrprivacypolicies", GROUP, "team", ""),
        ("update", "ecrprivacypolicies", GROUP, "team", "status"),
        ("create", "customresourcedefinitions", "apiextensions.k8s.io", "", ""),
        ("patch", "customresourcedefinitions", "apiextensions.k8s.io", "", ""),
        ("list", "pods", "", "team", ""),
        ("list", "configmaps", "", "team", ""),
        ("create", "deployments", "apps", "team", ""),
        ("create", "leases", "coordination.k8s.io", "team", ""),
        ("create", "namespaces", "", "", ""),
        ("delete", "namespaces", "", "", ""),
        ("delete", "clusterkopfpeerings", "kopf.dev", "", ""),
        ("update", "clusterkopfpeerings", "kopf.dev", "", ""),
        ("list", "kopfpeerings", "kopf.dev", "team", ""),
        ("list", "servicemonitors", "monitoring.coreos.com", "team", ""),
        ("delete", "events", "", "team", ""),
    ],
)
def test_service_account_is_denied_what_it_does_not_need(
    cluster_wide: dict[str, Any], verb: str, resource: str, group: str, where: str, subresource: str
) -> None:
    sa: Impersonated = cluster_wide["as"]
    namespace = cluster_wide[where] if where else ""
    assert not sa.can(verb, resource, namespace, group, subresource), (
        f"{verb} {resource} in {namespace or 'cluster'}"
    )


def test_service_account_allowed_matrix(cluster_wide: dict[str, Any]) -> None:
    """The same rights as SelfSubjectAccessReviews (what `kubectl auth can-i --as=...` asks)."""
    sa: Impersonated = cluster_wide["as"]
    team, other = cluster_wide["team"], cluster_wide["other"]
    for verb in ("get", "list", "watch", "patch", "create"):
        assert sa.can(verb, "clusterkopfpeerings", "", "kopf.dev")
    for verb in ("list", "watch"):
        assert sa.can(verb, "ecrprivacypolicies", "", GROUP)
        assert sa.can(verb, "customresourcedefinitions", "", "apiextensions.k8s.io")
    for namespace in (team, other):
        assert sa.can("patch", "ecrprivacypolicies", namespace, GROUP)
        assert sa.can("patch", "ecrprivacypolicies", namespace, GROUP, "status")
        assert sa.can("create", "events", namespace)
        assert sa.can("create", "events", namespace, "events.k8s.io")
    assert sa.can("get", "secrets", team)


def test_watch_namespaces_narrow_the_rights(kube: ControlPlane, helm: Path, crd: dict[str, Any]) -> None:
    """With watchNamespaces the object rights and Secret reads exist in the listed namespaces (and, for Secrets,
    the release namespace) only."""
    suffix = uuid.uuid4().hex[:6]
    watched, unwatched = f"w-{suffix}", f"u-{suffix}"
    ensure_namespaces(kube, watched, unwatched)
    sa = Impersonated(kube, install_rbac(kube, helm, f"op-{suffix}", f"watchNamespaces={{{watched}}}"))
    try:
        assert sa.can("list", "ecrprivacypolicies", watched, GROUP)
        assert sa.can("patch", "ecrprivacypolicies", watched, GROUP, "status")
        assert sa.can("create", "events", watched)
        assert sa.can("get", "secrets", watched), "secretNamespaces defaults to watchNamespaces"
        assert not sa.can("list", "ecrprivacypolicies", unwatched, GROUP)
        assert not sa.can("list", "ecrprivacypolicies", "", GROUP), "no cluster-wide list"
        assert not sa.can("create", "events", unwatched)
        assert not sa.can("get", "secrets", unwatched)
        assert sa.can("get", "secrets", f"op-{suffix}"), (
            "cluster workspace Secrets live in the release namespace"
        )
        assert sa.can("watch", "customresourcedefinitions", "", "apiextensions.k8s.io")
        assert sa.can("watch", "namespaces", ""), "Kopf watches namespaces also for exact names"
    finally:
        sa.api.close()
