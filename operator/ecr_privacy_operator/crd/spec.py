"""The EcrPrivacyPolicy spec as frozen pydantic models, parsed once from Kopf's spec mapping.

Defaults equal the CRD's (``deploy/crds/ecrprivacy.dev_ecrprivacypolicies.yaml``; a unit test compares
them), so a field the apiserver did not default (an old object, a test dict) behaves exactly like a defaulted
one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, JsonValue, field_validator, model_validator
from pydantic.alias_generators import to_camel

API_GROUP = "ecrprivacy.dev"
API_VERSION = "v1alpha1"
KIND = "EcrPrivacyPolicy"
PLURAL = "ecrprivacypolicies"

SEED_APPROVED_TYPE = "tmod:@turbot/aws-ecr#/policy/types/publicRepositoryApproved"
SEED_USAGE_TYPE = "tmod:@turbot/aws-ecr#/policy/types/publicRepositoryApprovedUsage"
SEED_TYPES = frozenset({SEED_APPROVED_TYPE, SEED_USAGE_TYPE})
SEED_CONTROL_TYPE = "tmod:@turbot/aws-ecr#/control/types/publicRepositoryApproved"

SEED_TITLE = "Enforce AWS ECR Repositories Are Private"
SEED_DESCRIPTION = "Ensures that AWS ECR repositories are not publicly accessible."
SEED_AKA = "aws_ecr_enforce_private_repositories"
ROOT_AKA = "tmod:@turbot/turbot#/"
OWNERSHIP_AKA_PREFIX = f"{API_GROUP}/owner/"

_DURATION = re.compile(r"^([0-9]+(s|m|h|d))+$")
_DURATION_PART = re.compile(r"([0-9]+)(s|m|h|d)")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MIN_RESYNC_SECONDS = 10
MAX_RESYNC_SECONDS = 24 * 3600


class Enforcement(StrEnum):
    """spec.enforcement -> publicRepositoryApproved."""

    CHECK = "Check"
    ENFORCE = "Enforce"
    SKIP = "Skip"


class Usage(StrEnum):
    """spec.usage -> publicRepositoryApprovedUsage."""

    NOT_APPROVED = "NotApproved"
    APPROVED = "Approved"
    APPROVED_IF_ECR_ENABLED = "ApprovedIfEcrEnabled"


class Precedence(StrEnum):
    """Setting precedence as written in the spec (Guardrails: REQUIRED / RECOMMENDED)."""

    REQUIRED = "Required"
    RECOMMENDED = "Recommended"


class DriftPolicy(StrEnum):
    """What to do with changes made in Guardrails outside the operator."""

    CORRECT = "Correct"
    REPORT = "Report"


class ManagementPolicy(StrEnum):
    """Whether the operator may write to Guardrails."""

    MANAGE = "Manage"
    OBSERVE = "Observe"


class DeletionPolicy(StrEnum):
    """What happens in Guardrails when the object is deleted."""

    DELETE = "Delete"
    ORPHAN = "Orphan"


class _SpecModel(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True, alias_generator=to_camel, extra="ignore")


class WorkspaceKind(StrEnum):
    """The kinds of workspace object a policy may name."""

    NAMESPACED = "GuardrailsWorkspace"
    CLUSTER = "ClusterGuardrailsWorkspace"


class WorkspaceRef(_SpecModel):
    """spec.workspaceRef: the workspace object holding the URL and keys (a namespaced one in the object's
    namespace)."""

    kind: WorkspaceKind = WorkspaceKind.NAMESPACED
    name: str


class PolicyPackSpec(_SpecModel):
    """The pack itself; defaults are the seed pack's."""

    title: str = SEED_TITLE
    description: str = SEED_DESCRIPTION
    akas: tuple[str, ...] = (SEED_AKA,)
    parent: str = ROOT_AKA
    adopt: bool = False
    adopt_from_other_clusters: bool = False


class AdditionalSetting(_SpecModel):
    """A setting of another policy type in the same pack: exactly one of value / valueSource."""

    type: str
    value: JsonValue = None
    value_source: str | None = None
    precedence: Precedence | None = None
    note: str | None = None

    @model_validator(mode="after")
    def _exactly_one_value(self) -> AdditionalSetting:
        # The apiserver prunes a JSON null, so "value: null" counts as absent here too.
        if (self.value is None) == (self.value_source is None):
            raise ValueError("exactly one of value or valueSource must be set")
        if self.type in SEED_TYPES:
            raise ValueError("the seed policy types are set through spec.enforcement and spec.usage")
        return self


class Attachment(_SpecModel):
    """One attachment target: a Guardrails id or AKA."""

    resource: str


class EcrPrivacyPolicySpec(_SpecModel):
    """The whole spec (``.spec`` of an EcrPrivacyPolicy)."""

    workspace_ref: WorkspaceRef | None = None  # required by the CRD; None only in objects made without it
    policy_pack: PolicyPackSpec = PolicyPackSpec()
    enforcement: Enforcement = Enforcement.CHECK
    usage: Usage = Usage.NOT_APPROVED
    precedence: Precedence = Precedence.REQUIRED
    additional_settings: tuple[AdditionalSetting, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    drift_policy: DriftPolicy = DriftPolicy.CORRECT
    management_policy: ManagementPolicy = ManagementPolicy.MANAGE
    deletion_policy: DeletionPolicy = DeletionPolicy.DELETE
    resync_interval: str = "30m"  # the CRD default (a unit test compares them)
    suspend: bool = False

    @field_validator("resync_interval")
    @classmethod
    def _valid_duration(cls, raw: str) -> str:
        seconds = parse_duration(raw)
        if not MIN_RESYNC_SECONDS <= seconds <= MAX_RESYNC_SECONDS:
            raise ValueError("resyncInterval must be between 10s and 24h")
        return raw

    @property
    def resync_seconds(self) -> int:
        """The resync interval in seconds."""
        return parse_duration(self.resync_interval)

    @property
    def attachment_targets(self) -> tuple[str, ...]:
        """The attachment targets in spec order."""
        return tuple(a.resource for a in self.attachments)


def parse_duration(text: str) -> int:
    """Parse the CRDs' duration format (e.g. ``5m``, ``1h30m``, ``90d``) into seconds."""
    if not _DURATION.match(text):
        raise ValueError(f"invalid duration {text!r}: expected e.g. 30s, 5m, 1h30m")
    return sum(int(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_PART.findall(text))


def parse_spec(spec: Mapping[str, Any]) -> EcrPrivacyPolicySpec:
    """Parse Kopf's ``spec`` (any mapping) into the frozen model; raises ``pydantic.ValidationError``."""
    return EcrPrivacyPolicySpec.model_validate(dict(spec))
