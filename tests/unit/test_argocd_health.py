"""The Argo CD health check (deploy/gitops/argocd/health.lua) run by a Lua 5.1 interpreter, as Argo CD's
gopher-lua runs it, against status samples the operator writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

lua51 = pytest.importorskip("lupa.lua51", reason="the test extra installs lupa")

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = (ROOT / "deploy" / "gitops" / "argocd" / "health.lua").read_text()
T = "2026-11-27T10:00:00Z"


def cond(type_: str, status: str, reason: str = "", message: str = "", generation: int = 2) -> dict[str, Any]:
    return {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "observedGeneration": generation,
        "lastTransitionTime": T,
    }


def policy(status: dict[str, Any] | None = None, generation: int = 2, **spec: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "ecrprivacy.dev/v1alpha1",
        "kind": "EcrPrivacyPolicy",
        "metadata": {"name": "p", "namespace": "n", "generation": generation},
        "spec": {"enforcement": "Check", "suspend": False, **spec},
    }
    if status is not None:
        obj["status"] = status
    return obj


def health(obj: dict[str, Any]) -> tuple[str, str]:
    """Run the script the way Argo CD does: the object as the global ``obj``, the script's return value."""
    lua = lua51.LuaRuntime(unpack_returned_tuples=True)
    lua.globals().obj = lua.table_from(obj, recursive=True)
    result = lua.execute(SCRIPT)
    return str(result["status"]), str(result["message"])


READY = [
    cond("Ready", "True", "ReconcileSucceeded", "Guardrails matches the spec"),
    cond("Synced", "True", "Synced", "Guardrails matches the spec"),
    cond("Reconciling", "False", "ReconcileSucceeded"),
    cond("Stalled", "False", "ReconcileSucceeded"),
    cond("Drifted", "False", "NoDrift"),
]
COMPLIANCE = {
    "controlType": "x",
    "total": 3,
    "ok": 1,
    "alarm": 2,
    "error": 0,
    "invalid": 0,
    "skipped": 0,
    "tbd": 0,
}


def test_healthy_when_ready_for_the_current_generation() -> None:
    status, message = health(policy({"observedGeneration": 2, "conditions": READY, "compliance": COMPLIANCE}))
    assert status == "Healthy"
    assert message == "ReconcileSucceeded: Guardrails matches the spec (2 public repositories in alarm, 1 ok)"


@pytest.mark.parametrize(
    ("name", "obj"),
    [
        ("no status", policy()),
        ("empty conditions", policy({"conditions": []})),
        ("generation behind", policy({"observedGeneration": 1, "conditions": READY}, generation=2)),
        (
            "Ready condition for an older generation",
            policy({"conditions": [cond("Ready", "True", "ReconcileSucceeded", generation=1)]}),
        ),
        (
            "first pass in progress",
            policy(
                {
                    "observedGeneration": 2,
                    "conditions": [
                        cond("Ready", "False", "Progressing", "creating the policy pack"),
                        cond("Reconciling", "True", "Progressing", "creating the policy pack"),
                        cond("Stalled", "False", "Progressing"),
                    ],
                }
            ),
        ),
        ("only Reconciling", policy({"conditions": [cond("Reconciling", "True", "Progressing", "working")]})),
        ("Ready Unknown", policy({"conditions": [cond("Ready", "Unknown", "Progressing")]})),
        (
            "deleting",
            policy(
                {"conditions": [cond("Ready", "False", "Deleting"), cond("Reconciling", "True", "Deleting")]}
            ),
        ),
    ],
)
def test_progressing(name: str, obj: dict[str, Any]) -> None:
    assert health(obj)[0] == "Progressing", name


@pytest.mark.parametrize(
    ("name", "obj", "expected_message"),
    [
        (
            "stalled on bad credentials",
            policy(
                {
                    "observedGeneration": 2,
                    "conditions": [
                        cond(
                            "Ready",
                            "False",
                            "CredentialsNotFound",
                            "Secret n/guardrails-credentials not found",
                        ),
                        cond("Reconciling", "False", "CredentialsNotFound"),
                        cond(
                            "Stalled",
                            "True",
                            "CredentialsNotFound",
                            "Secret n/guardrails-credentials not found",
                        ),
                    ],
                }
            ),
            "CredentialsNotFound: Secret n/guardrails-credentials not found",
        ),
        (
            "retrying a Guardrails outage",
            policy(
                {
                    "observedGeneration": 2,
                    "conditions": [
                        cond("Ready", "False", "GuardrailsUnavailable", "503 from Guardrails"),
                        cond("Reconciling", "True", "GuardrailsUnavailable", "503 from Guardrails"),
                        cond("Stalled", "False", "GuardrailsUnavailable"),
                    ],
                }
            ),
            "GuardrailsUnavailable: 503 from Guardrails",
        ),
        (
            "drift reported, not corrected",
            policy(
                {
                    "observedGeneration": 2,
                    "conditions": [
                        cond("Ready", "False", "DriftDetected", "1 difference(s) left uncorrected"),
                        cond("Drifted", "True", "DriftDetected"),
                        cond("Stalled", "False", "DriftDetected"),
                    ],
                }
            ),
            "DriftDetected: 1 difference(s) left uncorrected",
        ),
    ],
)
def test_degraded(name: str, obj: dict[str, Any], expected_message: str) -> None:
    assert health(obj) == ("Degraded", expected_message), name


def test_suspended_by_spec_even_with_an_old_ready_status() -> None:
    assert health(policy({"observedGeneration": 2, "conditions": READY}, suspend=True))[0] == "Suspended"


def test_suspended_by_condition() -> None:
    status = {"observedGeneration": 2, "conditions": [cond("Ready", "False", "Suspended", "suspended")]}
    assert health(policy(status))[0] == "Suspended"


def test_argocd_patch_embeds_the_script_verbatim() -> None:
    patch = yaml.safe_load((ROOT / "deploy" / "gitops" / "argocd" / "argocd-cm-patch.yaml").read_text())
    assert patch["data"]["resource.customizations.health.ecrprivacy.dev_EcrPrivacyPolicy"] == SCRIPT


def test_argocd_patch_covers_the_workspace_kinds_with_the_same_script() -> None:
    patch = yaml.safe_load((ROOT / "deploy" / "gitops" / "argocd" / "argocd-cm-patch.yaml").read_text())
    for kind in ("GuardrailsWorkspace", "ClusterGuardrailsWorkspace"):
        assert patch["data"][f"resource.customizations.health.ecrprivacy.dev_{kind}"] == SCRIPT


def workspace(status: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "ecrprivacy.dev/v1alpha1",
        "kind": "ClusterGuardrailsWorkspace",
        "metadata": {"name": "org", "generation": 2},
        "spec": {"url": "https://acme.cloud.turbot.com", "credentialsSecretRef": {"name": "k"}},
        "status": status,
    }


@pytest.mark.parametrize(
    ("conditions", "expected"),
    [
        (
            [cond("Ready", "True", "CredentialsValid", "ok"), cond("Stalled", "False", "CredentialsValid")],
            "Healthy",
        ),
        (
            [cond("Ready", "False", "HostNotAllowed", "no"), cond("Stalled", "True", "HostNotAllowed", "no")],
            "Degraded",
        ),
        (
            [cond("Ready", "False", "InUse", "waits"), cond("Reconciling", "True", "InUse", "waits")],
            "Progressing",
        ),
    ],
)
def test_workspace_health(conditions: list[dict[str, Any]], expected: str) -> None:
    status, _ = health(workspace({"observedGeneration": 2, "conditions": conditions, "policies": 3}))
    assert status == expected


# ---- the app-of-apps: the Application health check and the sync waves -----------------------------------
ARGOCD = ROOT / "deploy" / "gitops" / "argocd"


def application_health(status: dict[str, Any] | None) -> tuple[str, str]:
    lua = lua51.LuaRuntime(unpack_returned_tuples=True)
    app: dict[str, Any] = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "a"},
    }
    if status is not None:
        app["status"] = status
    lua.globals().obj = lua.table_from(app, recursive=True)
    result = lua.execute((ARGOCD / "application-health.lua").read_text())
    return str(result["status"]), str(result["message"])


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (None, ("Progressing", "")),
        ({}, ("Progressing", "")),
        ({"sync": {"status": "Synced"}}, ("Progressing", "")),
        ({"health": {"status": "Healthy"}}, ("Healthy", "")),
        ({"health": {"status": "Degraded", "message": "Deployment has not progressed"}},
         ("Degraded", "Deployment has not progressed")),
        ({"health": {"status": "Missing"}}, ("Missing", "")),
    ],
)  # fmt: skip
def test_application_health_is_the_childs_own(
    status: dict[str, Any] | None, expected: tuple[str, str]
) -> None:
    assert application_health(status) == expected


def test_app_of_apps_orders_the_operator_before_the_policies() -> None:
    parent = yaml.safe_load((ARGOCD / "app-of-apps.yaml").read_text())
    assert parent["spec"]["source"]["path"] == "deploy/gitops/argocd"
    assert parent["spec"]["source"]["directory"]["include"] == "application.yaml"
    children = {
        a["metadata"]["name"]: a for a in yaml.safe_load_all((ARGOCD / "application.yaml").read_text())
    }
    wave = {
        name: int(a["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"])
        for name, a in children.items()
    }
    assert wave["ecr-privacy-operator"] < wave["ecr-privacy-policies"]
    assert children["ecr-privacy-operator"]["spec"]["source"]["path"] == "deploy/helm/ecr-privacy-operator"
    patch = yaml.safe_load((ARGOCD / "argocd-cm-patch.yaml").read_text())
    assert "resource.customizations.health.argoproj.io_Application" in patch["data"], (
        "without the Application health check the parent does not wait for wave 0 to be Healthy"
    )
