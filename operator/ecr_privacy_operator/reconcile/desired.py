"""Translate the parsed spec into Desired, the Guardrails state the object asks for (pure).

This is the only place that knows how spec words map to Guardrails values (``Check`` -> ``Check: Approved``,
``Required`` -> ``REQUIRED``); the ownership AKA comes from the object's ``Owner`` (``ownership.py``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import JsonValue

from ecr_privacy_operator.crd.spec import (
    OWNERSHIP_AKA_PREFIX,
    SEED_APPROVED_TYPE,
    SEED_USAGE_TYPE,
    EcrPrivacyPolicySpec,
    Enforcement,
    Precedence,
    Usage,
)
from ecr_privacy_operator.reconcile.frozen import FrozenModel
from ecr_privacy_operator.reconcile.ownership import Owner

GuardrailsPrecedence = Literal["REQUIRED", "RECOMMENDED"]

ENFORCEMENT_VALUES: dict[Enforcement, str] = {
    Enforcement.CHECK: "Check: Approved",
    Enforcement.ENFORCE: "Enforce: Delete unapproved if new",
    Enforcement.SKIP: "Skip",
}
USAGE_VALUES: dict[Usage, str] = {
    Usage.NOT_APPROVED: "Not approved",
    Usage.APPROVED: "Approved",
    Usage.APPROVED_IF_ECR_ENABLED: "Approved if AWS > ECR > Enabled",
}
PRECEDENCE_VALUES: dict[Precedence, GuardrailsPrecedence] = {
    Precedence.REQUIRED: "REQUIRED",
    Precedence.RECOMMENDED: "RECOMMENDED",
}


class DesiredPack(FrozenModel):
    """The pack: ``akas`` = the user's AKAs followed by the ownership AKA of ``owner``."""

    title: str
    description: str
    akas: tuple[str, ...]
    user_akas: tuple[str, ...]
    owner: Owner
    parent: str
    adopt: bool
    adopt_from_other_clusters: bool = False

    @property
    def ownership_aka(self) -> str:
        """The AKA by which the operator finds this object's pack."""
        return self.owner.aka


class DesiredSetting(FrozenModel):
    """One setting on the pack; exactly one of ``value`` / ``value_source`` is meaningful."""

    type: str
    value: JsonValue = None
    value_source: str | None = None
    precedence: GuardrailsPrecedence = "REQUIRED"
    note: str | None = None

    @property
    def via_value_source(self) -> bool:
        """True when the setting is written (and compared) through ``valueSource``."""
        return self.value_source is not None

    @property
    def content(self) -> JsonValue:
        """What the setting holds: the valueSource text or the JSON value."""
        return self.value_source if self.value_source is not None else self.value


class Desired(FrozenModel):
    """Everything the object asks of Guardrails."""

    pack: DesiredPack
    settings: tuple[DesiredSetting, ...]
    targets: tuple[str, ...]

    @property
    def setting_types(self) -> tuple[str, ...]:
        """Policy types of the desired settings, seed types first."""
        return tuple(s.type for s in self.settings)


def desired_from_spec(spec: EcrPrivacyPolicySpec, owner: Owner) -> Desired:
    """Build Desired from the spec and the object as the owner of its pack.

    Settings: the two seed types first (from enforcement and usage, with ``spec.precedence``), then the
    additional settings in spec order (their precedence defaults to ``spec.precedence``). Targets keep spec
    order.
    """
    pack_spec = spec.policy_pack
    user_akas = tuple(a for a in pack_spec.akas if not a.startswith(OWNERSHIP_AKA_PREFIX))
    pack = DesiredPack(
        title=pack_spec.title,
        description=pack_spec.description,
        akas=(*user_akas, owner.aka),
        user_akas=user_akas,
        owner=owner,
        parent=pack_spec.parent,
        adopt=pack_spec.adopt,
        adopt_from_other_clusters=pack_spec.adopt_from_other_clusters,
    )
    default_precedence = PRECEDENCE_VALUES[spec.precedence]
    settings = [
        DesiredSetting(
            type=SEED_APPROVED_TYPE, value=ENFORCEMENT_VALUES[spec.enforcement], precedence=default_precedence
        ),
        DesiredSetting(type=SEED_USAGE_TYPE, value=USAGE_VALUES[spec.usage], precedence=default_precedence),
    ]
    for extra in spec.additional_settings:
        settings.append(
            DesiredSetting(
                type=extra.type,
                value=None if extra.value_source is not None else extra.value,
                value_source=extra.value_source,
                precedence=PRECEDENCE_VALUES[extra.precedence] if extra.precedence else default_precedence,
                note=extra.note,
            )
        )
    return Desired(pack=pack, settings=tuple(settings), targets=spec.attachment_targets)
