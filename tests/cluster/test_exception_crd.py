"""The EcrPrivacyException CRD at admission, on the real API server: defaults, required fields, the CEL rules,
and what the API server cannot tell (a past expiry: the operator refuses it)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from kubernetes import client as k8s

from tests.fixtures.kube import GROUP, VERSION

PLURAL = "ecrprivacyexceptions"
REPO = "arn:aws:ecr-public::123456789012:repository/base-images"


def exception(**spec: Any) -> dict[str, Any]:
    base = {
        "policyRef": {"name": "ecr-private"},
        "repositories": [REPO],
        "reason": "Publishes our base images (SEC-1234)",
        "expires": "2027-03-01T00:00:00Z",
    }
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "EcrPrivacyException",
        "metadata": {"name": f"x-{uuid.uuid4().hex[:8]}", "namespace": "default"},
        "spec": {**base, **spec},
    }


def refused(objects: k8s.CustomObjectsApi, body: dict[str, Any]) -> str:
    with pytest.raises(k8s.ApiException) as raised:
        objects.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, body)
    assert raised.value.status == 422, raised.value.body
    message: str = json.loads(raised.value.body)["message"]
    return message


def test_defaults_and_printer_columns(crd: dict[str, Any], custom_objects: k8s.CustomObjectsApi) -> None:
    body = exception()
    created = custom_objects.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, body)
    assert created["spec"]["deletionPolicy"] == "Delete"
    version = crd["ecrprivacyexceptions.ecrprivacy.dev"]["spec"]["versions"][0]
    columns = [c["name"] for c in version["additionalPrinterColumns"]]
    assert columns[:4] == ["Policy", "Repositories", "Expires", "Ready"]
    assert crd["ecrprivacyexceptions.ecrprivacy.dev"]["spec"]["names"]["shortNames"] == ["epx"]
    custom_objects.delete_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, body["metadata"]["name"]
    )


def without(field: str) -> dict[str, Any]:
    body = exception()
    del body["spec"][field]
    return body


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (without("expires"), "spec.expires: Required value"),
        (without("reason"), "spec.reason: Required value"),
        (exception(reason="   "), "reason must not be blank"),
        (exception(reason="line\nbreak"), "reason must not contain control characters"),
        (exception(repositories=[]), "spec.repositories"),
        (exception(repositories=[REPO, REPO]), "Duplicate value"),
        (exception(repositories=["arn:aws:s3:::bucket"]), "spec.repositories[0]"),
        (exception(repositories=["arn:aws:ecr-public::1:repository/x'}"]), "spec.repositories[0]"),
        (exception(expires="next tuesday"), "spec.expires"),
        (exception(deletionPolicy="Keep"), "spec.deletionPolicy"),
    ],
)
def test_admission_refuses(
    crd: dict[str, Any], custom_objects: k8s.CustomObjectsApi, body: dict[str, Any], words: str
) -> None:
    assert words in refused(custom_objects, body)


def test_policy_ref_is_immutable(crd: dict[str, Any], custom_objects: k8s.CustomObjectsApi) -> None:
    body = exception()
    name = body["metadata"]["name"]
    custom_objects.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, body)
    with pytest.raises(k8s.ApiException) as raised:
        custom_objects.patch_namespaced_custom_object(
            GROUP, VERSION, "default", PLURAL, name, {"spec": {"policyRef": {"name": "other"}}}
        )
    assert "policyRef is immutable" in json.loads(raised.value.body)["message"]
    custom_objects.delete_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, name)
