"""Tenancy, as tenants and a cluster admin would try it: keys go only where their owner bound them, a cluster
workspace's scope holds before any write, and workspace objects report their own state.

Tenants are impersonated users holding the built-in ``admin`` role of their namespace (which aggregates the
project's ``ecr-privacy-operator-edit`` role); the operator runs with the shipped RBAC (deploy/rbac, which the
chart renders too). A loopback listener poses as a workspace to see which keys reach it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes import client as k8s
from tests.fixtures.emulator import ACCOUNT_AKA, ADMIN_KEY, EmulatorProcess
from tests.fixtures.kube import GROUP, PLURAL, VERSION, wait_for
from tests.fixtures.operator import OPERATOR_NAMESPACE, OperatorIdentity, OperatorProcess
from tests.fixtures.policies import Guardrails, Policies, condition, policy_body
from tests.fixtures.tenancy import (
    CLUSTER_PLURAL,
    WORKSPACE_PLURAL,
    ClusterWorkspaces,
    Listener,
    basic,
    cluster_ref,
    namespace_gone,
)

pytestmark = pytest.mark.e2e

ROOT = "tmod:@turbot/turbot#/"
WRITES = ("Create", "Update", "Delete", "Attach", "Detach")
TENANT_KEYS = ("tenant-own-access-key", "tenant-own-secret-key")


def writes(emulator: EmulatorProcess) -> dict[str, int]:
    """Mutations the emulator received since its reset, by operation."""
    by_operation: dict[str, int] = emulator.requests()["byOperation"]
    return {op: n for op, n in by_operation.items() if op.startswith(WRITES)}


def refused(policies: Policies, ns: str, name: str, reason: str) -> dict[str, Any]:
    """Wait for Ready=False with ``reason``; check it is Stalled (retrying cannot help) and return the object."""
    obj = policies.wait_condition(ns, name, "Ready", "False", reason=reason)
    assert (condition(obj, "Stalled") or {}).get("status") == "True", obj["status"]
    return obj


def test_a_namespace_the_cluster_workspace_does_not_allow_is_refused_before_any_write(
    e2e_ns: str,
    emulator: EmulatorProcess,
    policies: Policies,
    cluster_workspaces: ClusterWorkspaces,
    api_client: k8s.ApiClient,
) -> None:
    org = cluster_workspaces.create(emulator, allow="another-team")
    policies.create(e2e_ns, "p", workspaceRef=cluster_ref(org))
    obj = refused(policies, e2e_ns, "p", "WorkspaceNotAllowed")
    assert e2e_ns in condition(obj, "Ready")["message"]  # type: ignore[index]
    time.sleep(2)  # a write would follow the first pass at once: there is none
    assert writes(emulator) == {}
    assert Guardrails(emulator.state()).packs_with_aka(f"e2e:{e2e_ns}:p") == []

    # the admin allows the namespace by label: the policy is re-checked at once and goes ahead
    k8s.CoreV1Api(api_client).patch_namespace(e2e_ns, {"metadata": {"labels": {"guardrails/org": "yes"}}})
    k8s.CustomObjectsApi(api_client).patch_cluster_custom_object(
        GROUP,
        VERSION,
        CLUSTER_PLURAL,
        org,
        {"spec": {"allowedNamespaces": {"selector": {"matchLabels": {"guardrails/org": "yes"}}}}},
    )
    policies.wait_ready(e2e_ns, "p", timeout=20)


def test_targets_outside_the_allowed_ones_are_refused_and_descendants_accepted(
    e2e_ns: str, emulator: EmulatorProcess, policies: Policies, cluster_workspaces: ClusterWorkspaces
) -> None:
    sibling = emulator.add_resource(ROOT, "sibling", type="account", accountId="210987654321")
    sibling_aka = next(a for a in sibling["akas"] if a.startswith("arn:"))
    org = cluster_workspaces.create(emulator, allow=e2e_ns)
    ref = cluster_ref(org)
    policies.create(e2e_ns, "root", workspaceRef=ref, attachments=[{"resource": ROOT}])
    policies.create(e2e_ns, "sibling", workspaceRef=ref, attachments=[{"resource": sibling_aka}])
    policies.create(e2e_ns, "inside", workspaceRef=ref, attachments=[{"resource": ACCOUNT_AKA}])
    for name in ("root", "sibling"):
        obj = refused(policies, e2e_ns, name, "TargetNotAllowed")
        assert "sandbox" in condition(obj, "Ready")["message"]  # type: ignore[index]
    policies.wait_ready(e2e_ns, "inside")
    state = Guardrails(emulator.state())
    assert state.packs_with_aka(f"e2e:{e2e_ns}:root") == []
    assert state.packs_with_aka(f"e2e:{e2e_ns}:sibling") == []
    (pack,) = state.packs_with_aka(f"e2e:{e2e_ns}:inside")
    assert state.attached_to(pack["id"]) == [state.resource_id(ACCOUNT_AKA)]


def test_enforce_is_refused_where_only_check_is_allowed(
    e2e_ns: str, emulator: EmulatorProcess, policies: Policies, cluster_workspaces: ClusterWorkspaces
) -> None:
    org = cluster_workspaces.create(emulator, allow=e2e_ns, allowedEnforcement=["Check"])
    policies.create(e2e_ns, "p", workspaceRef=cluster_ref(org), enforcement="Enforce")
    refused(policies, e2e_ns, "p", "EnforcementNotAllowed")
    time.sleep(2)
    assert writes(emulator) == {}
    policies.patch_spec(e2e_ns, "p", {"enforcement": "Check"})
    policies.wait_ready(e2e_ns, "p")


def test_a_host_outside_the_allowlist_gets_no_request(
    e2e_ns: str, policies: Policies, operator_identity: OperatorIdentity, api_client: k8s.ApiClient
) -> None:
    with Listener(host="127.0.0.2") as listener:  # loopback, but not the allowlisted 127.0.0.1
        operator_identity.credentials_secret(
            e2e_ns, name="elsewhere", workspace=listener.url, access_key=ADMIN_KEY[0], secret_key=ADMIN_KEY[1]
        )
        policies.create(e2e_ns, "p", workspaceRef={"name": "elsewhere"})
        refused(policies, e2e_ns, "p", "HostNotAllowed")
        workspace = wait_for(
            lambda: (
                (ws := workspace_object(api_client, e2e_ns, "elsewhere"))
                and (condition(ws, "Ready") or {}).get("reason") == "HostNotAllowed"
                and ws
            ),
            what="the workspace reports HostNotAllowed",
        )
        assert (condition(workspace, "Stalled") or {}).get("status") == "True"
        time.sleep(2)
        assert listener.connections == 0, listener.seen


def workspace_object(api: k8s.ApiClient, namespace: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = k8s.CustomObjectsApi(api).get_namespaced_custom_object(
        GROUP, VERSION, namespace, WORKSPACE_PLURAL, name
    )
    return found


def test_workspace_reports_ready_and_how_many_policies_use_it(
    e2e_ns: str, policies: Policies, api_client: k8s.ApiClient
) -> None:
    policies.create(e2e_ns, "a")
    policies.create(e2e_ns, "b")
    policies.wait_ready(e2e_ns, "a")
    ws = wait_for(
        lambda: (
            (found := workspace_object(api_client, e2e_ns, "guardrails-credentials"))
            .get("status", {})
            .get("policies")
            == 2
            and found
        ),
        timeout=40,
        what="the workspace counts 2 policies",
    )
    ready = condition(ws, "Ready")
    assert ready is not None
    assert (ready["status"], ready["reason"]) == ("True", "CredentialsValid")
    secret = k8s.CoreV1Api(api_client).read_namespaced_secret("guardrails-credentials", e2e_ns)
    assert "guardrailsworkspace.ecrprivacy.dev/guardrails-credentials" in (secret.metadata.finalizers or [])


@pytest.fixture
def shared_with_tenant(
    e2e_ns: str,
    emulator: EmulatorProcess,
    cluster_workspaces: ClusterWorkspaces,
    tenant: Callable[[str], k8s.ApiClient],
    controller_manager: Any,
) -> tuple[str, k8s.ApiClient]:
    """The org's cluster workspace, shared with ``e2e_ns``, and that namespace's admin (an impersonated user
    holding the aggregated admin role: kube-controller-manager aggregates it)."""
    return cluster_workspaces.create(emulator, allow=e2e_ns), tenant(e2e_ns)


def test_a_tenant_never_makes_a_listener_receive_keys_it_does_not_own(
    e2e_ns: str,
    emulator: EmulatorProcess,
    policies: Policies,
    shared_with_tenant: tuple[str, k8s.ApiClient],
) -> None:
    org, as_tenant = shared_with_tenant
    objects = k8s.CustomObjectsApi(as_tenant)
    core = k8s.CoreV1Api(as_tenant)
    with Listener() as listener:  # 127.0.0.1: an allowed host, so only the key checks stand in the way
        # 1. the old inline URL is gone: without a workspaceRef the API server refuses the object
        inline = policy_body(e2e_ns, "inline")
        inline["spec"].pop("workspaceRef")
        inline["spec"]["workspace"] = {"url": listener.url}
        with pytest.raises(k8s.ApiException) as raised:
            objects.create_namespaced_custom_object(GROUP, VERSION, e2e_ns, PLURAL, inline)
        assert raised.value.status == 422
        # 2. the org's workspace with a URL of the tenant's beside it: the URL is not part of the API
        sneaky = policy_body(e2e_ns, "sneaky", workspaceRef=cluster_ref(org))
        sneaky["spec"]["workspace"] = {"url": listener.url}
        objects.create_namespaced_custom_object(GROUP, VERSION, e2e_ns, PLURAL, sneaky)
        policies.created.append((e2e_ns, "sneaky"))
        # 3. a workspace of the tenant's at the listener, naming the org's Secret: it is looked up in the
        #    tenant's namespace, where it does not exist
        tenant_workspace(objects, e2e_ns, "borrowed", listener.url, secret=org)
        policies.create(e2e_ns, "borrowed", workspaceRef={"name": "borrowed"})
        # 4. the tenant's own keys at the listener: those (and only those) may reach it
        core.create_namespaced_secret(
            e2e_ns,
            k8s.V1Secret(
                metadata=k8s.V1ObjectMeta(name="own"),
                string_data={"accessKey": TENANT_KEYS[0], "secretKey": TENANT_KEYS[1]},
            ),
        )
        tenant_workspace(objects, e2e_ns, "own", listener.url, secret="own")
        policies.create(e2e_ns, "own", workspaceRef={"name": "own"})

        policies.wait_ready(e2e_ns, "sneaky")
        refused(policies, e2e_ns, "borrowed", "CredentialsNotFound")
        policies.wait_condition(e2e_ns, "own", "Ready", "False", reason="Unauthorized")
        assert listener.authorizations == {basic(*TENANT_KEYS)}, (
            "the listener saw keys the tenant does not own"
        )
    assert Guardrails(emulator.state()).packs_with_aka(f"e2e:{e2e_ns}:sneaky")


def tenant_workspace(objects: k8s.CustomObjectsApi, namespace: str, name: str, url: str, secret: str) -> None:
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "GuardrailsWorkspace",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"url": url, "credentialsSecretRef": {"name": secret}},
    }
    objects.create_namespaced_custom_object(GROUP, VERSION, namespace, WORKSPACE_PLURAL, body)


def test_the_operators_environment_keys_are_never_a_default(
    solo_ns: str,
    policies: Policies,
    operator_identity: OperatorIdentity,
    operator_factory: Callable[..., OperatorProcess],
) -> None:
    """TURBOT_* in the operator's environment were once the keys of any object without a Secret."""
    with Listener() as listener:
        env = {
            "TURBOT_ACCESS_KEY": "operator-env-access",
            "TURBOT_SECRET_KEY": "operator-env-secret",
            "TURBOT_WORKSPACE": listener.url,
        }
        operator_factory(solo_ns, env=env)
        policies.create(solo_ns, "p", workspaceRef={"name": "nowhere"})
        refused_obj = policies.wait_condition(solo_ns, "p", "Ready", "False", reason="WorkspaceNotFound")
        assert "nowhere" in condition(refused_obj, "Ready")["message"]  # type: ignore[index]
        time.sleep(2)
        assert listener.connections == 0, listener.seen


def test_a_tenant_cannot_read_the_org_secret_nor_make_a_cluster_workspace(
    e2e_ns: str, shared_with_tenant: tuple[str, k8s.ApiClient]
) -> None:
    org, as_tenant = shared_with_tenant
    core, objects = k8s.CoreV1Api(as_tenant), k8s.CustomObjectsApi(as_tenant)
    for attempt in (
        lambda: core.read_namespaced_secret(org, OPERATOR_NAMESPACE),
        lambda: core.list_namespaced_secret(OPERATOR_NAMESPACE),
        lambda: objects.create_cluster_custom_object(
            GROUP,
            VERSION,
            CLUSTER_PLURAL,
            {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "ClusterGuardrailsWorkspace",
                "metadata": {"name": f"mine-{e2e_ns}"},
                "spec": {
                    "url": "http://127.0.0.1:1",
                    "credentialsSecretRef": {"name": org},
                    "allowedNamespaces": {"selector": {}},
                    "allowedTargets": [ROOT],
                },
            },
        ),
        lambda: objects.patch_cluster_custom_object(
            GROUP, VERSION, CLUSTER_PLURAL, org, {"spec": {"allowedTargets": [ROOT]}}
        ),
        lambda: objects.create_namespaced_custom_object(
            GROUP, VERSION, "default", PLURAL, policy_body("default", "elsewhere")
        ),
    ):
        with pytest.raises(k8s.ApiException) as raised:
            attempt()
        assert raised.value.status == 403
    # what the aggregated roles do grant: the tenant's own policies and workspaces
    objects.create_namespaced_custom_object(GROUP, VERSION, e2e_ns, PLURAL, policy_body(e2e_ns, "allowed"))
    objects.delete_namespaced_custom_object(GROUP, VERSION, e2e_ns, PLURAL, "allowed")
    assert objects.list_namespaced_custom_object(GROUP, VERSION, e2e_ns, WORKSPACE_PLURAL)["items"]


@pytest.mark.parametrize("crash", [False, True], ids=["steady", "kill-9-halfway"])
def test_deleting_a_namespace_with_its_policies_workspace_and_secret_finishes(
    crash: bool,
    solo_ns: str,
    emulator: EmulatorProcess,
    policies: Policies,
    operator_identity: OperatorIdentity,
    operator_factory: Callable[..., OperatorProcess],
    api_client: k8s.ApiClient,
    controller_manager: Any,
) -> None:
    """Everything goes at once (as `kubectl delete namespace` does): every policy still detaches and deletes its
    pack, because the workspace, its Secret and the operator's RoleBinding stay until the last one is done."""
    operator_identity.emulator_credentials(solo_ns, emulator)
    operator = operator_factory(solo_ns)
    names = [f"p{i}" for i in range(5)]
    for name in names:
        policies.create(solo_ns, name)
    uids = [policies.wait_ready(solo_ns, name)["metadata"]["uid"] for name in names]
    assert all(Guardrails(emulator.state()).pack(uid) for uid in uids)
    core = k8s.CoreV1Api(api_client)
    if crash:  # Guardrails answers slowly, so that the kill lands while the finalizers are at work
        emulator.set_faults(latencyMs=300)
    started = time.monotonic()
    core.delete_namespace(solo_ns)
    if crash:

        def under_way() -> bool:
            found = [policies.get(solo_ns, n) for n in names]
            return any(o is None or o["metadata"].get("deletionTimestamp") for o in found)

        wait_for(under_way, interval=0.05, what="the deletion under way")
        operator.kill9()
        operator.start()

    wait_for(
        lambda: namespace_gone(api_client, solo_ns),
        timeout=60,
        interval=0.5,
        what=f"namespace {solo_ns} gone",
    )
    elapsed = time.monotonic() - started
    state = Guardrails(emulator.state())
    assert [uid for uid in uids if state.pack(uid)] == [], "a pack was left in Guardrails"
    assert elapsed < 60


def test_a_workspace_reports_bad_keys_and_a_missing_secret_as_stalled(
    e2e_ns: str, emulator: EmulatorProcess, operator_identity: OperatorIdentity, api_client: k8s.ApiClient
) -> None:
    operator_identity.credentials_secret(
        e2e_ns, name="bad-keys", workspace=emulator.url, access_key=ADMIN_KEY[0], secret_key="not-the-key"
    )
    operator_identity.workspace(e2e_ns, "no-secret", url=emulator.url, secret="never-created")
    for name, reason in (("bad-keys", "Unauthorized"), ("no-secret", "CredentialsNotFound")):
        found = wait_for(
            lambda name=name, reason=reason: (
                (ws := workspace_object(api_client, e2e_ns, name))
                and (condition(ws, "Ready") or {}).get("reason") == reason
                and ws
            ),
            what=f"workspace {name} reports {reason}",
        )
        assert (condition(found, "Ready") or {}).get("status") == "False"
        assert (condition(found, "Stalled") or {}).get("status") == "True"
        assert found["status"]["observedGeneration"] == found["metadata"]["generation"]


def test_a_resync_raised_to_the_cluster_workspaces_floor_is_said_in_an_event(
    solo_ns: str,
    emulator: EmulatorProcess,
    policies: Policies,
    cluster_workspaces: ClusterWorkspaces,
    operator_factory: Callable[..., OperatorProcess],
) -> None:
    """The admin's floor (``ECR_PRIVACY_CLUSTER_MIN_RESYNC``) overrides a team's shorter ``resyncInterval``: the
    team is told, not left to believe in a resync that does not happen; a longer interval is left alone."""
    operator_factory(solo_ns, env={"ECR_PRIVACY_CLUSTER_MIN_RESYNC": "120"})
    ref = cluster_ref(cluster_workspaces.create(emulator, allow=solo_ns))
    policies.create(solo_ns, "often", workspaceRef=ref, resyncInterval="10s")
    policies.create(solo_ns, "rarely", workspaceRef=ref, resyncInterval="5m")
    policies.wait_ready(solo_ns, "often")
    policies.wait_ready(solo_ns, "rarely")
    wait_for(
        lambda: "ResyncIntervalRaised" in policies.event_reasons(solo_ns, "often"),
        timeout=10,
        what="the ResyncIntervalRaised Event",
    )
    (raised,) = [e for e in policies.events(solo_ns, "often") if e.reason == "ResyncIntervalRaised"]
    assert "10s" in raised.message
    assert "120s" in raised.message
    assert "ResyncIntervalRaised" not in policies.event_reasons(solo_ns, "rarely")
