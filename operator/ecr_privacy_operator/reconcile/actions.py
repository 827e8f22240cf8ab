"""The planner's vocabulary: typed actions, drift items, blocking problems and the Plan that holds them.

Actions name Guardrails writes, not GraphQL: ``apply.py`` turns each into a mutation. A ``pack_id`` of None on
a CreateSetting or Attach means "the pack created by the CreatePack earlier in the same plan".
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, JsonValue

from ecr_privacy_operator.reconcile.desired import GuardrailsPrecedence
from ecr_privacy_operator.reconcile.frozen import FrozenModel


class CreatePack(FrozenModel):
    """Create the pack with all desired attributes (AKAs include the ownership AKA)."""

    kind: Literal["CreatePack"] = "CreatePack"
    title: str
    description: str
    akas: tuple[str, ...]
    parent: str


class UpdatePack(FrozenModel):
    """Update the pack; only the non-None attributes are sent."""

    kind: Literal["UpdatePack"] = "UpdatePack"
    pack_id: str
    title: str | None = None
    description: str | None = None
    akas: tuple[str, ...] | None = None


class AdoptPack(FrozenModel):
    """Take over an existing pack by setting its AKAs to the desired ones (adds the ownership AKA)."""

    kind: Literal["AdoptPack"] = "AdoptPack"
    pack_id: str
    akas: tuple[str, ...]


class CreateSetting(FrozenModel):
    """Create a setting on the pack (``pack_id`` None: the pack created in this plan)."""

    kind: Literal["CreateSetting"] = "CreateSetting"
    pack_id: str | None
    type: str
    value: JsonValue = None
    value_source: str | None = None
    precedence: GuardrailsPrecedence
    note: str | None = None
    template: str | None = None
    template_input: str | None = None


class UpdateSetting(FrozenModel):
    """Rewrite a setting with the desired content; ``fields`` names what differed (for Events and logs)."""

    kind: Literal["UpdateSetting"] = "UpdateSetting"
    setting_id: str
    type: str
    value: JsonValue = None
    value_source: str | None = None
    precedence: GuardrailsPrecedence
    note: str | None = None
    template: str | None = None
    template_input: str | None = None
    fields: tuple[str, ...] = ()


class DeleteSetting(FrozenModel):
    """Delete a setting that is on the pack but not in the spec."""

    kind: Literal["DeleteSetting"] = "DeleteSetting"
    setting_id: str
    type: str


class Attach(FrozenModel):
    """Attach the pack to a target (``pack_id`` None: the pack created in this plan)."""

    kind: Literal["Attach"] = "Attach"
    target: str
    target_id: str | None
    pack_id: str | None


class Detach(FrozenModel):
    """Detach the pack from a target (``target`` as given, ``target_id`` when resolved)."""

    kind: Literal["Detach"] = "Detach"
    target: str
    target_id: str | None
    pack_id: str


class DeletePack(FrozenModel):
    """Delete the pack (after every Detach in the same plan)."""

    kind: Literal["DeletePack"] = "DeletePack"
    pack_id: str


Action = Annotated[
    CreatePack
    | UpdatePack
    | AdoptPack
    | CreateSetting
    | UpdateSetting
    | DeleteSetting
    | Attach
    | Detach
    | DeletePack,
    Field(discriminator="kind"),
]


class DriftItem(FrozenModel):
    """A difference made outside the operator: ``object`` is ``policyPack``, ``setting:<type>`` or
    ``attachment:<resource>``; ``corrected`` says whether the plan puts it back."""

    object: str
    field: str
    desired: JsonValue = None
    actual: JsonValue = None
    corrected: bool = False


class Problem(FrozenModel):
    """Something that blocks every write until the spec or Guardrails changes (a CamelCase reason)."""

    reason: str
    message: str


class Plan(FrozenModel):
    """The planner's result; ``pack_id`` is the pack the plan works on (None: to be created, or absent)."""

    actions: tuple[Action, ...] = ()
    drift: tuple[DriftItem, ...] = ()
    problems: tuple[Problem, ...] = ()
    pack_id: str | None = None

    @property
    def is_empty(self) -> bool:
        """True when the plan writes nothing."""
        return not self.actions

    @property
    def blocked(self) -> bool:
        """True when problems prevent any write."""
        return bool(self.problems)

    @property
    def drift_remaining(self) -> int:
        """Differences the plan leaves in place (Report, Observe, or blocked)."""
        return sum(1 for d in self.drift if not d.corrected)

    def message(self) -> str:
        """A one-line human summary of the problems (for condition messages)."""
        return "; ".join(p.message for p in self.problems)
