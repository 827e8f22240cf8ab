"""The order of the workspace checks is the security argument: a Secret is read only after the workspace object
was found where the policy may use it and its host is allowed, and it is always the workspace's Secret, in the
workspace's namespace (or the operator's for a cluster workspace), never one the policy chose."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from pydantic import SecretStr

from ecr_privacy_operator.config import OperatorConfig
from ecr_privacy_operator.crd.conditions import Reason
from ecr_privacy_operator.crd.spec import WorkspaceKind, WorkspaceRef
from ecr_privacy_operator.kube import Kube
from ecr_privacy_operator.reconcile.clients import ClientPool
from ecr_privacy_operator.reconcile.workspaces import (
    WorkspaceObject,
    WorkspaceRefusedError,
    WorkspaceResolver,
)
from ecr_privacy_operator.runtime.directory import Directory, PolicyUse, workspace_key
from ecr_privacy_operator.runtime.workspace_keeper import WorkspaceKeeper

pytestmark = pytest.mark.unit

KEYS = {"accessKey": SecretStr("ak"), "secretKey": SecretStr("sk")}


class Store:
    """Workspace objects, namespace labels and Secrets, recording every Secret read."""

    def __init__(self) -> None:
        self.objects: dict[tuple[WorkspaceKind, str, str], WorkspaceObject] = {}
        self.labels: dict[str, dict[str, str]] = {"team-a": {"tenant": "a"}, "team-b": {"tenant": "b"}}
        self.reads: list[tuple[str, str]] = []

    def add(self, kind: WorkspaceKind, namespace: str, name: str, **spec: Any) -> None:
        self.objects[(kind, namespace, name)] = WorkspaceObject(kind, namespace, name, spec)

    def find(self, kind: WorkspaceKind, namespace: str, name: str) -> WorkspaceObject | None:
        return self.objects.get((kind, namespace, name))

    async def read_secret(self, namespace: str, name: str) -> Mapping[str, SecretStr]:
        self.reads.append((namespace, name))
        return KEYS


@pytest.fixture
def store() -> Store:
    found = Store()
    for name, url in (("mine", "http://127.0.0.1:1"), ("far", "https://attacker.example")):
        found.add(WorkspaceKind.NAMESPACED, "team-a", name, url=url, credentialsSecretRef={"name": "k"})
    found.add(
        WorkspaceKind.CLUSTER,
        "",
        "prod",
        url="https://acme.cloud.turbot.com",
        credentialsSecretRef={"name": "org-keys"},
        allowedNamespaces={"selector": {"matchLabels": {"tenant": "a"}}},
        allowedTargets=["tmod:@turbot/turbot#/"],
    )
    return found


@pytest.fixture
def resolver(store: Store) -> WorkspaceResolver:
    return WorkspaceResolver(
        pool=ClientPool(),
        read_secret=store.read_secret,
        allowed_hosts=("*.cloud.turbot.com", "http://127.0.0.1:*"),
        operator_namespace="ops",
        find=store.find,
        namespace_labels=store.labels.get,
    )


async def refused(resolver: WorkspaceResolver, ref: WorkspaceRef | None, namespace: str) -> Reason:
    with pytest.raises(WorkspaceRefusedError) as raised:
        await resolver.resolve(ref, namespace, "u-1")
    return raised.value.refusal.reason


async def test_namespaced_workspace_uses_its_own_namespace_secret(
    resolver: WorkspaceResolver, store: Store
) -> None:
    resolved = await resolver.resolve(WorkspaceRef(name="mine"), "team-a", "u-1")
    assert resolved.scope is None
    assert resolved.client.endpoint == "http://127.0.0.1:1/api/latest/graphql"
    assert store.reads == [("team-a", "k")]
    await resolver.pool.aclose()


async def test_another_namespaces_workspace_does_not_exist_for_a_policy(
    resolver: WorkspaceResolver, store: Store
) -> None:
    assert await refused(resolver, WorkspaceRef(name="mine"), "team-b") is Reason.WORKSPACE_NOT_FOUND
    assert store.reads == []


async def test_cluster_workspace_reads_the_operator_namespace_secret_for_allowed_namespaces(
    resolver: WorkspaceResolver, store: Store
) -> None:
    ref = WorkspaceRef(kind=WorkspaceKind.CLUSTER, name="prod")
    resolved = await resolver.resolve(ref, "team-a", "u-1")
    assert resolved.scope is not None
    assert store.reads == [("ops", "org-keys")]
    assert await refused(resolver, ref, "team-b") is Reason.WORKSPACE_NOT_ALLOWED
    assert await refused(resolver, ref, "unknown-ns") is Reason.WORKSPACE_NOT_ALLOWED
    assert store.reads == [("ops", "org-keys")]  # nothing read for the refused namespaces
    await resolver.pool.aclose()


async def test_a_host_outside_the_allowlist_reads_no_secret(
    resolver: WorkspaceResolver, store: Store
) -> None:
    assert await refused(resolver, WorkspaceRef(name="far"), "team-a") is Reason.HOST_NOT_ALLOWED
    assert store.reads == []


async def test_missing_ref_and_invalid_workspace(resolver: WorkspaceResolver, store: Store) -> None:
    assert await refused(resolver, None, "team-a") is Reason.INVALID_SPEC
    store.add(WorkspaceKind.NAMESPACED, "team-a", "broken", url="https://acme.cloud.turbot.com")
    assert await refused(resolver, WorkspaceRef(name="broken"), "team-a") is Reason.INVALID_WORKSPACE
    store.add(
        WorkspaceKind.NAMESPACED,
        "team-a",
        "path",
        url="acme.cloud.turbot.com/x",
        credentialsSecretRef={"name": "k"},
    )
    assert await refused(resolver, WorkspaceRef(name="path"), "team-a") is Reason.INVALID_WORKSPACE
    assert store.reads == []


async def test_cluster_workspace_without_operator_namespace_is_refused(store: Store) -> None:
    resolver = WorkspaceResolver(
        pool=ClientPool(),
        read_secret=store.read_secret,
        allowed_hosts=("*.cloud.turbot.com",),
        operator_namespace=None,
        find=store.find,
        namespace_labels=store.labels.get,
    )
    reason = await refused(resolver, WorkspaceRef(kind=WorkspaceKind.CLUSTER, name="prod"), "team-a")
    assert reason is Reason.CREDENTIALS_NOT_FOUND
    assert store.reads == []


async def test_a_deletion_reaches_the_keys_after_its_namespace_lost_its_permission(
    resolver: WorkspaceResolver, store: Store
) -> None:
    """Only the namespace check is skipped for cleanup: the host allowlist and the workspace's own Secret stay."""
    ref = WorkspaceRef(kind=WorkspaceKind.CLUSTER, name="prod")
    assert await refused(resolver, ref, "team-b") == Reason.WORKSPACE_NOT_ALLOWED
    assert store.reads == []
    resolved = await resolver.resolve(ref, "team-b", "u-1", cleanup=True)
    assert resolved.scope is not None
    assert store.reads == [("ops", "org-keys")]
    far = WorkspaceRef(name="far")
    with pytest.raises(WorkspaceRefusedError) as raised:
        await resolver.resolve(far, "team-a", "u-2", cleanup=True)
    assert raised.value.refusal.reason == Reason.HOST_NOT_ALLOWED
    await resolver.pool.aclose()


def test_a_cluster_workspace_is_used_only_by_allowed_namespaces_and_by_holders(
    resolver: WorkspaceResolver, store: Store
) -> None:
    """A refused namespace's policy never holds up the workspace's deletion; one that holds a pack made through
    it (its namespace lost the permission since) does, so that its finalizer still has the keys."""
    key = workspace_key(WorkspaceKind.CLUSTER, "", "prod")
    uses = [
        PolicyUse("team-a", "allowed", "u-1"),
        PolicyUse("team-b", "refused", "u-2"),
        PolicyUse("team-b", "holder", "u-3", holds=True),
    ]
    directory = Directory()
    directory.bind(
        {"workspace_users": {key: uses}, "namespace_labels": {n: [v] for n, v in store.labels.items()}}
    )
    keeper = WorkspaceKeeper(
        config=OperatorConfig(), kube=Kube(credentials=lambda: None), resolver=resolver, directory=directory
    )
    workspace = store.objects[(WorkspaceKind.CLUSTER, "", "prod")]
    assert [u.name for u in keeper.users(workspace)] == ["allowed", "holder"]
