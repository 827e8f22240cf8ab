"""The chart's ValidatingAdmissionPolicy against the real local kube-apiserver: the operator's ServiceAccount,
which RBAC lets patch the Secrets it was granted, may add and remove only its own finalizers on them; any other
change it tries is denied at admission, while everyone else is unaffected."""

from __future__ import annotations

import base64
import itertools
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from tests.chart.conftest import run_helm, template_args
from tests.controlplane.harness import ControlPlane
from tests.fixtures.kube import wait_for
from tests.fixtures.manifests import apply, ensure_namespaces

POLICY = "admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy"
OWN = "guardrailsworkspace.ecrprivacy.dev/w"


@pytest.fixture
def installed(kube: ControlPlane, helm: Path, crd: dict[str, Any]) -> Iterator[tuple[k8s.CoreV1Api, str]]:
    """The chart's RBAC and admission policy applied for real (on a cluster that serves the policy API);
    the operator's Secret access granted in ``team``; an API client that impersonates the operator."""
    suffix = uuid.uuid4().hex[:6]
    release_ns, team = f"op-{suffix}", f"team-{suffix}"
    ensure_namespaces(kube, release_ns, team)
    args = template_args(
        namespace=release_ns, set_values=["crds.enabled=false", f"credentials.secretNamespaces={{{team}}}"]
    )
    manifest = run_helm(helm, *args, "--api-versions", POLICY).stdout
    assert "kind: ValidatingAdmissionPolicy\n" in manifest
    apply(kube, manifest)
    api = k8s_config.new_client_from_config(config_file=str(kube.admin_kubeconfig))
    api.set_default_header("Impersonate-User", f"system:serviceaccount:{release_ns}:ecr-privacy-operator")
    try:
        yield k8s.CoreV1Api(api), team
    finally:
        api.close()
        for kind in ("validatingadmissionpolicybinding", "validatingadmissionpolicy"):
            kube.kubectl("delete", kind, "ecr-privacy-operator-finalizers-only", "--ignore-not-found")


def denied(call: Any) -> str | None:
    """The admission message if ``call`` was refused, else None (it went through)."""
    try:
        call()
    except k8s.ApiException as exc:
        if exc.status not in (403, 422):
            raise
        return str(exc.body)
    return None


def test_the_operator_may_change_only_its_own_finalizers_on_secrets(
    installed: tuple[k8s.CoreV1Api, str], api_client: k8s.ApiClient
) -> None:
    as_operator, team = installed
    admin = k8s.CoreV1Api(api_client)
    admin.create_namespaced_secret(
        team,
        {
            "metadata": {"name": "keys", "finalizers": ["example.com/someone-elses"]},
            "stringData": {"accessKey": "a", "secretKey": "s"},
        },
    )

    def patch(body: dict[str, Any]) -> Any:
        return lambda: as_operator.patch_namespaced_secret("keys", team, body)

    def set_finalizers(
        values: list[str],
    ) -> Any:  # a JSON patch, as the operator's merge patch replaces the list
        return patch([{"op": "replace", "path": "/metadata/finalizers", "value": values}])  # type: ignore[arg-type]

    def finalizers() -> list[str]:
        return list(admin.read_namespaced_secret("keys", team).metadata.finalizers or [])

    # the policy is live once a foreign finalizer is refused (the API server loads policies asynchronously)
    names = (f"example.com/try-{n}" for n in itertools.count())
    message = wait_for(
        lambda: denied(set_finalizers([*finalizers(), next(names)])),
        timeout=30,
        what="the admission policy in force",
    )
    assert "only its own finalizers" in message
    # a JSON patch: a strategic merge patch merges finalizer lists, so it kept the probes that went through
    # before the policy was in force (and the operator's replace below then removed them: denied)
    only_theirs = [{"op": "replace", "path": "/metadata/finalizers", "value": ["example.com/someone-elses"]}]
    admin.patch_namespaced_secret("keys", team, only_theirs)
    assert finalizers() == ["example.com/someone-elses"]

    # its own finalizer: added and removed
    assert denied(set_finalizers(["example.com/someone-elses", OWN])) is None
    assert finalizers() == ["example.com/someone-elses", OWN]
    assert denied(set_finalizers(["example.com/someone-elses"])) is None
    assert finalizers() == ["example.com/someone-elses"]
    # another's finalizer may not go, and nothing else may change
    assert "only its own finalizers" in (denied(set_finalizers([])) or "")
    new_key = base64.b64encode(b"stolen").decode()
    assert "data" in (denied(patch({"data": {"secretKey": new_key}})) or "")
    assert "labels" in (denied(patch({"metadata": {"labels": {"x": "y"}}})) or "")
    assert "labels" in (denied(patch({"metadata": {"annotations": {"x": "y"}}})) or "")
    secret = admin.read_namespaced_secret("keys", team)
    assert base64.b64decode(secret.data["secretKey"]) == b"s"
    assert not secret.metadata.labels
    # everyone else is unaffected: the Secret's owner rotates the key
    admin.patch_namespaced_secret("keys", team, {"data": {"secretKey": new_key}})
    admin.patch_namespaced_secret("keys", team, {"metadata": {"finalizers": None}})
    admin.delete_namespaced_secret("keys", team)
