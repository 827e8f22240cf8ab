"""What a workspace lets a policy do, as pure checks that run before anything is written to Guardrails.

- ``host_refusal``: the operator-wide allowlist of workspace hosts (``*.cloud.turbot.com`` style patterns,
  https and port 443 unless an entry opts in to ``http://`` or names a port: ``HostEntry``).
- ``namespace_refusal``: a cluster workspace serves only the namespaces it allows.
- ``spec_refusal``: enforcement values, additional policy types, AKA prefixes and adoption (also from other
  clusters) a cluster workspace allows.
- ``placement_refusal``: attachment targets and the pack's parent must lie under an allowed resource, where
  "under" is Guardrails' own resource path (the ids of a resource's ancestors), never a test on strings. A
  target that does not exist answers exactly like one outside the scope, so the org's keys never tell a tenant
  whether a resource it may not use exists.
- ``targets_outside``: the building block of the two above and of anything else that must stay inside a scope
  (e.g. exceptions): which of some resources are not under the allowed ones, on their paths as read.
- ``adoption_refusal``: a pack found by its AKA is adopted (or observed) only if everything it already does is
  inside the scope: its parent, every attachment, every setting's policy type and value. The message says
  which part is outside, and names no resource outside the scope.

Each returns a ``Refusal`` (a condition reason and a message) or None. A namespaced workspace (``scope`` None)
belongs to the policy's own namespace and its keys are the team's own: only the host allowlist applies.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from ecr_privacy_operator.crd.conditions import Outcome, OutcomeKind, Reason
from ecr_privacy_operator.crd.spec import SEED_APPROVED_TYPE, SEED_TYPES, EcrPrivacyPolicySpec, Enforcement
from ecr_privacy_operator.crd.workspace import ClusterGuardrailsWorkspaceSpec
from ecr_privacy_operator.guardrails.models import ResourceInfo
from ecr_privacy_operator.reconcile.desired import ENFORCEMENT_VALUES
from ecr_privacy_operator.reconcile.observed import ObservedPack, ObservedSetting, json_equal


@dataclass(frozen=True)
class Refusal:
    """Why a policy may not go ahead: a condition reason and a message for the user."""

    reason: Reason
    message: str
    retryable: bool = False  # False: Stalled until the spec or the workspace changes
    # targets the object's pack was attached to that the scope no longer allows (to detach them)
    withdraw: tuple[str, ...] = ()

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
        f"ClusterGuardrailsWorkspace {name} does not allow namespace {namespace} (spec.allowedNamespaces): "
        "nothing is written through it; a pack the policy made before stays as it is, and deleting the policy "
        "still removes it",
    )


def spec_refusal(
    scope: ClusterGuardrailsWorkspaceSpec, name: str, spec: EcrPrivacyPolicySpec, namespace: str
) -> Refusal | None:
    """Enforcement, additional policy types, AKAs and adoption, as the cluster workspace ``name`` allows them
    to a policy of ``namespace``."""
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
    pack = spec.policy_pack
    if pack.adopt and pack.adopt_from_other_clusters and not scope.allow_adoption_from_other_clusters:
        return Refusal(
            Reason.ADOPTION_NOT_ALLOWED,
            f"policyPack.adoptFromOtherClusters is not allowed by ClusterGuardrailsWorkspace {name} "
            "(allowAdoptionFromOtherClusters is false)",
        )
    return aka_refusal(scope, name, pack.akas, namespace)


def aka_refusal(
    scope: ClusterGuardrailsWorkspaceSpec, name: str, akas: Sequence[str], namespace: str
) -> Refusal | None:
    """Every AKA must start with one of the workspace's ``allowedAkaPrefixes`` for this namespace (none set:
    any AKA), so that no tenant claims another team's AKA first."""
    prefixes = scope.aka_prefixes(namespace)
    if not prefixes:
        return None
    for aka in akas:
        if not aka.startswith(prefixes):
            return Refusal(
                Reason.AKA_NOT_ALLOWED,
                f"policyPack.akas entry {aka} does not start with any of the AKA prefixes ClusterGuardrailsWorkspace "
                f"{name} gives namespace {namespace} ({', '.join(prefixes)}; allowedAkaPrefixes)",
            )
    return None


def placement_refs(
    scope: ClusterGuardrailsWorkspaceSpec, spec: EcrPrivacyPolicySpec, applied: Sequence[str] = ()
) -> tuple[str, ...]:
    """Every resource ``placement_refusal`` needs read: the spec's targets and parent, the targets applied
    before, and the allowed ones."""
    refs = (
        *spec.attachment_targets,
        *applied,
        spec.policy_pack.parent,
        *scope.allowed_targets,
        *scope.allowed_parents,
    )
    return tuple(dict.fromkeys(refs))


def _ancestors(info: ResourceInfo) -> set[str]:
    """The ids on the resource's path (itself included), as Guardrails reports them."""
    ids = {part for part in (info.path or "").split(".") if part}
    if info.id:
        ids.add(info.id)
    return ids


def targets_outside(
    allowed: Sequence[str], refs: Iterable[str], resources: Mapping[str, ResourceInfo | None]
) -> tuple[str, ...]:
    """The refs (ids or AKAs) that are not under any of ``allowed``, on their Guardrails paths as read into
    ``resources`` (ref -> the resource, None when it does not exist). A ref that does not exist, or was not
    read, counts as outside: nothing is allowed on a guess."""
    allowed_ids = {found.id for a in allowed if (found := resources.get(a)) is not None and found.id}
    outside = []
    for ref in dict.fromkeys(refs):
        info = resources.get(ref)
        if info is None or not (_ancestors(info) & allowed_ids):
            outside.append(ref)
    return tuple(outside)


def placement_refusal(
    scope: ClusterGuardrailsWorkspaceSpec,
    name: str,
    spec: EcrPrivacyPolicySpec,
    resources: Mapping[str, ResourceInfo | None],
    applied: Sequence[str] = (),
) -> Refusal | None:
    """Targets and the parent against ``allowedTargets``/``allowedParents``, on the resources as read.
    ``applied``: the targets the pack was attached to by earlier passes; those now outside the scope are
    named in the refusal's ``withdraw`` (the scope narrowed)."""
    withdraw = targets_outside(scope.allowed_targets, applied, resources)
    outside = targets_outside(scope.allowed_targets, spec.attachment_targets, resources)
    if outside or withdraw:
        shown = ", ".join(dict.fromkeys((*outside, *withdraw)))
        return Refusal(
            Reason.TARGET_NOT_ALLOWED,
            f"attachment target {shown}: not under any of the allowedTargets of ClusterGuardrailsWorkspace "
            f"{name} ({', '.join(scope.allowed_targets)}), or does not exist",
            withdraw=withdraw,
        )
    parent = spec.policy_pack.parent
    if targets_outside(scope.allowed_parents, (parent,), resources):
        return Refusal(
            Reason.PARENT_NOT_ALLOWED,
            f"policyPack.parent {parent} is not under any of the allowedParents of ClusterGuardrailsWorkspace "
            f"{name} ({', '.join(scope.allowed_parents)})",
        )
    return None


def adoption_refs(scope: ClusterGuardrailsWorkspaceSpec, pack: ObservedPack) -> tuple[str, ...]:
    """Every resource ``adoption_refusal`` needs read: the pack's parent and attachments, and the allowed ones."""
    refs = (*([pack.parent_id] if pack.parent_id else []), *(pack.attached_to or ()))
    return tuple(dict.fromkeys((*refs, *scope.allowed_targets, *scope.allowed_parents)))


def _enforcement_of(setting: ObservedSetting) -> Enforcement | None:
    return next((e for e, v in ENFORCEMENT_VALUES.items() if json_equal(v, setting.value)), None)


def _settings_outside(
    scope: ClusterGuardrailsWorkspaceSpec, settings: Sequence[ObservedSetting]
) -> list[str]:
    problems = []
    every_value = set(scope.allowed_enforcement) == set(Enforcement)
    for setting in settings:
        if setting.type not in SEED_TYPES and setting.type not in scope.allowed_policy_types:
            problems.append(f"it has a setting of policy type {setting.type} (not in allowedPolicyTypes)")
        elif setting.type == SEED_APPROVED_TYPE and not every_value:
            if setting.value_source is not None:
                problems.append("its Approved setting is calculated, so allowedEnforcement cannot be checked")
            elif _enforcement_of(setting) not in scope.allowed_enforcement:
                problems.append("its Approved setting has a value allowedEnforcement does not allow")
    return problems


def adoption_refusal(
    scope: ClusterGuardrailsWorkspaceSpec,
    name: str,
    pack: ObservedPack,
    settings: Sequence[ObservedSetting],
    resources: Mapping[str, ResourceInfo | None],
) -> Refusal | None:
    """Whether a pack found by its AKA may be adopted (or observed) through the cluster workspace ``name``:
    only if its parent, every attachment and every setting are inside the scope. ``resources``: the refs of
    ``adoption_refs`` as read."""
    problems = []
    if pack.parent_id is None or targets_outside(scope.allowed_parents, (pack.parent_id,), resources):
        problems.append("its parent is not under allowedParents")
    if pack.attached_to is None:
        problems.append("its attachments could not be read")
    elif outside := targets_outside(scope.allowed_targets, pack.attached_to, resources):
        problems.append(f"it is attached to {len(outside)} resource(s) outside allowedTargets")
    problems.extend(_settings_outside(scope, settings))
    if not problems:
        return None
    return Refusal(
        Reason.ADOPTION_NOT_ALLOWED,
        f"the pack holding policyPack.akas does more than ClusterGuardrailsWorkspace {name} allows, so it is "
        f"neither adopted nor observed (nothing was changed): {'; '.join(problems)}",
    )
