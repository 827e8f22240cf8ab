"""The Kopf indices behind tenancy: workspace objects, namespace labels, and which policies use which workspace.

Kopf keeps each index current from its watch streams and runs no handler before every index is filled, so
after a restart "which policies use this workspace" is complete before a workspace's deletion can be allowed.
Handlers receive the indices as keyword arguments and ``bind`` them here; the runtime and the workspace keeper
read them through ``Directory`` (no Kubernetes request on a pass).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import kopf

from ecr_privacy_operator.crd.spec import API_GROUP, API_VERSION, PLURAL, WorkspaceKind
from ecr_privacy_operator.crd.workspace import CLUSTER_WORKSPACE_PLURAL, WORKSPACE_PLURAL
from ecr_privacy_operator.reconcile.feed import Subject, guardrails_ids
from ecr_privacy_operator.reconcile.workspaces import WorkspaceObject

WorkspaceKey = tuple[str, str, str]  # (kind, namespace or "" for a cluster workspace, name)


@dataclass(frozen=True)
class PolicyUse:
    """A policy that names a workspace."""

    namespace: str
    name: str
    uid: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


def workspace_key(kind: WorkspaceKind, namespace: str, name: str) -> WorkspaceKey:
    return (str(kind), namespace if kind is WorkspaceKind.NAMESPACED else "", name)


def _workspace(kind: WorkspaceKind, body: kopf.Body) -> WorkspaceObject:
    meta = body["metadata"]
    return WorkspaceObject(
        kind=kind,
        namespace=meta.get("namespace") or "",
        name=meta["name"],
        spec=dict(body.get("spec") or {}),
        uid=meta.get("uid", ""),
        deleting=bool(meta.get("deletionTimestamp")),
    )


@kopf.index(API_GROUP, API_VERSION, WORKSPACE_PLURAL)
def namespaced_workspaces(body: kopf.Body, **_: Any) -> dict[WorkspaceKey, WorkspaceObject]:
    found = _workspace(WorkspaceKind.NAMESPACED, body)
    return {workspace_key(found.kind, found.namespace, found.name): found}


@kopf.index(API_GROUP, API_VERSION, CLUSTER_WORKSPACE_PLURAL)
def cluster_workspaces(body: kopf.Body, **_: Any) -> dict[WorkspaceKey, WorkspaceObject]:
    found = _workspace(WorkspaceKind.CLUSTER, body)
    return {workspace_key(found.kind, "", found.name): found}


@kopf.index(API_GROUP, API_VERSION, PLURAL)
def workspace_users(
    namespace: str | None, name: str, uid: str, spec: kopf.Spec, **_: Any
) -> dict[WorkspaceKey, PolicyUse]:
    ref = spec.get("workspaceRef") or {}
    if not isinstance(ref, Mapping) or not ref.get("name"):
        return {}
    try:
        kind = WorkspaceKind(ref.get("kind") or WorkspaceKind.NAMESPACED)
    except ValueError:
        return {}
    where = namespace or ""
    return {workspace_key(kind, where, str(ref["name"])): PolicyUse(where, name, uid)}


@kopf.index(API_GROUP, API_VERSION, PLURAL)
def feed_subjects(
    namespace: str | None, uid: str, spec: kopf.Spec, status: kopf.Status, **_: Any
) -> dict[WorkspaceKey, Subject]:
    """What the activity feed of a policy's workspace must watch for it: its pack and its targets, by the ids
    in its status (``reconcile.feed`` keeps only digits of them)."""
    ref = spec.get("workspaceRef") or {}
    pack = status.get("policyPack") or {}
    attachments = status.get("attachments") or []
    if not isinstance(ref, Mapping) or not ref.get("name") or not isinstance(pack, Mapping):
        return {}
    try:
        kind = WorkspaceKind(ref.get("kind") or WorkspaceKind.NAMESPACED)
    except ValueError:
        return {}
    targets = guardrails_ids(a.get("resourceId") for a in attachments if isinstance(a, Mapping))
    pack_ids = guardrails_ids([pack.get("id")])
    subject = Subject(uid=uid, pack_id=pack_ids[0] if pack_ids else None, targets=targets)
    if subject.pack_id is None and not targets:
        return {}
    return {workspace_key(kind, namespace or "", str(ref["name"])): subject}


@kopf.index("namespaces")
def namespace_labels(name: str, labels: kopf.Labels, **_: Any) -> dict[str, dict[str, str]]:
    return {name: dict(labels)}


@dataclass
class Directory:
    """Read access to the indices above, once a handler has bound them."""

    _workspaces: kopf.Index[WorkspaceKey, WorkspaceObject] | None = None
    _cluster_workspaces: kopf.Index[WorkspaceKey, WorkspaceObject] | None = None
    _users: kopf.Index[WorkspaceKey, PolicyUse] | None = None
    _namespaces: kopf.Index[str, dict[str, str]] | None = None
    _subjects: kopf.Index[WorkspaceKey, Subject] | None = None

    def bind(self, kwargs: Mapping[str, Any]) -> None:
        """Keep the indices a handler was called with (Kopf passes the same live objects every time)."""
        self._workspaces = kwargs.get("namespaced_workspaces", self._workspaces)
        self._cluster_workspaces = kwargs.get("cluster_workspaces", self._cluster_workspaces)
        self._users = kwargs.get("workspace_users", self._users)
        self._namespaces = kwargs.get("namespace_labels", self._namespaces)
        self._subjects = kwargs.get("feed_subjects", self._subjects)

    @staticmethod
    def _first(index: kopf.Index[Any, Any] | None, key: Any) -> Any:
        if index is None or key not in index:
            return None
        return next(iter(index[key]), None)

    def find(self, kind: WorkspaceKind, namespace: str, name: str) -> WorkspaceObject | None:
        index = self._cluster_workspaces if kind is WorkspaceKind.CLUSTER else self._workspaces
        found: WorkspaceObject | None = self._first(index, workspace_key(kind, namespace, name))
        return found

    def namespace_labels(self, namespace: str) -> Mapping[str, str] | None:
        labels: dict[str, str] | None = self._first(self._namespaces, namespace)
        return labels

    def users(self, kind: WorkspaceKind, namespace: str, name: str) -> list[PolicyUse]:
        """The policies that name this workspace (including those being deleted), sorted."""
        key = workspace_key(kind, namespace, name)
        if self._users is None or key not in self._users:
            return []
        return sorted(self._users[key], key=str)

    def feed_subjects(self) -> dict[WorkspaceKey, list[Subject]]:
        """Per workspace, what its activity feed must watch for the policies that name it."""
        if self._subjects is None:
            return {}
        return {key: list(self._subjects[key]) for key in list(self._subjects)}
