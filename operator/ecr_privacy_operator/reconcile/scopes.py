"""What a workspace lets a policy do, as pure checks that run before anything is written to Guardrails.

- ``host_refusal``: the operator-wide allowlist of workspace hosts (``*.cloud.turbot.com`` style patterns,
  https and port 443 unless an entry opts in to ``http://`` or names a port: ``HostEntry``).
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


DEFAULT_PORTS = {"https": 443, "http": 80}


@dataclass(frozen=True)
class HostEntry:
    """One allowlist entry, ``[http://|https://]host[:port|:*]``: an exact host or ``*.domain`` (any host below
    it); https unless the entry says ``http://`` (an explicit opt-in for plain HTTP, e.g. an emulator); only
    the scheme's default port unless the entry names one (``*``: any port)."""

    scheme: str
    host: str
    port: int | None  # None: any port

    @classmethod
    def parse(cls, text: str) -> HostEntry:
        """Parse an entry; raises ``ValueError`` with what is wrong."""
        entry = text.strip().lower()
        scheme = "https"
        for prefix in ("https://", "http://"):
            if entry.startswith(prefix):
                scheme, entry = prefix[:-3], entry[len(prefix) :]
        host, colon, port = entry.partition(":")
        wildcard = host.startswith("*.")
        bare = host[2:] if wildcard else host
        if not bare or "*" in bare or "/" in entry or not all(bare.split(".")):
            raise ValueError(
                f"allowed host {text!r}: expected [http://]host[:port] or [http://]*.domain[:port]"
            )
        if not colon:
            return cls(scheme, host, DEFAULT_PORTS[scheme])
        if port == "*":
            return cls(scheme, host, None)
        if not port.isdigit() or not 1 <= int(port) <= 65535:
            raise ValueError(f"allowed host {text!r}: the port must be 1-65535 or *")
        return cls(scheme, host, int(port))

    def allows(self, scheme: str, host: str, port: int) -> bool:
        if scheme != self.scheme or (self.port is not None and port != self.port):
            return False
        if self.host.startswith("*."):
            return host.endswith(self.host[1:]) and host != self.host[2:]
        return host == self.host


def host_of(endpoint: str) -> str:
    """The host name of a URL (lower case, no port)."""
    return (urlsplit(endpoint).hostname or "").lower()


def _entries(patterns: tuple[str, ...]) -> list[HostEntry]:
    """The entries that parse (the operator's configuration refuses the others at start-up)."""
    entries = []
    for pattern in patterns:
        try:
            entries.append(HostEntry.parse(pattern))
        except ValueError:
            continue
    return entries


def host_allowed(endpoint: str, patterns: tuple[str, ...]) -> bool:
    """True if one entry allows the URL's scheme, host and port (see ``HostEntry``)."""
    parts = urlsplit(endpoint)
    host, scheme = (parts.hostname or "").lower(), parts.scheme.lower()
    try:
        port = parts.port or DEFAULT_PORTS.get(scheme, 0)
    except ValueError:  # a port past 65535
        return False
    if not host or scheme not in DEFAULT_PORTS:
        return False
    return any(entry.allows(scheme, host, port) for entry in _entries(patterns))


def host_refusal(endpoint: str, patterns: tuple[str, ...], source: str) -> Refusal | None:
    if host_allowed(endpoint, patterns):
        return None
    parts = urlsplit(endpoint)
    shown = f"{parts.scheme}://{parts.netloc}" if parts.netloc else repr(endpoint)
    return Refusal(
        Reason.HOST_NOT_ALLOWED,
        f"{source} points at {shown}, which is not in the operator's allowlist of workspace hosts "
        f"({', '.join(patterns) or 'empty'}; https and port 443 unless an entry names http:// or a port); no "
        "request was sent. A cluster admin can add it (--allowed-hosts or ECR_PRIVACY_ALLOWED_HOSTS; chart value "
        "allowedWorkspaceHosts)",
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
