"""The CRD as the real API server sees it: Established, defaults applied, bad objects refused with its message."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s

from tests.controlplane.harness import ControlPlane
from tests.fixtures.kube import GROUP, PLURAL, VERSION


def policy(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "EcrPrivacyPolicy",
        "metadata": {"name": name},
        "spec": {"workspaceRef": {"name": "guardrails"}, **spec},
    }


def create(objects: k8s.CustomObjectsApi, ns: str, body: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = objects.create_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, body)
    return result


def rejection(objects: k8s.CustomObjectsApi, ns: str, body: dict[str, Any]) -> str:
    with pytest.raises(k8s.ApiException) as refused:
        create(objects, ns, body)
    assert refused.value.status == 422, refused.value.body
    message: str = json.loads(refused.value.body)["message"]
    return message


def test_crd_is_established_with_names(crd: dict[str, Any], api_client: k8s.ApiClient) -> None:
    got = k8s.ApiextensionsV1Api(api_client).read_custom_resource_definition(f"{PLURAL}.{GROUP}")
    assert got.status.accepted_names.kind == "EcrPrivacyPolicy"
    assert "epp" in got.status.accepted_names.short_names
    assert "guardrails" in got.status.accepted_names.categories


def test_valid_object_is_accepted_and_defaulted(
    crd: dict[str, Any], custom_objects: k8s.CustomObjectsApi, ns: str
) -> None:
    create(custom_objects, ns, policy("minimal", attachments=[{"resource": "arn:aws:::123456789012"}]))
    got = custom_objects.get_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, "minimal")
    spec = got["spec"]
    assert spec["enforcement"] == "Check"
    assert spec["usage"] == "NotApproved"
    assert spec["policyPack"]["title"] == "Enforce AWS ECR Repositories Are Private"
    assert spec["policyPack"]["akas"] == ["aws_ecr_enforce_private_repositories"]
    assert spec["resyncInterval"] == "30m"
    assert spec["attachments"] == [{"resource": "arn:aws:::123456789012"}]


def test_wrong_enum_is_rejected(crd: dict[str, Any], custom_objects: k8s.CustomObjectsApi, ns: str) -> None:
    message = rejection(custom_objects, ns, policy("bad-enum", enforcement="Block"))
    assert "spec.enforcement" in message
    assert 'supported values: "Check", "Enforce", "Skip"' in message


def test_missing_required_field_is_rejected(
    crd: dict[str, Any], custom_objects: k8s.CustomObjectsApi, ns: str
) -> None:
    message = rejection(custom_objects, ns, policy("no-resource", attachments=[{}]))
    assert "spec.attachments[0].resource: Required value" in message


def test_cel_rules_are_enforced(crd: dict[str, Any], custom_objects: k8s.CustomObjectsApi, ns: str) -> None:
    duplicate = [{"resource": "arn:aws:::123456789012"}, {"resource": "arn:aws:::123456789012"}]
    assert "unique" in rejection(custom_objects, ns, policy("dup", attachments=duplicate)).lower()
    assert "resyncInterval" in rejection(custom_objects, ns, policy("fast", resyncInterval="1s"))
    alone = {"akas": ["x"], "adoptFromOtherClusters": True}
    assert "adoptFromOtherClusters requires adopt" in rejection(
        custom_objects, ns, policy("cross", policyPack=alone)
    )


def test_parent_cannot_change_after_creation(
    crd: dict[str, Any], custom_objects: k8s.CustomObjectsApi, ns: str
) -> None:
    create(custom_objects, ns, policy("fixed-parent"))
    with pytest.raises(k8s.ApiException) as refused:
        custom_objects.patch_namespaced_custom_object(
            GROUP, VERSION, ns, PLURAL, "fixed-parent", {"spec": {"policyPack": {"parent": "sandbox"}}}
        )
    assert refused.value.status == 422
    assert "immutable" in json.loads(refused.value.body)["message"].lower()


def test_printer_columns_through_kubectl(kube: ControlPlane, crd: dict[str, Any], ns: str) -> None:
    kube.kubectl(
        "apply", "-n", ns, "-f", "-", input_text=yaml.safe_dump(policy("shown", enforcement="Enforce"))
    )
    out = kube.kubectl("get", "epp", "-n", ns).stdout.splitlines()
    assert out[0].split() == ["NAME", "READY", "ENFORCEMENT", "PACK", "DRIFT", "ALARMS", "AGE"]
    assert out[1].split()[:2] == ["shown", "Enforce"]  # no status yet: the status columns are blank


def test_a_policy_must_name_its_workspace_and_cannot_move(
    crd: dict[str, Any], custom_objects: k8s.CustomObjectsApi, ns: str
) -> None:
    body = policy("no-workspace")
    del body["spec"]["workspaceRef"]
    assert "spec.workspaceRef: Required value" in rejection(custom_objects, ns, body)
    body["spec"] = {}
    assert "spec.workspaceRef: Required value" in rejection(custom_objects, ns, body)
    created = create(custom_objects, ns, policy("named"))
    assert created["spec"]["workspaceRef"] == {"kind": "GuardrailsWorkspace", "name": "guardrails"}
    for change in ({"name": "other"}, {"kind": "ClusterGuardrailsWorkspace"}):
        with pytest.raises(k8s.ApiException) as refused:
            custom_objects.patch_namespaced_custom_object(
                GROUP, VERSION, ns, PLURAL, "named", {"spec": {"workspaceRef": change}}
            )
        assert "workspaceRef is immutable" in json.loads(refused.value.body)["message"]
