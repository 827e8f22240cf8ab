"""Kubernetes API paths are built from validated, quoted segments: a name that is not a Kubernetes name never
reaches a request (no ``..``, ``/``, query or fragment can redirect a Secret read or a finalizer patch)."""

from __future__ import annotations

import pytest

from ecr_privacy_operator.kube import InvalidNameError, api_path, role_binding_path, secret_path

pytestmark = pytest.mark.unit


def test_paths_of_valid_names() -> None:
    assert secret_path("team-a", "guardrails-keys") == "/api/v1/namespaces/team-a/secrets/guardrails-keys"
    assert role_binding_path("team-a", "rb.x") == (
        "/apis/rbac.authorization.k8s.io/v1/namespaces/team-a/rolebindings/rb.x"
    )
    assert api_path("apis", "ecrprivacy.dev", "v1alpha1", "ecrprivacypolicies") == (
        "/apis/ecrprivacy.dev/v1alpha1/ecrprivacypolicies"
    )


@pytest.mark.parametrize(
    "name",
    [
        "..",
        ".",
        "",
        "a/../b",
        "../kube-system/secrets/x",
        "a?watch=1",
        "a#b",
        "A",
        "a b",
        "a%2F..",
        "-a",
        "a..b",
    ],
)
def test_names_that_could_move_a_path_are_refused(name: str) -> None:
    with pytest.raises(InvalidNameError):
        secret_path("team-a", name)
    with pytest.raises(InvalidNameError):
        secret_path(name, "keys")
