"""What a workspace lets a policy do, as pure checks that run before anything is written to Guardrails.

- ``host_refusal``: the operator-wide allowlist of workspace hosts (``*.cloud.turbot.com`` style patterns).
- ``namespace_refusal``: a cluster workspace serves only the namespaces it allows.
- ``spec_refusal``: enforcement values, additional policy types and adoption a cluster workspace allows.
- ``placement_refusal``: attachment targets and the pack's parent must lie under an allowed resource, where
  "under" is Guardrails' own resource path (the ids of a resource's ancestors), never a test on strings.

Each returns a ``Refusal`` (a condition reason and a message) or None. A namespaced workspace (``scope`` None)
belongs to the policy's own namespace and its keys are the team's own: only the host allowlist applies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from ecr_privacy_operator.crd.conditions import Outcome, OutcomeKind, Reason
from ecr_privacy_operator.crd.spec import EcrPrivacyPolicySpec
from ecr_privacy_operator.crd.workspace import ClusterGuardrailsWorkspaceSpec
from ecr_privacy_operator.guardrails.models import ResourceInfo


@dataclass(frozen=True)
class Refusal:
    """Why a policy may not go ahead: a condition reason and a message for the user."""

    reason: Reason
    message: str
    retryable: bool = False  # False: Stalled until the spec or the workspace changes

    def outcome(self) -> Outcome:
        return Outcome(
            kind=OutcomeKind.FAILED, reason=self.reason, message=self.message, retryable=self.retryable
        )


def host_of(endpoint: str) -> str:
    """The host name of a URL (lower case, no port)."""
    return (urlsplit(endpoint).hostname or "").lower()


def host_allowed(endpoint: str, patterns: tuple[str, ...]) -> bool:
    """True if the URL's host matches one pattern: an exact host, or ``*.domain`` for any host below it."""
    host = host_of(endpoint)
    if not host:
        return False
    for pattern in patterns:
        wanted = pattern.strip().lower()
        if wanted.startswith("*."):
            if host.endswith(wanted[1:]) and host != wanted[2:]:
                return True
        elif host == wanted:
            return True
    return False


def host_refusal(endpoint: str, patterns: tuple[str, ...], source: str) -> Refusal | None:
    if host_allowed(endpoint, patterns):
        return None
    return Refusal(
        Reason.HOST_NOT_ALLOWED,
        f"{source} points at host {host_of(endpoint) or endpoint!r}, which is not in the operator's allowlist of "
        f"workspace hosts ({', '.join(patterns) or 'empty'}); no request was sent. A cluster admin can add it "
        "(--allowed-hosts, ECR_PRIVACY_ALLOWED_HOSTS, chart value config.allowedWorkspaceHosts)",
    )


def namespace_refusal(
    scope: ClusterGuardrailsWorkspaceSpec, name: str, namespace: str, labels: Mapping[str, str] | None
) -> Refusal | None:
    if scope.allowed_namespaces.allows(namespace, labels):
        return None
    return Refusal(
        Reason.WORKSPACE_NOT_ALLOWED,
        f"ClusterGuardrailsWorkspace {name} does not allow namespace {namespace} (spec.allowedNamespaces)",
    )


def spec_refusal(
    scope: ClusterGuardrailsWorkspaceSpec, name: str, spec: EcrPrivacyPolicySpec
) -> Refusal | None:
    """Enforcement, additional policy types and adoption, as the cluster workspace ``name`` allows them."""
    if spec.enforcement not in scope.allowed_enforcement:
        allowed = ", ".join(scope.allowed_enforcement)
        return Refusal(
            Reason.ENFORCEMENT_NOT_ALLOWED,
            f"enforcement {spec.enforcement} is not allowed by ClusterGuardrailsWorkspace {name} "
            f"(allowedEnforcement: {allowed})",
        )
    for setting in spec.additional_settings:
        if setting.type not in scope.allowed_policy_types:
            return Refusal(
                Reason.POLICY_TYPE_NOT_ALLOWED,
                f"additionalSettings type {setting.type} is not allowed by ClusterGuardrailsWorkspace {name} "
                "(allowedPolicyTypes)",
            )
    if spec.policy_pack.adopt and not scope.allow_adoption:
        return Refusal(
            Reason.ADOPTION_NOT_ALLOWED,
            f"policyPack.adopt is not allowed by ClusterGuardrailsWorkspace {name} (allowAdoption is false)",
        )
    return None


def placement_refs(scope: ClusterGuardrailsWorkspaceSpec, spec: EcrPrivacyPolicySpec) -> tuple[str, ...]:
    """Every resource ``placement_refusal`` needs read: the spec's targets and parent, and the allowed ones."""
    refs = (*spec.attachment_targets, spec.policy_pack.parent, *scope.allowed_targets, *scope.allowed_parents)
    return tuple(dict.fromkeys(refs))


def _ancestors(info: ResourceInfo) -> set[str]:
    """The ids on the resource's path (itself included), as Guardrails reports them."""
    ids = {part for part in (info.path or "").split(".") if part}
    if info.id:
        ids.add(info.id)
    return ids


def _outside(ref: str, allowed: tuple[str, ...], resources: Mapping[str, ResourceInfo | None]) -> bool | None:
    """True if ``ref`` is under none of ``allowed``; None if ``ref`` does not exist."""
    info = resources.get(ref)
    if info is None:
        return None
    allowed_ids = {found.id for a in allowed if (found := resources.get(a)) is not None and found.id}
    return not (_ancestors(info) & allowed_ids)


def placement_refusal(
    scope: ClusterGuardrailsWorkspaceSpec,
    name: str,
    spec: EcrPrivacyPolicySpec,
    resources: Mapping[str, ResourceInfo | None],
) -> Refusal | None:
    """Targets and the parent against ``allowedTargets``/``allowedParents``, on the resources as read."""
    for target in spec.attachment_targets:
        outside = _outside(target, scope.allowed_targets, resources)
        if outside is None:
            return Refusal(
                Reason.TARGET_NOT_FOUND,
                f"attachment target {target} does not exist in Guardrails (or these keys cannot see it)",
                retryable=True,
            )
        if outside:
            return Refusal(
                Reason.TARGET_NOT_ALLOWED,
                f"attachment target {target} is not under any of the allowedTargets of "
                f"ClusterGuardrailsWorkspace {name} ({', '.join(scope.allowed_targets)})",
            )
    parent = spec.policy_pack.parent
    outside = _outside(parent, scope.allowed_parents, resources)
    if outside is None or outside:
        return Refusal(
            Reason.PARENT_NOT_ALLOWED,
            f"policyPack.parent {parent} is not under any of the allowedParents of ClusterGuardrailsWorkspace "
            f"{name} ({', '.join(scope.allowed_parents)})",
        )
    return None
