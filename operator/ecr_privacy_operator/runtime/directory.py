"""Read access to Kopf's indices (``handlers/indices.py``): workspace objects, namespace labels, which policies
use which workspace, and what each workspace's activity feed must watch (for its policies, and for their
exceptions, whose workspace is their policy's).

Kopf keeps each index current from its watch streams and runs no handler before every index is filled, so
after a restart "which policies use this workspace" is complete before a workspace's deletion can be allowed.
Handlers receive the indices as keyword arguments and ``bind`` them here; the runtime and the workspace keeper
read them through ``Directory`` (no Kubernetes request on a pass).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import kopf

from ecr_privacy_operator.crd.spec import WorkspaceKind
from ecr_privacy_operator.reconcile.feed import Subject
from ecr_privacy_operator.reconcile.workspaces import WorkspaceObject

Approvals = tuple[tuple[str, str], ...]  # (repository ARN, expires as ISO text)

WorkspaceKey = tuple[str, str, str]  # (kind, namespace or "" for a cluster workspace, name)


@dataclass(frozen=True)
class PolicyUse:
    """A policy that names a workspace."""

    namespace: str
    name: str
    uid: str
    holds: bool = (
        False  # its status records a pack or attachments in Guardrails (its finalizer needs the keys)
    )

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


def workspace_key(kind: WorkspaceKind, namespace: str, name: str) -> WorkspaceKey:
    return (str(kind), namespace if kind is WorkspaceKind.NAMESPACED else "", name)


def workspace_object(kind: WorkspaceKind, body: kopf.Body) -> WorkspaceObject:
    meta = body["metadata"]
    return WorkspaceObject(
        kind=kind,
        namespace=meta.get("namespace") or "",
        name=meta["name"],
        spec=dict(body.get("spec") or {}),
        uid=meta.get("uid", ""),
        deleting=bool(meta.get("deletionTimestamp")),
    )


@dataclass
class Directory:
    """Read access to the indices above, once a handler has bound them."""

    _workspaces: kopf.Index[WorkspaceKey, WorkspaceObject] | None = None
    _cluster_workspaces: kopf.Index[WorkspaceKey, WorkspaceObject] | None = None
    _users: kopf.Index[WorkspaceKey, PolicyUse] | None = None
    _namespaces: kopf.Index[str, dict[str, str]] | None = None
    _subjects: kopf.Index[WorkspaceKey, Subject] | None = None
    _exception_subjects: kopf.Index[tuple[str, str], Subject] | None = None  # by (namespace, policy name)
    # (namespace, policy name) -> per exception: (its UID, the (ARN, expires) pairs it approves before they
    # exist), from the exceptions' status; ``_fresh`` holds what this process computed since (it wins: the
    # status written a moment ago may not be in the index yet)
    _approvals: kopf.Index[tuple[str, str], tuple[str, Approvals]] | None = None
    _fresh: dict[tuple[str, str], dict[str, Approvals]] = field(default_factory=dict)

    def bind(self, kwargs: Mapping[str, Any]) -> None:
        """Keep the indices a handler was called with (Kopf passes the same live objects every time)."""
        self._workspaces = kwargs.get("namespaced_workspaces", self._workspaces)
        self._cluster_workspaces = kwargs.get("cluster_workspaces", self._cluster_workspaces)
        self._users = kwargs.get("workspace_users", self._users)
        self._namespaces = kwargs.get("namespace_labels", self._namespaces)
        self._subjects = kwargs.get("feed_subjects", self._subjects)
        self._exception_subjects = kwargs.get("exception_feed_subjects", self._exception_subjects)
        self._approvals = kwargs.get("pending_approvals", self._approvals)

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

    def approvals(self, namespace: str, policy: str, now: datetime) -> tuple[str, ...]:
        """The ARNs that live exceptions of this policy approve before the repositories exist, sorted."""
        key = (namespace, policy)
        by_uid = dict(self._approvals[key]) if self._approvals is not None and key in self._approvals else {}
        by_uid.update(self._fresh.get(key, {}))
        live = {arn for pairs in by_uid.values() for arn, expires in pairs if _after(expires, now)}
        return tuple(sorted(live))

    def set_approvals(self, namespace: str, policy: str, uid: str, pairs: Approvals) -> None:
        """What the exception ``uid`` approves now (empty once it is gone or has none pending)."""
        self._fresh.setdefault((namespace, policy), {})[uid] = pairs

    def feed_subjects(self) -> dict[WorkspaceKey, list[Subject]]:
        """Per workspace, what its activity feed must watch for the policies that name it and for those
        policies' exceptions."""
        found: dict[WorkspaceKey, list[Subject]] = {}
        if self._subjects is not None:
            found = {key: list(self._subjects[key]) for key in list(self._subjects)}
        exceptions, users = self._exception_subjects, self._users
        if exceptions is None or users is None or not len(exceptions):
            return found
        for key in list(users):
            for use in users[key]:
                policy = (use.namespace, use.name)
                if policy in exceptions:
                    found.setdefault(key, []).extend(exceptions[policy])
        return found


def _after(expires: str, now: datetime) -> bool:
    try:
        moment = datetime.fromisoformat(expires.replace("Z", "+00:00"))
    except ValueError:
        return False
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)) > now
