"""The test bed itself: the local kube-apiserver is real, enforces RBAC, serves tokens, and cleans up."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from tests.controlplane import build
from tests.controlplane.harness import ControlPlane, ControlPlaneError, process_alive


def test_version_is_the_pinned_release(kube: ControlPlane) -> None:
    out = kube.kubectl("version", "-o", "json")
    server = json.loads(out.stdout)["serverVersion"]
    assert server["gitVersion"] == build.KUBERNETES_VERSION


def test_default_namespaces_exist(api_client: k8s.ApiClient) -> None:
    names = {n.metadata.name for n in k8s.CoreV1Api(api_client).list_namespace().items}
    assert {"default", "kube-system", "kube-public"} <= names


def test_certificate_user_is_forbidden_until_bound(
    kube: ControlPlane, api_client: k8s.ApiClient, ns: str
) -> None:
    kubeconfig = kube.add_user(f"reader-{ns}")
    user_api = k8s_config.new_client_from_config(config_file=str(kubeconfig))
    try:
        core = k8s.CoreV1Api(user_api)
        with pytest.raises(k8s.ApiException) as denied:
            core.list_namespaced_config_map(ns)
        assert denied.value.status == 403
        rbac = k8s.RbacAuthorizationV1Api(api_client)
        rbac.create_namespaced_role(
            ns,
            {
                "metadata": {"name": "reader"},
                "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list"]}],
            },
        )
        rbac.create_namespaced_role_binding(
            ns,
            {
                "metadata": {"name": "reader"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
                "subjects": [
                    {"kind": "User", "name": f"reader-{ns}", "apiGroup": "rbac.authorization.k8s.io"}
                ],
            },
        )

        def allowed() -> bool:
            try:
                core.list_namespaced_config_map(ns)
            except k8s.ApiException:
                return False
            return True

        from tests.fixtures.kube import wait_for

        wait_for(allowed, timeout=10, what="RBAC binding to take effect")
    finally:
        user_api.close()


def test_service_account_token_authenticates(kube: ControlPlane, api_client: k8s.ApiClient, ns: str) -> None:
    core = k8s.CoreV1Api(api_client)
    core.create_namespaced_service_account(ns, {"metadata": {"name": "bot"}})
    token = core.create_namespaced_service_account_token(
        "bot", ns, {"spec": {"expirationSeconds": 600}}
    ).status.token
    out = kube.kubectl("auth", "whoami", "-o", "json", kubeconfig=kube.token_kubeconfig(f"bot-{ns}", token))
    assert json.loads(out.stdout)["status"]["userInfo"]["username"] == f"system:serviceaccount:{ns}:bot"


def test_stop_leaves_no_process_even_after_an_error(tmp_path: Path) -> None:
    cluster = ControlPlane(run_dir=tmp_path / "second")
    pids: list[int] = []

    def fail_while_running() -> None:
        with cluster:
            pids.extend(cluster.pids())
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fail_while_running()
    assert len(pids) == 2
    assert not [p for p in pids if process_alive(p)]


def test_missing_binaries_fail_loudly(tmp_path: Path) -> None:
    cluster = ControlPlane(bin_dir=tmp_path / "nothing-here")
    with pytest.raises(ControlPlaneError, match=r"build them with: python tests/controlplane/build.py"):
        cluster.start()
