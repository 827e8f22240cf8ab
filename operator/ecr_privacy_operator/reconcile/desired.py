"""Translate the parsed spec into Desired, the Guardrails state the object asks for (pure).

This is the only place that knows how spec words map to Guardrails values (``Check`` -> ``Check: Approved``,
``Required`` -> ``REQUIRED``); the ownership AKA comes from the object's ``Owner`` (``ownership.py``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
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
    """One setting on the pack: ``value``, ``value_source``, or (calculated) ``template`` + ``template_input``."""

    type: str
    value: JsonValue = None
    value_source: str | None = None
    precedence: GuardrailsPrecedence = "REQUIRED"
    note: str | None = None
    template: str | None = None
    template_input: str | None = None

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


APPROVAL_TEMPLATE_INPUT = "{ resource { turbot { akas } } }"


def approval_template(akas: Iterable[str], otherwise: str) -> str:
    """A calculated Usage: ``Approved`` for a repository holding one of ``akas``, else ``otherwise``. The AKAs
    are JSON-quoted (the exception CRD admits only ECR public repository ARNs), so no value changes the
    template's shape; the shape is one the emulator's contract tests evaluate."""
    test = " or ".join(f"{json.dumps(aka)} in $.resource.turbot.akas" for aka in sorted(set(akas)))
    return f'{{%- if {test} -%}}\n"Approved"\n{{%- else -%}}\n{json.dumps(otherwise)}\n{{%- endif -%}}\n'


def desired_from_spec(spec: EcrPrivacyPolicySpec, owner: Owner, approvals: tuple[str, ...] = ()) -> Desired:
    """Build Desired from the spec and the object as the owner of its pack.

    Settings: the two seed types first (from enforcement and usage, with ``spec.precedence``), then the
    additional settings in spec order (their precedence defaults to ``spec.precedence``). Targets keep spec
    order. ``approvals``: ARNs of repositories that live exceptions name before they exist; the Usage setting
    is then calculated so that they come out ``Approved`` (docs/architecture.md, "Exceptions").
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
        DesiredSetting(type=SEED_USAGE_TYPE, value=USAGE_VALUES[spec.usage], precedence=default_precedence)
        if not approvals
        else DesiredSetting(
            type=SEED_USAGE_TYPE,
            template=approval_template(approvals, USAGE_VALUES[spec.usage]),
            template_input=APPROVAL_TEMPLATE_INPUT,
            precedence=default_precedence,
        ),
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
