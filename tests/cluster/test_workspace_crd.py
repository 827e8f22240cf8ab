"""The workspace CRDs at admission, on the real API server: defaults, required fields and the CEL rules."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from kubernetes import client as k8s

from tests.controlplane.harness import ControlPlane
from tests.fixtures.kube import GROUP, VERSION

CLUSTER_PLURAL, PLURAL = "clusterguardrailsworkspaces", "guardrailsworkspaces"
URL = "https://acme.cloud.turbot.com"
PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def cluster_workspace(name: str | None = None, **spec: Any) -> dict[str, Any]:
    base = {
        "url": URL,
        "credentialsSecretRef": {"name": "org-keys"},
        "allowedNamespaces": {"names": ["team-a"]},
        "allowedTargets": ["sandbox"],
    }
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ClusterGuardrailsWorkspace",
        "metadata": {"name": name or f"org-{uuid.uuid4().hex[:8]}"},
        "spec": {**base, **spec},
    }


def refused(create: Any) -> str:
    with pytest.raises(k8s.ApiException) as raised:
        create()
    assert raised.value.status == 422, raised.value.body
    message: str = json.loads(raised.value.body)["message"]
    return message


def test_cluster_workspace_defaults(crd: dict[str, Any], custom_objects: k8s.CustomObjectsApi) -> None:
    body = cluster_workspace()
    created = custom_objects.create_cluster_custom_object(GROUP, VERSION, CLUSTER_PLURAL, body)
    spec = created["spec"]
    assert spec["allowedEnforcement"] == ["Check", "Enforce", "Skip"]
    assert spec["allowedParents"] == ["tmod:@turbot/turbot#/"]
    assert spec["allowedPolicyTypes"] == []
    assert spec["allowAdoption"] is False
    custom_objects.delete_cluster_custom_object(GROUP, VERSION, CLUSTER_PLURAL, body["metadata"]["name"])


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ({"allowedNamespaces": {}}, "allowedNamespaces needs names, a selector, or both"),
        ({"allowedTargets": []}, "spec.allowedTargets"),
        ({"allowedEnforcement": ["Block"]}, "spec.allowedEnforcement[0]"),
        ({"url": "javascript:alert(1)"}, "spec.url"),
        ({"url": "https://acme.cloud.turbot.com:99999"}, "spec.url"),  # admitted once: OverflowError
        ({"url": "https://acme.cloud.turbot.com:0"}, "spec.url"),
        ({"url": "https://acme..cloud.turbot.com"}, "spec.url"),
        ({"url": "https://-acme.cloud.turbot.com"}, "spec.url"),
        ({"caBundle": "not a certificate"}, "caBundle must hold PEM certificates"),
        (
            {"allowedNamespaces": {"selector": {"matchExpressions": [{"key": "a", "operator": "In"}]}}},
            "In and NotIn need values",
        ),
    ],
)
def test_cluster_workspace_rejections(
    crd: dict[str, Any], custom_objects: k8s.CustomObjectsApi, spec: dict[str, Any], words: str
) -> None:
    body = cluster_workspace(**spec)
    message = refused(
        lambda: custom_objects.create_cluster_custom_object(GROUP, VERSION, CLUSTER_PLURAL, body)
    )
    assert words in message


def test_cluster_workspace_requires_its_scope(
    crd: dict[str, Any], custom_objects: k8s.CustomObjectsApi
) -> None:
    body = cluster_workspace()
    del body["spec"]["allowedNamespaces"], body["spec"]["allowedTargets"]
    message = refused(
        lambda: custom_objects.create_cluster_custom_object(GROUP, VERSION, CLUSTER_PLURAL, body)
    )
    assert "spec.allowedNamespaces: Required value" in message
    assert "spec.allowedTargets: Required value" in message


def test_names_longer_than_a_finalizer_allows_are_refused(
    crd: dict[str, Any], custom_objects: k8s.CustomObjectsApi, ns: str
) -> None:
    long_name = "w" * 64
    message = refused(
        lambda: custom_objects.create_cluster_custom_object(
            GROUP, VERSION, CLUSTER_PLURAL, cluster_workspace(long_name)
        )
    )
    assert "at most 63 characters" in message
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "GuardrailsWorkspace",
        "metadata": {"name": long_name},
        "spec": {"url": URL, "credentialsSecretRef": {"name": "k"}},
    }
    assert "at most 63 characters" in refused(
        lambda: custom_objects.create_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, body)
    )


def test_namespaced_workspace_accepts_a_ca_bundle_and_shows_columns(
    kube: ControlPlane, crd: dict[str, Any], custom_objects: k8s.CustomObjectsApi, ns: str
) -> None:
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "GuardrailsWorkspace",
        "metadata": {"name": "mine"},
        "spec": {"url": URL, "credentialsSecretRef": {"name": "k"}, "caBundle": PEM},
    }
    custom_objects.create_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, body)
    out = kube.kubectl("get", "gws", "-n", ns).stdout.splitlines()
    assert out[0].split() == ["NAME", "READY", "URL", "POLICIES", "AGE"]
    assert out[1].split()[:2] == ["mine", URL]  # no status yet: Ready and Policies are blank


@pytest.mark.parametrize(
    ("prefix", "admitted"),
    [
        ("acme/{namespace}/", True),
        ("{namespace}:", True),
        ("shared:", True),
        ("acme/{namespace}", False),  # namespace "team" would reach the AKAs of "team-b"
        ("acme/{namespace}-x", False),
    ],
)
def test_aka_prefixes_end_the_namespace_with_a_separator(
    crd: dict[str, Any], custom_objects: k8s.CustomObjectsApi, prefix: str, admitted: bool
) -> None:
    body = cluster_workspace(allowedAkaPrefixes=[prefix])
    if not admitted:
        message = refused(
            lambda: custom_objects.create_cluster_custom_object(GROUP, VERSION, CLUSTER_PLURAL, body)
        )
        assert "{namespace} must be followed by a character no namespace name holds" in message
        return
    created = custom_objects.create_cluster_custom_object(GROUP, VERSION, CLUSTER_PLURAL, body)
    assert created["spec"]["allowAdoptionFromOtherClusters"] is False
    custom_objects.delete_cluster_custom_object(GROUP, VERSION, CLUSTER_PLURAL, body["metadata"]["name"])
