"""A cluster workspace's scope holds in every path, as a tenant would try to get past it: adopting an org-wide
pack, Observe with adopt on another team's pack, a refused namespace holding up the workspace's deletion, a
narrowed ``allowedTargets``, and a namespace that lost its permission before it was deleted.

The org's own pack is made by hand in the Guardrails console (the emulator's console identity), as a platform
team would have made it before the operator: Enforce, attached to the root and to another team's account.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from kubernetes import client as k8s
from tests.emulator.gql import ATTACH, CREATE_PACK, CREATE_SETTING
from tests.fixtures.emulator import ACCOUNT_AKA, EmulatorProcess
from tests.fixtures.kube import GROUP, VERSION, wait_for
from tests.fixtures.policies import P_APPROVED, P_USAGE, Guardrails, Policies, condition
from tests.fixtures.tenancy import CLUSTER_PLURAL, ClusterWorkspaces, cluster_ref, namespace_gone

pytestmark = pytest.mark.e2e

ROOT = "tmod:@turbot/turbot#/"
ORG_AKA = "acme:org-ecr-private"
ENFORCE = "Enforce: Delete unapproved if new"


def org_pack(emulator: EmulatorProcess) -> str:
    """The platform team's hand-made pack: Enforce, attached to the root and to another team's account."""
    other = emulator.add_resource(ROOT, "other-team", type="account", accountId="210987654321")
    made = emulator.console(CREATE_PACK, {"input": {"parent": ROOT, "title": "Org ECR", "akas": [ORG_AKA]}})
    pack = str(made["smartFolder"]["turbot"]["id"])
    for type_uri, value in ((P_APPROVED, ENFORCE), (P_USAGE, "Not approved")):
        emulator.console(CREATE_SETTING, {"input": {"resource": pack, "type": type_uri, "value": value}})
    for target in (ROOT, str(other["id"])):
        emulator.console(ATTACH, {"input": {"resource": target, "smartFolders": [pack]}})
    return pack


def pack_snapshot(emulator: EmulatorProcess, pack_id: str) -> dict[str, Any]:
    """What the pack is and does: its AKAs, settings (type -> value, precedence) and attachments."""
    state = Guardrails.of(emulator)
    found = state.resource(pack_id)
    assert found is not None, f"pack {pack_id} is gone"
    return {
        "akas": sorted(found.get("akas") or []),
        "settings": {t: (s["value"], s.get("precedence")) for t, s in state.settings(pack_id).items()},
        "attached": sorted(state.attached_to(pack_id)),
    }


def new_namespace(api: k8s.ApiClient, labels: dict[str, str] | None = None) -> str:
    """Another namespace the shared operator serves (``e2e-*``)."""
    name = f"e2e-{uuid.uuid4().hex[:10]}"
    meta = k8s.V1ObjectMeta(name=name, labels=labels)
    k8s.CoreV1Api(api).create_namespace(k8s.V1Namespace(metadata=meta))
    return name


def message(obj: dict[str, Any]) -> str:
    return str((condition(obj, "Ready") or {}).get("message"))


@pytest.mark.parametrize("drift", ["Report", "Correct"])
def test_adopting_an_org_pack_that_reaches_past_the_scope_changes_nothing(
    drift: str,
    e2e_ns: str,
    emulator: EmulatorProcess,
    policies: Policies,
    cluster_workspaces: ClusterWorkspaces,
) -> None:
    """A tenant allowed only the Sandbox folder names the org pack's AKA with adopt: true, its parent and its
    attachments inside the scope, and enforcement Skip."""
    pack = org_pack(emulator)
    before = pack_snapshot(emulator, pack)
    org = cluster_workspaces.create(emulator, allow=e2e_ns, allowAdoption=True)
    policies.create(
        e2e_ns,
        "grab",
        workspaceRef=cluster_ref(org),
        policyPack={"akas": [ORG_AKA], "adopt": True},
        enforcement="Skip",
        driftPolicy=drift,
        attachments=[{"resource": ACCOUNT_AKA}],
    )
    obj = policies.wait_condition(e2e_ns, "grab", "Ready", "False", reason="AdoptionNotAllowed")
    assert (condition(obj, "Stalled") or {}).get("status") == "True"
    assert "allowedTargets" in message(obj), message(obj)
    assert not obj["status"].get("policyPack")
    assert not obj["status"].get("settings")
    time.sleep(2)  # a pass that wrote would have written by now
    assert pack_snapshot(emulator, pack) == before

    policies.delete(e2e_ns, "grab")
    policies.wait_gone(e2e_ns, "grab")
    assert pack_snapshot(emulator, pack) == before  # and it still exists


def test_observe_with_adopt_reports_nothing_of_another_live_owners_pack(
    e2e_ns: str,
    emulator: EmulatorProcess,
    policies: Policies,
    cluster_workspaces: ClusterWorkspaces,
    api_client: k8s.ApiClient,
) -> None:
    victim_ns = new_namespace(api_client)
    org = cluster_workspaces.create(
        emulator, allowAdoption=True, allowedNamespaces={"names": [e2e_ns, victim_ns]}
    )
    victim = policies.create(victim_ns, "victim", workspaceRef=cluster_ref(org), enforcement="Enforce")
    ready = policies.wait_ready(victim_ns, "victim")
    pack_id = ready["status"]["policyPack"]["id"]
    before = pack_snapshot(emulator, pack_id)

    policies.create(
        e2e_ns,
        "peek",
        workspaceRef=cluster_ref(org),
        policyPack={"akas": [f"e2e:{victim_ns}:victim"], "adopt": True},
        managementPolicy="Observe",
    )
    obj = policies.wait_condition(e2e_ns, "peek", "Ready", "False", reason="PackConflict")
    status = obj["status"]
    assert not status.get("policyPack")
    assert not status.get("settings")
    assert not status.get("attachments")
    shown = repr(status) + " ".join(str(e.message) for e in policies.events(e2e_ns, "peek"))
    # the AKA the tenant wrote names victim_ns itself; the owner object, its UID, the pack's id, its values and
    # where it is attached must not appear
    for secret in (f"{victim_ns}/victim", victim["metadata"]["uid"], pack_id, ENFORCE, before["attached"][0]):
        assert secret not in shown, f"{secret!r} leaked into the tenant's status or Events: {shown}"
    assert pack_snapshot(emulator, pack_id) == before


def test_a_namespace_the_workspace_does_not_allow_does_not_hold_up_its_deletion(
    e2e_ns: str,
    emulator: EmulatorProcess,
    policies: Policies,
    cluster_workspaces: ClusterWorkspaces,
    api_client: k8s.ApiClient,
) -> None:
    org = cluster_workspaces.create(emulator, allow="another-team")
    policies.create(e2e_ns, "refused", workspaceRef=cluster_ref(org))
    policies.wait_condition(e2e_ns, "refused", "Ready", "False", reason="WorkspaceNotAllowed")
    objects = k8s.CustomObjectsApi(api_client)
    objects.delete_cluster_custom_object(GROUP, VERSION, CLUSTER_PLURAL, org)

    def gone() -> bool:
        try:
            objects.get_cluster_custom_object(GROUP, VERSION, CLUSTER_PLURAL, org)
        except k8s.ApiException as exc:
            return exc.status == 404
        return False

    wait_for(gone, timeout=20, what=f"ClusterGuardrailsWorkspace {org} gone")


def test_a_narrowed_allowed_targets_is_acted_on_in_one_pass(
    e2e_ns: str,
    emulator: EmulatorProcess,
    policies: Policies,
    cluster_workspaces: ClusterWorkspaces,
    api_client: k8s.ApiClient,
) -> None:
    second = emulator.add_resource("sandbox", "second", type="account", accountId="111122223333")
    second_aka = next(a for a in second["akas"] if a.startswith("arn:"))
    org = cluster_workspaces.create(emulator, allow=e2e_ns)
    policies.create(
        e2e_ns,
        "p",
        workspaceRef=cluster_ref(org),
        attachments=[{"resource": ACCOUNT_AKA}, {"resource": second_aka}],
    )
    pack_id = policies.wait_ready(e2e_ns, "p")["status"]["policyPack"]["id"]
    state = Guardrails.of(emulator)
    assert sorted(state.attached_to(pack_id)) == sorted([state.resource_id(ACCOUNT_AKA), str(second["id"])])

    # the cluster admin gives the second account to another team
    k8s.CustomObjectsApi(api_client).patch_cluster_custom_object(
        GROUP, VERSION, CLUSTER_PLURAL, org, {"spec": {"allowedTargets": [ACCOUNT_AKA]}}
    )
    obj = policies.wait_condition(e2e_ns, "p", "Ready", "False", reason="TargetNotAllowed", timeout=15)
    assert second_aka in message(obj), message(obj)
    state = Guardrails.of(emulator)
    assert state.attached_to(pack_id) == [state.resource_id(ACCOUNT_AKA)]  # detached from the second only
    assert [a["resource"] for a in obj["status"]["attachments"]] == [ACCOUNT_AKA]
    policies.wait_event(e2e_ns, "p", "Detached")


def test_a_deleted_namespace_that_lost_its_permission_leaves_no_pack(
    emulator: EmulatorProcess,
    policies: Policies,
    cluster_workspaces: ClusterWorkspaces,
    api_client: k8s.ApiClient,
    operator: Any,
    controller_manager: Any,
) -> None:
    label = {"guardrails/tenant": uuid.uuid4().hex[:8]}
    ns = new_namespace(api_client, labels=label)
    org = cluster_workspaces.create(emulator, allowedNamespaces={"selector": {"matchLabels": label}})
    names = ["a", "b"]
    for name in names:
        policies.create(ns, name, workspaceRef=cluster_ref(org))
    uids = [policies.wait_ready(ns, name)["metadata"]["uid"] for name in names]
    core = k8s.CoreV1Api(api_client)
    core.patch_namespace(ns, {"metadata": {"labels": {"guardrails/tenant": None}}})  # permission withdrawn
    core.delete_namespace(ns)

    wait_for(lambda: namespace_gone(api_client, ns), timeout=60, interval=0.5, what=f"namespace {ns} gone")
    state = Guardrails.of(emulator)
    assert [uid for uid in uids if state.pack(uid)] == [], "a pack was left in Guardrails"


def test_a_tenant_claims_only_akas_under_its_namespace_prefix(
    e2e_ns: str, emulator: EmulatorProcess, policies: Policies, cluster_workspaces: ClusterWorkspaces
) -> None:
    """AKAs are unique per Guardrails workspace: without prefixes a tenant could take another team's AKA (or the
    seed default) first."""
    org = cluster_workspaces.create(emulator, allow=e2e_ns, allowedAkaPrefixes=["acme/{namespace}/"])
    ref = cluster_ref(org)
    policies.create(
        e2e_ns, "seed", workspaceRef=ref, policyPack={"akas": ["aws_ecr_enforce_private_repositories"]}
    )
    policies.create(e2e_ns, "squat", workspaceRef=ref, policyPack={"akas": ["acme/payments/ecr"]})
    policies.create(e2e_ns, "own", workspaceRef=ref, policyPack={"akas": [f"acme/{e2e_ns}/ecr"]})
    for name in ("seed", "squat"):
        obj = policies.wait_condition(e2e_ns, name, "Ready", "False", reason="AkaNotAllowed")
        assert f"acme/{e2e_ns}/" in message(obj), message(obj)
    policies.wait_ready(e2e_ns, "own")
    state = Guardrails.of(emulator)
    assert state.packs_with_aka("aws_ecr_enforce_private_repositories") == []
    assert state.packs_with_aka("acme/payments/ecr") == []
    assert len(state.packs_with_aka(f"acme/{e2e_ns}/ecr")) == 1
