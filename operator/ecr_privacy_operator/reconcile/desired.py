"""Translate the parsed spec into Desired, the Guardrails state the object asks for (pure).

This is the only place that knows how spec words map to Guardrails values (``Check`` -> ``Check: Approved``,
``Required`` -> ``REQUIRED``) and how the ownership AKA is formed.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, JsonValue

from ecr_privacy_operator.crd.spec import (
    OWNERSHIP_AKA_PREFIX,
    SEED_APPROVED_TYPE,
    SEED_USAGE_TYPE,
    EcrPrivacyPolicySpec,
    Enforcement,
    Precedence,
    Usage,
)

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


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class DesiredPack(_Frozen):
    """The pack: ``akas`` = the user's AKAs followed by the ownership AKA."""

    title: str
    description: str
    akas: tuple[str, ...]
    user_akas: tuple[str, ...]
    ownership_aka: str
    parent: str
    adopt: bool


class DesiredSetting(_Frozen):
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


class Desired(_Frozen):
    """Everything the object asks of Guardrails."""

    pack: DesiredPack
    settings: tuple[DesiredSetting, ...]
    targets: tuple[str, ...]

    @property
    def setting_types(self) -> tuple[str, ...]:
        """Policy types of the desired settings, seed types first."""
        return tuple(s.type for s in self.settings)


def ownership_aka(uid: str) -> str:
    """The AKA by which the operator recognises the pack of the object with this UID."""
    if not uid:
        raise ValueError("the object has no metadata.uid")
    return f"{OWNERSHIP_AKA_PREFIX}{uid}"


def desired_from_spec(spec: EcrPrivacyPolicySpec, uid: str) -> Desired:
    """Build Desired from the spec and ``metadata.uid``.

    Settings: the two seed types first (from enforcement and usage, with ``spec.precedence``), then the
    additional settings in spec order (their precedence defaults to ``spec.precedence``). Targets keep spec
    order.
    """
    owner = ownership_aka(uid)
    pack_spec = spec.policy_pack
    user_akas = tuple(a for a in pack_spec.akas if a != owner)
    pack = DesiredPack(
        title=pack_spec.title,
        description=pack_spec.description,
        akas=(*user_akas, owner),
        user_akas=user_akas,
        ownership_aka=owner,
        parent=pack_spec.parent,
        adopt=pack_spec.adopt,
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
