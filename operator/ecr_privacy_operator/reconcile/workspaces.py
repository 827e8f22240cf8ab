"""Resolve the workspace object an EcrPrivacyPolicy names into a Guardrails client and the scope it must keep.

The order is the security argument: nothing is sent anywhere, and no Secret is read, until
1. the workspace object exists (a namespaced one in the policy's own namespace) and parses;
2. a cluster workspace allows the policy's namespace;
3. the workspace URL's host is in the operator's allowlist.
Only then is the Secret the workspace names read (in the workspace's namespace, or the operator's namespace for
a cluster workspace: never a namespace the policy chose) and a client made for exactly that URL.

``refusal`` then checks the spec against a cluster workspace's scope (``scopes``): targets and the pack's parent
against its allowed resources, on resource paths read from Guardrails and cached (paths change only when a
resource moves), so an idle resync costs no extra request; ``adoption_refusal`` checks a pack found by its AKA
the same way before it is adopted or observed. A deletion (``cleanup``) skips only the namespace check: a
policy whose namespace lost its permission still removes the pack it made, with the keys it made it with.
The object lookups are plain callables that the handlers feed from Kopf's indices; nothing here imports Kopf
or Kubernetes code.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pydantic
from pydantic import SecretStr

from ecr_privacy_operator.crd.conditions import Reason
from ecr_privacy_operator.crd.spec import EcrPrivacyPolicySpec, WorkspaceKind, WorkspaceRef
from ecr_privacy_operator.crd.workspace import (
    ClusterGuardrailsWorkspaceSpec,
    GuardrailsWorkspaceSpec,
    parse_workspace_spec,
)
from ecr_privacy_operator.guardrails.client import GuardrailsClient
from ecr_privacy_operator.guardrails.endpoint import graphql_endpoint
from ecr_privacy_operator.guardrails.errors import ConfigurationError
from ecr_privacy_operator.guardrails.models import ResourceInfo
from ecr_privacy_operator.reconcile import scopes
from ecr_privacy_operator.reconcile.clients import ClientPool, CredentialsError, credentials_from_secret
from ecr_privacy_operator.reconcile.observed import ObservedPack, ObservedSetting
from ecr_privacy_operator.reconcile.scopes import Refusal

PATH_CACHE_SECONDS = 600.0


class WorkspaceRefusedError(Exception):
    """The policy's workspace cannot be used (missing, invalid, not allowed here): nothing was sent."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.message)
        self.refusal = refusal


@dataclass(frozen=True)
class WorkspaceObject:
    """A workspace object as the index holds it: kind, where it is, its raw spec, and whether it is going away."""

    kind: WorkspaceKind
    namespace: str  # "" for a cluster workspace
    name: str
    spec: Mapping[str, Any]
    uid: str = ""
    deleting: bool = False

    @property
    def label(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {where}"


@dataclass(frozen=True)
class ResolvedWorkspace:
    """A usable workspace: its client and, for a cluster workspace, what policies may do there."""

    workspace: WorkspaceObject
    client: GuardrailsClient
    scope: ClusterGuardrailsWorkspaceSpec | None
    namespace: str = ""  # the policy's


FindWorkspace = Callable[[WorkspaceKind, str, str], WorkspaceObject | None]
NamespaceLabels = Callable[[str], Mapping[str, str] | None]
ReadSecret = Callable[[str, str], Awaitable[Mapping[str, SecretStr]]]


def _no_workspace(kind: WorkspaceKind, namespace: str, name: str) -> WorkspaceObject | None:
    return None


def _no_labels(namespace: str) -> Mapping[str, str] | None:
    return None


@dataclass
class WorkspaceResolver:
    """Turns workspace references into clients; shared by every pass through the runtime."""

    pool: ClientPool
    read_secret: ReadSecret
    allowed_hosts: tuple[str, ...]
    operator_namespace: str | None
    find: FindWorkspace = _no_workspace
    namespace_labels: NamespaceLabels = _no_labels
    # per client: resource ref -> (read at, the resource or None); weak, so a closed client's cache goes too
    _paths: weakref.WeakKeyDictionary[GuardrailsClient, dict[str, tuple[float, ResourceInfo | None]]] = field(
        default_factory=weakref.WeakKeyDictionary
    )

    # -- the workspace object ------------------------------------------------------------------------------
    def locate(
        self, ref: WorkspaceRef | None, namespace: str, *, cleanup: bool = False
    ) -> tuple[WorkspaceObject, GuardrailsWorkspaceSpec]:
        """The workspace a policy in ``namespace`` names, checked for existence, validity and (unless
        ``cleanup``: a deletion of what the policy made) namespace."""
        if ref is None:
            raise WorkspaceRefusedError(
                Refusal(Reason.INVALID_SPEC, "spec.workspaceRef is required: name a GuardrailsWorkspace")
            )
        where = namespace if ref.kind is WorkspaceKind.NAMESPACED else ""
        found = self.find(ref.kind, where, ref.name)
        if found is None:
            shown = f"{namespace}/{ref.name}" if where else ref.name
            raise WorkspaceRefusedError(
                Refusal(Reason.WORKSPACE_NOT_FOUND, f"{ref.kind} {shown} does not exist", retryable=True)
            )
        spec = self.parse(found)
        if isinstance(spec, ClusterGuardrailsWorkspaceSpec) and not cleanup:
            refusal = scopes.namespace_refusal(spec, found.name, namespace, self.namespace_labels(namespace))
            if refusal is not None:
                raise WorkspaceRefusedError(refusal)
        return found, spec

    @staticmethod
    def parse(workspace: WorkspaceObject) -> GuardrailsWorkspaceSpec:
        try:
            return parse_workspace_spec(workspace.kind, workspace.spec)
        except pydantic.ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise WorkspaceRefusedError(
                Refusal(Reason.INVALID_WORKSPACE, f"{workspace.label} is invalid: {problems}")
            ) from None

    def secret_of(self, workspace: WorkspaceObject, spec: GuardrailsWorkspaceSpec) -> tuple[str, str]:
        """(namespace, name) of the workspace's Secret: its own namespace, or the operator's for a cluster one."""
        if workspace.kind is WorkspaceKind.NAMESPACED:
            return workspace.namespace, spec.credentials_secret_ref.name
        if not self.operator_namespace:
            raise WorkspaceRefusedError(
                Refusal(
                    Reason.CREDENTIALS_NOT_FOUND,
                    "the operator does not know its own namespace (ECR_PRIVACY_OPERATOR_NAMESPACE), where the "
                    f"Secret of {workspace.label} lives",
                )
            )
        return self.operator_namespace, spec.credentials_secret_ref.name

    # -- the client ----------------------------------------------------------------------------------------
    async def connect(
        self, workspace: WorkspaceObject, spec: GuardrailsWorkspaceSpec, user: str
    ) -> GuardrailsClient:
        """A client for the workspace: the host allowlist first, then the Secret, then the pooled client, which
        records ``user`` (an object's UID) as using it."""
        try:
            endpoint = graphql_endpoint(spec.url)
        except ConfigurationError as exc:
            raise WorkspaceRefusedError(
                Refusal(Reason.INVALID_WORKSPACE, f"{workspace.label}: {exc}")
            ) from None
        refusal = scopes.host_refusal(endpoint, self.allowed_hosts, workspace.label)
        if refusal is not None:
            raise WorkspaceRefusedError(refusal)
        secret_ns, secret_name = self.secret_of(workspace, spec)
        data = await self.read_secret(secret_ns, secret_name)
        source = f"Secret {secret_ns}/{secret_name} of {workspace.label}"
        credentials = credentials_from_secret(data, spec.url, source)
        return self.pool.get(credentials, spec.ca_bundle, user=user)

    async def resolve(
        self, ref: WorkspaceRef | None, namespace: str, user: str, *, cleanup: bool = False
    ) -> ResolvedWorkspace:
        """The workspace of the policy ``user`` (its UID), ready to use (``cleanup``: to delete what the policy
        made; the namespace need not be allowed any more). Raises ``WorkspaceRefusedError``,
        ``CredentialsError`` or the Secret reader's errors; sends nothing to Guardrails."""
        workspace, spec = self.locate(ref, namespace, cleanup=cleanup)
        client = await self.connect(workspace, spec, user)
        scope = spec if isinstance(spec, ClusterGuardrailsWorkspaceSpec) else None
        return ResolvedWorkspace(workspace=workspace, client=client, scope=scope, namespace=namespace)

    def secret_for(self, ref: WorkspaceRef | None, namespace: str) -> tuple[str, str] | None:
        """The Secret a policy's workspace reads, if the workspace can be found (to drop it from a cache)."""
        try:
            workspace, spec = self.locate(ref, namespace)
            return self.secret_of(workspace, spec)
        except WorkspaceRefusedError:
            return None

    # -- scope checks --------------------------------------------------------------------------------------
    async def refusal(
        self, resolved: ResolvedWorkspace, spec: EcrPrivacyPolicySpec, applied: Sequence[str] = ()
    ) -> Refusal | None:
        """What the workspace does not allow in ``spec`` (None: all allowed), read with the client that would
        write. ``applied``: the targets earlier passes attached; any the scope no longer allows are in the
        refusal's ``withdraw``, whatever else it refuses. Reads only resources whose path is not cached; reads
        nothing for a namespaced workspace."""
        scope = resolved.scope
        if scope is None:
            return None
        name = resolved.workspace.name
        resources = await self._resources(resolved.client, scopes.placement_refs(scope, spec, applied))
        placement = scopes.placement_refusal(scope, name, spec, resources, applied)
        refusal = scopes.spec_refusal(scope, name, spec, resolved.namespace) or placement
        if refusal is not None and placement is not None and placement.withdraw:
            refusal = dataclasses.replace(refusal, withdraw=placement.withdraw)
        return refusal

    async def adoption_refusal(
        self, resolved: ResolvedWorkspace, pack: ObservedPack, settings: Sequence[ObservedSetting]
    ) -> Refusal | None:
        """Whether the workspace lets its policies adopt (or observe) ``pack``, a pack found by its AKA: for a
        cluster workspace, only when everything the pack does is inside the scope."""
        scope = resolved.scope
        if scope is None:
            return None
        resources = await self._resources(resolved.client, scopes.adoption_refs(scope, pack))
        return scopes.adoption_refusal(scope, resolved.workspace.name, pack, settings, resources)

    async def _resources(
        self, client: GuardrailsClient, refs: tuple[str, ...]
    ) -> dict[str, ResourceInfo | None]:
        cache = self._paths.setdefault(client, {})
        now = time.monotonic()
        stale = [r for r in refs if r not in cache or now - cache[r][0] > PATH_CACHE_SECONDS]
        if stale:
            found = await asyncio.gather(*(client.read_resource(r) for r in stale))
            fresh = dict(zip(stale, found, strict=True))
            for ref, info in fresh.items():
                if info is not None:  # a missing resource may appear: ask again next time
                    cache[ref] = (now, info)
                else:
                    cache.pop(ref, None)
        return {r: cache[r][1] if r in cache else None for r in refs}


__all__ = [
    "CredentialsError",
    "FindWorkspace",
    "ResolvedWorkspace",
    "WorkspaceObject",
    "WorkspaceRefusedError",
    "WorkspaceResolver",
]
