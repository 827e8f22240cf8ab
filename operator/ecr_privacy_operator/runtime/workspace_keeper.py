"""Workspace objects' own life: their status, and the in-use protection that lets a namespace deletion finish.

- ``check`` (on create, update, resume and a timer): keeps this workspace's finalizer on its Secret (and, for a
  namespaced workspace, on the RoleBinding that lets the operator read it), sends one authenticated request to
  the workspace, and writes ``Ready``/``Stalled``/``Reconciling`` and the number of policies that name it,
  only when something changed; ``FeedAvailable`` says whether the workspace's activity feed is followed
  (``feed_changed``, from ``feed_link.py``).
- ``release`` (the deletion handler): while any policy still uses the workspace, the deletion waits (those
  policies' finalizers need the keys to detach and delete their packs); then it drops its finalizers from
  the Secret and the RoleBinding, and Kopf drops its own from the workspace. A policy uses a cluster workspace
  only where its scope allows the policy's namespace, or where the policy holds a pack made through it (its
  namespace lost the permission since): a refused namespace can neither count as a user nor hold up the
  deletion.

Every finalizer is on the objects in etcd, so a restart halfway changes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import kopf

from ecr_privacy_operator.config import OperatorConfig
from ecr_privacy_operator.crd.conditions import (
    Condition,
    ConditionType,
    Outcome,
    OutcomeKind,
    Reason,
    derive_conditions,
    parse_conditions,
    set_condition,
)
from ecr_privacy_operator.crd.spec import WorkspaceKind
from ecr_privacy_operator.crd.workspace import (
    PLURALS,
    ClusterGuardrailsWorkspaceSpec,
    GuardrailsWorkspaceSpec,
    usage_finalizer,
)
from ecr_privacy_operator.kube import (
    Kube,
    KubernetesError,
    KubernetesUnavailableError,
    SecretNotFoundError,
    role_binding_path,
    secret_path,
)
from ecr_privacy_operator.reconcile import pass_result
from ecr_privacy_operator.reconcile.clients import CredentialsError
from ecr_privacy_operator.reconcile.feed_follower import FeedState
from ecr_privacy_operator.reconcile.workspaces import (
    WorkspaceObject,
    WorkspaceRefusedError,
    WorkspaceResolver,
)
from ecr_privacy_operator.runtime.directory import Directory, PolicyUse, workspace_object

RECHECK_SECONDS = 300.0  # a Ready workspace is probed again this often (one request)
RELEASE_RETRY_SECONDS = 2.0


def _failed(reason: str, message: str, retryable: bool = False) -> Outcome:
    return Outcome(kind=OutcomeKind.FAILED, reason=reason, message=message, retryable=retryable)


@dataclass
class WorkspaceKeeper:
    """Shared by the workspace handlers (through the runtime in Kopf's ``memo``)."""

    config: OperatorConfig
    kube: Kube
    resolver: WorkspaceResolver
    directory: Directory
    # (kind, namespace, name) -> (monotonic time, generation) of the last successful probe
    _probed: dict[tuple[str, str, str], tuple[float, int]] = field(default_factory=dict)
    # the activity feed's state per workspace (FeedAvailable), and the status this keeper last read or wrote
    _feeds: dict[tuple[str, str, str], FeedState] = field(default_factory=dict)
    _statuses: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)

    # -- finalizers on what the workspace needs ------------------------------------------------------------
    async def _protect(
        self, workspace: WorkspaceObject, spec: GuardrailsWorkspaceSpec, present: bool
    ) -> None:
        """Add or drop this workspace's finalizer on its Secret (and its namespace's credentials binding)."""
        finalizer = usage_finalizer(workspace.kind, workspace.name)
        secret_ns, secret_name = self.resolver.secret_of(workspace, spec)
        found = await self.kube.set_finalizer(
            secret_path(secret_ns, secret_name), finalizer, present, f"Secret {secret_ns}/{secret_name}"
        )
        if present and not found:
            raise SecretNotFoundError(f"Secret {secret_ns}/{secret_name} not found")
        if workspace.kind is WorkspaceKind.NAMESPACED:
            binding = self.config.credentials_binding
            try:
                await self.kube.set_finalizer(
                    role_binding_path(secret_ns, binding),
                    finalizer,
                    present,
                    f"RoleBinding {secret_ns}/{binding}",
                )
            except KubernetesError as exc:  # named otherwise, or not granted: the Secret read still works
                if exc.status != 403:
                    raise

    async def forget_secret(
        self, kind: WorkspaceKind, body: kopf.Body, old_spec: GuardrailsWorkspaceSpec
    ) -> None:
        """After the workspace moved to another Secret: drop its finalizer from the old one."""
        workspace = workspace_object(kind, body)
        secret_ns, secret_name = self.resolver.secret_of(workspace, old_spec)
        await self.kube.set_finalizer(
            secret_path(secret_ns, secret_name),
            usage_finalizer(kind, workspace.name),
            False,
            f"Secret {secret_ns}/{secret_name}",
        )

    # -- status ------------------------------------------------------------------------------------------
    async def _probe(self, workspace: WorkspaceObject) -> Outcome:
        """Protect the Secret, then one authenticated request; the outcome for the conditions."""
        try:
            spec = self.resolver.parse(workspace)
            await self._protect(workspace, spec, present=True)
            client = await self.resolver.connect(workspace, spec, user=f"{workspace.label} {workspace.uid}")
            await client.validate_credentials()
        except WorkspaceRefusedError as exc:
            return exc.refusal.outcome()
        except (SecretNotFoundError, CredentialsError) as exc:
            return _failed(Reason.CREDENTIALS_NOT_FOUND, str(exc))
        except KubernetesUnavailableError as exc:
            return _failed(Reason.KUBERNETES_UNAVAILABLE, str(exc), retryable=True)
        except KubernetesError as exc:
            return _failed(Reason.CREDENTIALS_NOT_FOUND, str(exc))
        except Exception as exc:
            if not pass_result.guardrails_error(exc):
                raise
            return pass_result.failure_outcome(exc)
        return Outcome(
            kind=OutcomeKind.SUCCEEDED,
            reason=Reason.CREDENTIALS_VALID,
            message=f"an authenticated request to {client.endpoint} succeeded",
        )

    async def check(self, kind: WorkspaceKind, body: kopf.Body, *, force: bool = False) -> None:
        """Probe the workspace when due (``force``: now) and write its status if it changed."""
        workspace = workspace_object(kind, body)
        if workspace.deleting:
            return
        meta = body["metadata"]
        generation = int(meta.get("generation", 1))
        status = dict(body.get("status") or {})
        conditions = parse_conditions(status.get("conditions"))
        key = (str(kind), workspace.namespace, workspace.name)
        probed = self._probed.get(key)
        due = (
            force
            or probed is None
            or probed[1] != generation
            or time.monotonic() - probed[0] > RECHECK_SECONDS
        )
        if due:
            outcome = await self._probe(workspace)
            if outcome.kind is OutcomeKind.SUCCEEDED:
                self._probed[key] = (time.monotonic(), generation)
            else:
                self._probed.pop(key, None)
            conditions = [
                c
                for c in derive_conditions(
                    conditions, outcome, observed_generation=generation, now=datetime.now(UTC)
                )
                if c.type != ConditionType.SYNCED
            ]
        await self._write(workspace, body, conditions, generation)

    async def feed_changed(self, workspace: WorkspaceObject, state: FeedState) -> None:
        """The workspace's activity feed is followed, or not (and why): the FeedAvailable condition."""
        key = (str(workspace.kind), workspace.namespace, workspace.name)
        self._feeds[key] = state
        current = self._statuses.get(key)
        if current is None or workspace.deleting:
            return  # the next check writes it
        conditions = parse_conditions(current.get("conditions"))
        await self._write(
            workspace, {"status": current}, conditions, int(current.get("observedGeneration", 1))
        )

    def _with_feed(
        self, key: tuple[str, str, str], conditions: list[Condition], generation: int
    ) -> list[Condition]:
        state = self._feeds.get(key)
        if state is None:
            return conditions
        return set_condition(
            conditions,
            type=ConditionType.FEED_AVAILABLE,
            status="True" if state.available else "False",
            reason=state.reason,
            message=state.message,
            observed_generation=generation,
            now=datetime.now(UTC),
        )

    async def _write(
        self,
        workspace: WorkspaceObject,
        body: Mapping[str, Any],
        conditions: list[Condition],
        generation: int,
    ) -> None:
        key = (str(workspace.kind), workspace.namespace, workspace.name)
        current = dict(body.get("status") or {})
        users = len(self.users(workspace))
        new = {
            "observedGeneration": generation,
            "conditions": [c.to_wire() for c in self._with_feed(key, conditions, generation)],
            "policies": users,
        }
        if all(current.get(k) == v for k, v in new.items()):
            self._statuses[key] = current
            return  # an idle check writes nothing
        await self.kube.patch_status(workspace.namespace, workspace.name, new, PLURALS[workspace.kind])
        self._statuses[key] = {**current, **new}

    def users(self, workspace: WorkspaceObject) -> list[PolicyUse]:
        """The policies that use the workspace: of a cluster workspace, those of namespaces its scope allows,
        and those holding a pack made through it."""
        named = self.directory.users(workspace.kind, workspace.namespace, workspace.name)
        try:
            spec = self.resolver.parse(workspace)
        except WorkspaceRefusedError:
            return named  # an invalid workspace was never used by anyone: nothing to wait for either way
        if not isinstance(spec, ClusterGuardrailsWorkspaceSpec):
            return named
        allowed = spec.allowed_namespaces
        return [
            u
            for u in named
            if u.holds or allowed.allows(u.namespace, self.directory.namespace_labels(u.namespace))
        ]

    def forget(self, kind: WorkspaceKind, namespace: str, name: str) -> None:
        for known in (self._probed, self._feeds, self._statuses):
            known.pop((str(kind), namespace, name), None)

    # -- deletion ------------------------------------------------------------------------------------------
    async def release(self, kind: WorkspaceKind, body: kopf.Body) -> None:
        """Let the workspace go once no policy names it; raise ``kopf.TemporaryError`` while one does."""
        workspace = workspace_object(kind, body)
        users = self.users(workspace)
        if users:
            shown = ", ".join(map(str, users[:5])) + (f" and {len(users) - 5} more" if len(users) > 5 else "")
            message = f"in use by {len(users)} EcrPrivacyPolicy object(s) ({shown}): deletion waits for them"
            generation = int(body["metadata"].get("generation", 1))
            conditions = derive_conditions(
                parse_conditions((body.get("status") or {}).get("conditions")),
                Outcome(kind=OutcomeKind.DELETING, reason=Reason.IN_USE, message=message),
                observed_generation=generation,
                now=datetime.now(UTC),
            )
            await self._write(
                workspace, body, [c for c in conditions if c.type != ConditionType.SYNCED], generation
            )
            raise kopf.TemporaryError(message, delay=RELEASE_RETRY_SECONDS)
        try:
            spec = self.resolver.parse(workspace)
        except WorkspaceRefusedError:
            spec = None  # never valid: it protected nothing
        if spec is not None:
            await self._protect(workspace, spec, present=False)
        self.forget(kind, workspace.namespace, workspace.name)
        await self.resolver.pool.release(f"{workspace.label} {workspace.uid}")
