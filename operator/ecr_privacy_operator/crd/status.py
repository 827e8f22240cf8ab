"""The EcrPrivacyPolicy status as pydantic models: read tolerantly from the object, written as a patch."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, JsonValue, ValidationError
from pydantic.alias_generators import to_camel

from ecr_privacy_operator.crd.conditions import Condition, parse_conditions


class _StatusModel(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True, alias_generator=to_camel, extra="ignore")


class PolicyPackStatus(_StatusModel):
    """The pack in Guardrails."""

    id: str
    akas: tuple[str, ...] = ()


class SettingStatus(_StatusModel):
    """One setting on the pack (``value`` is the valueSource text for settings made through valueSource)."""

    type: str
    id: str
    value: JsonValue = None


class AttachmentStatus(_StatusModel):
    """One attachment, as given in the spec and as resolved."""

    resource: str
    resource_id: str | None = None


class DriftStatus(_StatusModel):
    """One difference between the spec and Guardrails."""

    object: str
    field: str
    desired: JsonValue = None
    actual: JsonValue = None
    detected_at: str | None = None
    corrected: bool = False


class AppliedValue(_StatusModel):
    """The desired value last applied to one field (``object`` and ``field`` as in ``drift``): under
    ``driftPolicy: Report`` a spec change writes only the fields whose desired value differs from this."""

    object: str
    field: str
    value: JsonValue = None


class ComplianceStatus(_StatusModel):
    """Counts of the publicRepositoryApproved control under the attached targets."""

    control_type: str
    total: int = 0
    ok: int = 0
    alarm: int = 0
    error: int = 0
    invalid: int = 0
    skipped: int = 0
    tbd: int = 0
    checked_at: str | None = None


class EcrPrivacyPolicyStatus(_StatusModel):
    """The whole ``.status`` the operator writes."""

    observed_generation: int | None = None
    applied_generation: int | None = None
    conditions: tuple[Condition, ...] = ()
    ownership_aka: str | None = None
    policy_pack: PolicyPackStatus | None = None
    settings: tuple[SettingStatus, ...] = ()
    attachments: tuple[AttachmentStatus, ...] = ()
    drift: tuple[DriftStatus, ...] = ()
    compliance: ComplianceStatus | None = None
    last_sync_time: str | None = None
    applied_values: tuple[AppliedValue, ...] | None = None  # None: not recorded (an earlier version's status)

    @property
    def applied_targets(self) -> tuple[str, ...]:
        """Targets the pack was attached to by earlier passes (``previous_targets`` for the planner)."""
        return tuple(a.resource for a in self.attachments)

    @property
    def applied_setting_types(self) -> frozenset[str]:
        """Policy types the operator has set on the pack before."""
        return frozenset(s.type for s in self.settings)

    def to_patch(self) -> dict[str, Any]:
        """The status as a merge-patch body: every field present; None clears a field."""
        return self.model_dump(by_alias=True, mode="json")


def parse_status(raw: Mapping[str, Any] | None) -> EcrPrivacyPolicyStatus:
    """Read ``.status`` as found on the object; an unreadable status counts as empty (never raises)."""
    if not raw:
        return EcrPrivacyPolicyStatus()
    try:
        return EcrPrivacyPolicyStatus.model_validate(dict(raw))
    except ValidationError:
        conditions = raw.get("conditions")
        return EcrPrivacyPolicyStatus(
            conditions=tuple(parse_conditions(conditions if isinstance(conditions, list) else None))
        )
