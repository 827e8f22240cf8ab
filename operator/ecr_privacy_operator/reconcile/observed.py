"""Observed: what one observe pass found in Guardrails, as a frozen domain model (no I/O here).

``observe.py`` fills it from the client's responses; ``plan.py`` compares it with Desired. Precedence is
normalised on the way in (``must``/``should`` from older material read as ``REQUIRED``/``RECOMMENDED``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import JsonValue, field_validator

from ecr_privacy_operator.guardrails.models import ControlCounts
from ecr_privacy_operator.reconcile.desired import GuardrailsPrecedence
from ecr_privacy_operator.reconcile.frozen import FrozenModel

_PRECEDENCE_ALIASES: dict[str, GuardrailsPrecedence] = {
    "REQUIRED": "REQUIRED",
    "MUST": "REQUIRED",
    "RECOMMENDED": "RECOMMENDED",
    "SHOULD": "RECOMMENDED",
}


def normalize_precedence(raw: str | None) -> GuardrailsPrecedence:
    """Map a precedence as read (REQUIRED, RECOMMENDED, must, should; any case) to the API enum.

    A missing precedence reads as REQUIRED, the API's default.
    """
    if raw is None or raw == "":
        return "REQUIRED"
    try:
        return _PRECEDENCE_ALIASES[raw.strip().upper()]
    except KeyError:
        raise ValueError(f"unknown precedence {raw!r}") from None


def json_equal(a: JsonValue, b: JsonValue) -> bool:
    """JSON equality: 1 == 1.0, but True != 1 and key order does not matter."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


class ObservedPack(FrozenModel):
    """A pack as read; ``attached_to``: ids of resources it is attached to (pack side), None if not read."""

    id: str
    akas: tuple[str, ...] = ()
    title: str | None = None
    description: str | None = None
    parent_id: str | None = None
    attached_to: tuple[str, ...] | None = None


class ObservedSetting(FrozenModel):
    """A setting on the pack as read."""

    id: str
    type: str
    value: JsonValue = None
    value_source: str | None = None
    precedence: GuardrailsPrecedence = "REQUIRED"
    note: str | None = None
    template: str | None = None
    template_input: JsonValue = None

    @field_validator("precedence", mode="before")
    @classmethod
    def _normalize(cls, raw: Any) -> Any:
        return normalize_precedence(raw) if raw is None or isinstance(raw, str) else raw


class ObservedTarget(FrozenModel):
    """One attachment target (desired or previously applied): its id (None: not found), its AKAs and its
    attached packs."""

    resource: str
    id: str | None = None
    akas: tuple[str, ...] = ()
    attached_pack_ids: tuple[str, ...] = ()

    @property
    def found(self) -> bool:
        """True when the target exists in Guardrails."""
        return self.id is not None


ComplianceCounts = ControlCounts
"""Control state counts of the seed control type under one target (the client's model, reused)."""


class Observed(FrozenModel):
    """Everything observe read.

    - ``pack``: the pack holding our ownership AKA, or None.
    - ``foreign_pack``: another pack holding one of the desired *user* AKAs (not ours): adopted when
      ``policyPack.adopt`` is true, else a PackConflict.
    - ``foreign_owner_exists``: whether the object that owns ``foreign_pack`` (by its ownership AKA) still
      exists in this cluster; None when not asked (no adopt, no owner, or an owner of another cluster).
    - ``foreign_out_of_scope``: why ``foreign_pack`` does more than the policy's cluster workspace allows
      (then it is neither adopted nor observed); None when it is inside the scope or not checked.
    - ``settings``: the settings on ``pack``; when ``pack`` is None, those on ``foreign_pack`` (so an adoption
      plans its setting changes in the same pass).
    - ``targets``: one entry per desired target and per previously applied target, by resource as given.
    - ``policy_types``: the desired policy type URIs that exist (None: not checked).
    - ``compliance``: counts per found target resource (as given).
    """

    pack: ObservedPack | None = None
    foreign_pack: ObservedPack | None = None
    foreign_owner_exists: bool | None = None
    foreign_out_of_scope: str | None = None
    settings: tuple[ObservedSetting, ...] = ()
    targets: tuple[ObservedTarget, ...] = ()
    policy_types: frozenset[str] | None = None
    compliance: dict[str, ComplianceCounts] = {}

    @classmethod
    def nothing_yet(cls, targets: Sequence[str]) -> Observed:
        """What a first sync assumes without reading: no pack, each target addressed as the spec gives it,
        policy types unchecked. Guardrails itself rejects a taken AKA, an unknown type or a missing target;
        the engine then observes and plans again."""
        return cls(targets=tuple(ObservedTarget(resource=r, id=r) for r in targets))

    def target(self, resource: str) -> ObservedTarget | None:
        """The observed entry for a target as given in the spec or status."""
        return next((t for t in self.targets if t.resource == resource), None)

    def setting(self, type_uri: str) -> ObservedSetting | None:
        """The setting of that policy type, or None."""
        return next((s for s in self.settings if s.type == type_uri), None)
