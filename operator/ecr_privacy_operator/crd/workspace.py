"""GuardrailsWorkspace and ClusterGuardrailsWorkspace specs as frozen pydantic models, and their pure rules.

A workspace object binds a Guardrails URL to the keys of one Secret. A namespaced ``GuardrailsWorkspace`` serves
only its own namespace (the Secret is in the same namespace). A cluster-scoped ``ClusterGuardrailsWorkspace``
holds a Secret in the operator's namespace and says which namespaces may use it (``allowedNamespaces``) and what
their policies may do there (the ``allowed*`` fields). Defaults equal the CRDs' (deploy/crds).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from pydantic import field_validator

from ecr_privacy_operator.crd.spec import API_GROUP, ROOT_AKA, Enforcement, WorkspaceKind, _SpecModel

WORKSPACE_PLURAL = "guardrailsworkspaces"
CLUSTER_WORKSPACE_PLURAL = "clusterguardrailsworkspaces"
PLURALS = {WorkspaceKind.NAMESPACED: WORKSPACE_PLURAL, WorkspaceKind.CLUSTER: CLUSTER_WORKSPACE_PLURAL}
# The finalizer a workspace keeps on its Secret (and, for a namespaced one, on the RoleBinding that lets the
# operator read it), one per workspace so that several workspaces can share a Secret: <prefix>/<name>.
FINALIZER_PREFIXES = {
    WorkspaceKind.NAMESPACED: f"{WORKSPACE_PLURAL[:-1]}.{API_GROUP}",
    WorkspaceKind.CLUSTER: f"{CLUSTER_WORKSPACE_PLURAL[:-1]}.{API_GROUP}",
}


# in allowedAkaPrefixes: the policy's namespace. It must be followed by a character that no namespace name holds
# (not a-z, 0-9 or '-'), so that namespace "team" never reaches the AKAs of namespace "team-b".
NAMESPACE_PLACEHOLDER = "{namespace}"
_PLACEHOLDER_ENDED = re.compile(r"\{namespace\}[^a-z0-9-]")


def usage_finalizer(kind: WorkspaceKind, name: str) -> str:
    """The finalizer the workspace ``kind``/``name`` keeps on what it needs (names are at most 63 characters)."""
    return f"{FINALIZER_PREFIXES[kind]}/{name}"


class WorkspaceSecretRef(_SpecModel):
    """The Secret with accessKey and secretKey (namespace: the workspace's, or the operator's for a cluster one)."""

    name: str


class GuardrailsWorkspaceSpec(_SpecModel):
    """spec of a GuardrailsWorkspace: the URL, the Secret and an optional CA bundle."""

    url: str
    credentials_secret_ref: WorkspaceSecretRef
    ca_bundle: str | None = None


class SelectorOperator(StrEnum):
    """Operators of a label selector requirement."""

    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"


class SelectorRequirement(_SpecModel):
    """One matchExpressions entry."""

    key: str
    operator: SelectorOperator
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        if self.operator is SelectorOperator.EXISTS:
            return present
        if self.operator is SelectorOperator.DOES_NOT_EXIST:
            return not present
        inside = present and labels[self.key] in self.values
        return inside if self.operator is SelectorOperator.IN else not inside


class LabelSelector(_SpecModel):
    """A Kubernetes label selector: every matchLabels entry and every requirement must hold."""

    match_labels: dict[str, str] = {}
    match_expressions: tuple[SelectorRequirement, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(labels.get(k) == v for k, v in self.match_labels.items()) and all(
            r.matches(labels) for r in self.match_expressions
        )


class AllowedNamespaces(_SpecModel):
    """The namespaces that may use a cluster workspace: those named, and those the selector matches."""

    names: tuple[str, ...] = ()
    selector: LabelSelector | None = None

    def allows(self, namespace: str, labels: Mapping[str, str] | None) -> bool:
        """``labels`` None: the namespace is unknown (then only ``names`` can allow it)."""
        if namespace in self.names:
            return True
        return self.selector is not None and labels is not None and self.selector.matches(labels)


class ClusterGuardrailsWorkspaceSpec(GuardrailsWorkspaceSpec):
    """spec of a ClusterGuardrailsWorkspace: a GuardrailsWorkspace's, plus who may do what."""

    allowed_namespaces: AllowedNamespaces
    allowed_targets: tuple[str, ...]
    allowed_enforcement: tuple[Enforcement, ...] = tuple(Enforcement)
    allowed_parents: tuple[str, ...] = (ROOT_AKA,)
    allowed_policy_types: tuple[str, ...] = ()
    allow_adoption: bool = False
    allow_adoption_from_other_clusters: bool = False
    allowed_aka_prefixes: tuple[str, ...] = ()
    allow_exceptions: bool = False
    max_exception_duration: str | None = None

    @field_validator("allowed_aka_prefixes")
    @classmethod
    def _placeholder_ended(cls, prefixes: tuple[str, ...]) -> tuple[str, ...]:
        for prefix in prefixes:
            if prefix.count(NAMESPACE_PLACEHOLDER) != len(_PLACEHOLDER_ENDED.findall(prefix)):
                raise ValueError(
                    f"allowedAkaPrefixes entry {prefix!r}: {NAMESPACE_PLACEHOLDER} must be followed by a character "
                    "no namespace name holds (e.g. ':' or '/')"
                )
        return prefixes

    def aka_prefixes(self, namespace: str) -> tuple[str, ...]:
        """The prefixes a policy of ``namespace`` may give its pack's AKAs (``{namespace}`` filled in); empty:
        any AKA."""
        return tuple(p.replace(NAMESPACE_PLACEHOLDER, namespace) for p in self.allowed_aka_prefixes)


def parse_workspace_spec(kind: WorkspaceKind, spec: Mapping[str, Any]) -> GuardrailsWorkspaceSpec:
    """Parse a workspace object's spec for its kind; raises ``pydantic.ValidationError``."""
    model = ClusterGuardrailsWorkspaceSpec if kind is WorkspaceKind.CLUSTER else GuardrailsWorkspaceSpec
    return model.model_validate(dict(spec))
