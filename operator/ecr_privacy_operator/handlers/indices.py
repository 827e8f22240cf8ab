"""Kopf's indices behind tenancy and the feed, registered on import: workspace objects, namespace labels, which
policies use which workspace, and what each workspace's activity feed must watch for policies and for
exceptions (read through ``runtime.directory.Directory``).

Every index is a coroutine (the exceptions' ones in ``handlers/exceptions.py`` too): Kopf runs a plain function
in a thread of its executor, which on every watch event of every object cost a thread hop per index (about a
tenth of the operator's CPU in a first sync of 3000 objects); these are pure and quick, so they run in the
event loop."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import kopf

from ecr_privacy_operator.crd.exception import EXCEPTION_PLURAL
from ecr_privacy_operator.crd.spec import API_GROUP, API_VERSION, PLURAL, WorkspaceKind
from ecr_privacy_operator.crd.workspace import CLUSTER_WORKSPACE_PLURAL, WORKSPACE_PLURAL
from ecr_privacy_operator.reconcile.feed import Subject, guardrails_ids
from ecr_privacy_operator.reconcile.workspaces import WorkspaceObject
from ecr_privacy_operator.runtime.directory import PolicyUse, WorkspaceKey, workspace_key, workspace_object


@kopf.index(API_GROUP, API_VERSION, WORKSPACE_PLURAL)
async def namespaced_workspaces(body: kopf.Body, **_: Any) -> dict[WorkspaceKey, WorkspaceObject]:
    found = workspace_object(WorkspaceKind.NAMESPACED, body)
    return {workspace_key(found.kind, found.namespace, found.name): found}


@kopf.index(API_GROUP, API_VERSION, CLUSTER_WORKSPACE_PLURAL)
async def cluster_workspaces(body: kopf.Body, **_: Any) -> dict[WorkspaceKey, WorkspaceObject]:
    found = workspace_object(WorkspaceKind.CLUSTER, body)
    return {workspace_key(found.kind, "", found.name): found}


@kopf.index(API_GROUP, API_VERSION, PLURAL)
async def workspace_users(
    namespace: str | None, name: str, uid: str, spec: kopf.Spec, status: kopf.Status, **_: Any
) -> dict[WorkspaceKey, PolicyUse]:
    ref = spec.get("workspaceRef") or {}
    if not isinstance(ref, Mapping) or not ref.get("name"):
        return {}
    try:
        kind = WorkspaceKind(ref.get("kind") or WorkspaceKind.NAMESPACED)
    except ValueError:
        return {}
    where = namespace or ""
    holds = bool(status.get("policyPack") or status.get("attachments"))
    return {workspace_key(kind, where, str(ref["name"])): PolicyUse(where, name, uid, holds)}


@kopf.index(API_GROUP, API_VERSION, PLURAL)
async def feed_subjects(
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


@kopf.index(API_GROUP, API_VERSION, EXCEPTION_PLURAL)
async def exception_feed_subjects(
    namespace: str | None, uid: str, spec: kopf.Spec, status: kopf.Status, **_: Any
) -> dict[tuple[str, str], Subject]:
    """(namespace, policy name) -> what the activity feed of that policy's workspace must watch for this
    exception: the repositories its status says it holds settings on, and those settings' ids (digits only)."""
    ref = spec.get("policyRef") or {}
    rows = status.get("repositories") or []
    if not isinstance(ref, Mapping) or not isinstance(ref.get("name"), str) or not isinstance(rows, list):
        return {}
    rows = [r for r in rows if isinstance(r, Mapping)]
    repositories = guardrails_ids(r.get("resourceId") for r in rows)
    settings = guardrails_ids(r.get("settingId") for r in rows)
    if not repositories:
        return {}
    return {(namespace or "", ref["name"]): Subject(uid, None, repositories=repositories, settings=settings)}


@kopf.index("namespaces")
async def namespace_labels(name: str, labels: kopf.Labels, **_: Any) -> dict[str, dict[str, str]]:
    return {name: dict(labels)}
