"""Kopf handlers for GuardrailsWorkspace and ClusterGuardrailsWorkspace: status checks, re-checking the
policies that use a changed workspace (a new one: only those that may have run without it), and deletion that
waits until no policy needs the workspace.

Each handler is a few lines: the work is in ``WorkspaceKeeper`` (through the ``Runtime`` in ``memo``).
"""

from __future__ import annotations

from typing import Any

import kopf
import pydantic

from ecr_privacy_operator.crd.spec import API_GROUP, API_VERSION, WorkspaceKind
from ecr_privacy_operator.crd.workspace import (
    CLUSTER_WORKSPACE_PLURAL,
    WORKSPACE_PLURAL,
    parse_workspace_spec,
)
from ecr_privacy_operator.runtime.passes import Runtime

NAMESPACED = (API_GROUP, API_VERSION, WORKSPACE_PLURAL)
CLUSTER = (API_GROUP, API_VERSION, CLUSTER_WORKSPACE_PLURAL)
CHECK_INTERVAL = 30.0  # the timer: policy count and, every few minutes, one authenticated request


def _kind(body: kopf.Body) -> WorkspaceKind:
    return WorkspaceKind.CLUSTER if body.get("kind") == WorkspaceKind.CLUSTER else WorkspaceKind.NAMESPACED


@kopf.on.create(*NAMESPACED)
@kopf.on.update(*NAMESPACED, field="spec")
@kopf.on.resume(*NAMESPACED)
@kopf.on.create(*CLUSTER)
@kopf.on.update(*CLUSTER, field="spec")
@kopf.on.resume(*CLUSTER)
async def workspace_changed(body: kopf.Body, old: Any, reason: str, memo: kopf.Memo, **kwargs: Any) -> None:
    """Check the workspace now; after a change, drop the finalizer from a Secret it no longer names and run
    a pass for every policy that uses it (a narrowed scope applies at once)."""
    runtime: Runtime = memo.runtime
    runtime.directory.bind(kwargs)
    kind = _kind(body)
    if reason == "update" and isinstance(old, dict) and old.get("spec"):
        try:
            before = parse_workspace_spec(kind, old["spec"])
            moved = (
                before.credentials_secret_ref
                != parse_workspace_spec(kind, body.get("spec") or {}).credentials_secret_ref
            )
        except pydantic.ValidationError:
            moved = False
        if moved:
            await runtime.keeper.forget_secret(kind, body, before)
    await runtime.keeper.check(kind, body, force=True)
    if reason != "resume":
        meta = body["metadata"]
        uids = [u.uid for u in runtime.directory.users(kind, meta.get("namespace") or "", meta["name"])]
        if reason == "create":  # only policies that may have run without it: the others will find it
            uids = [uid for uid in uids if _ran_without(runtime, uid)]
        runtime.recheck(uids)


def _ran_without(runtime: Runtime, uid: str) -> bool:
    """Whether a policy's last pass failed (perhaps because the workspace did not exist yet), or one is running
    (it may have looked before the workspace existed). A policy created after the workspace, waiting for its
    first pass, needs no extra one: re-checking those made up to one pass more per policy during a first sync.
    """
    state = runtime.states.get(uid)
    return state is not None and (state.failures > 0 or runtime.busy(uid))


@kopf.timer(*NAMESPACED, interval=CHECK_INTERVAL, initial_delay=CHECK_INTERVAL)
@kopf.timer(*CLUSTER, interval=CHECK_INTERVAL, initial_delay=CHECK_INTERVAL)
async def workspace_timer(body: kopf.Body, memo: kopf.Memo, **kwargs: Any) -> None:
    runtime: Runtime = memo.runtime
    runtime.directory.bind(kwargs)
    await runtime.keeper.check(_kind(body), body)


@kopf.on.delete(*NAMESPACED)
@kopf.on.delete(*CLUSTER)
async def workspace_deleted(body: kopf.Body, memo: kopf.Memo, **kwargs: Any) -> None:
    """Wait while policies still name the workspace, then release its Secret."""
    runtime: Runtime = memo.runtime
    runtime.directory.bind(kwargs)
    await runtime.keeper.release(_kind(body), body)
