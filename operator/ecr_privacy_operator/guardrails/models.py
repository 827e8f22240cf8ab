"""Pydantic models for everything the Guardrails client returns, plus the inputs it accepts.

Wire replies are nested (``turbot { id akas }``); ``from_wire`` flattens them into these frozen models, so
callers never dig in dicts. Ids are strings. Validation failures surface as ``ProtocolError`` in the client.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

__all__ = [
    "PACK_TYPE_URI",
    "ROOT_AKA",
    "ControlCounts",
    "ControlSummary",
    "ObserveResult",
    "ObservedPack",
    "ObservedTarget",
    "Pack",
    "PackInput",
    "PolicySetting",
    "PolicyType",
    "PolicyValue",
    "Precedence",
    "ResourceInfo",
    "ResourceRef",
    "SettingInput",
    "SettingWrite",
]

ROOT_AKA = "tmod:@turbot/turbot#/"
PACK_TYPE_URI = "tmod:@turbot/turbot#/resource/types/smartFolder"

_PRECEDENCE_ALIASES = {"must": "REQUIRED", "should": "RECOMMENDED"}


def _precedence(value: Any) -> Any:
    if isinstance(value, str):
        return _PRECEDENCE_ALIASES.get(value.lower(), value.upper())
    return value


Precedence = Annotated[Literal["REQUIRED", "RECOMMENDED"], BeforeValidator(_precedence)]
"""Setting precedence; ``must``/``should`` (older material) are read as ``REQUIRED``/``RECOMMENDED``."""


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _akas(value: Any) -> list[str]:
    return list(value) if isinstance(value, list) else []


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class ResourceRef(_Model):
    """Any resource's identity: its numeric id and its AKAs."""

    id: str
    akas: list[str] = Field(default_factory=list)

    def matches(self, ref: str) -> bool:
        """True if ``ref`` is this resource's id or one of its AKAs."""
        return ref == self.id or ref in self.akas

    @classmethod
    def from_wire(cls, node: Mapping[str, Any]) -> ResourceRef:
        turbot = _dict(node.get("turbot"))
        return cls(id=turbot.get("id"), akas=_akas(turbot.get("akas")))


class TargetAttachments(_Model):
    """A target as read back after an attach or detach (O8): its numeric id and its direct packs in order."""

    id: str
    packs: list[ResourceRef] = Field(default_factory=list)

    @classmethod
    def from_wire(cls, node: Mapping[str, Any]) -> TargetAttachments:
        items = _dict(node.get("attachedSmartFolders")).get("items") or []
        return cls(id=_dict(node.get("turbot")).get("id"), packs=[ResourceRef.from_wire(i) for i in items])


class ResourceInfo(ResourceRef):
    """A resource read by id or AKA (O3)."""

    parent_id: str | None = None
    title: str | None = None
    type_uri: str | None = None
    path: str | None = None

    @classmethod
    def from_wire(cls, node: Mapping[str, Any]) -> ResourceInfo:
        turbot = _dict(node.get("turbot"))
        return cls(
            id=turbot.get("id"),
            akas=_akas(turbot.get("akas")),
            parent_id=turbot.get("parentId"),
            title=turbot.get("title"),
            type_uri=_dict(node.get("type")).get("uri"),
            path=turbot.get("path"),
        )


class Pack(ResourceRef):
    """A policy pack (smart folder) as read back (O3), or as returned by create/update (fewer fields set).
    ``version_id`` changes with every write (the activity feed names it: a writer can tell its own writes)."""

    parent_id: str | None = None
    version_id: str | None = None
    title: str | None = None
    description: str | None = None
    filters: list[str] | None = None
    tags: dict[str, str] | None = None

    @classmethod
    def from_wire(cls, node: Mapping[str, Any]) -> Pack:
        turbot = _dict(node.get("turbot"))
        filters = node.get("filters")
        return cls(
            id=turbot.get("id"),
            akas=_akas(turbot.get("akas")),
            parent_id=turbot.get("parentId"),
            version_id=turbot.get("versionId"),
            title=node.get("title") or turbot.get("title"),
            description=node.get("description"),
            filters=[filters] if isinstance(filters, str) else filters,
            tags=turbot.get("tags"),
        )


class PackInput(_Model):
    """Attributes of a pack to create; ``None`` fields are not sent."""

    title: str
    description: str | None = None
    akas: list[str] | None = None
    parent: str = ROOT_AKA
    filter: str | None = None
    tags: dict[str, str] | None = None
    color: str | None = None


class PolicySetting(_Model):
    """A policy setting on one resource (O10-O14).

    ``value_source_used`` is set by the client (not the server) when a write had to fall back to
    ``valueSource``; compare drift against ``value_source`` then (contract §2.5). ``version_id`` changes with
    every write (the activity feed names it: a writer can tell its own writes)."""

    id: str
    version_id: str | None = None
    resource_id: str | None = None
    type_uri: str | None = None
    value: Any = None
    value_source: str | None = None
    precedence: Precedence | None = None
    template: str | None = None
    template_input: Any = None
    note: str | None = None
    valid_from_timestamp: str | None = None
    valid_to_timestamp: str | None = None
    value_source_used: bool = False

    @classmethod
    def from_wire(cls, node: Mapping[str, Any], *, value_source_used: bool = False) -> PolicySetting:
        turbot = _dict(node.get("turbot"))
        return cls(
            id=turbot.get("id"),
            version_id=turbot.get("versionId"),
            resource_id=turbot.get("resourceId"),
            type_uri=_dict(node.get("type")).get("uri"),
            value=node.get("value"),
            value_source=node.get("valueSource"),
            precedence=node.get("precedence"),
            template=node.get("template"),
            template_input=node.get("templateInput"),
            note=node.get("note"),
            valid_from_timestamp=node.get("validFromTimestamp"),
            valid_to_timestamp=node.get("validToTimestamp"),
            value_source_used=value_source_used,
        )


class PolicyType(_Model):
    """A policy type (O9), keyed by its URI."""

    uri: str
    id: str
    title: str | None = None
    mod_uri: str | None = None
    json_schema: Any = None
    akas: list[str] = Field(default_factory=list)

    @classmethod
    def from_wire(cls, node: Mapping[str, Any]) -> PolicyType:
        turbot = _dict(node.get("turbot"))
        return cls(
            uri=node.get("uri"),
            id=turbot.get("id"),
            title=node.get("title"),
            mod_uri=node.get("modUri"),
            json_schema=node.get("schema"),
            akas=_akas(turbot.get("akas")),
        )


class PolicyValue(_Model):
    """The effective value of a policy type on a resource (O15)."""

    id: str
    resource_id: str | None = None
    type_uri: str | None = None
    value: Any = None
    precedence: Precedence | None = None
    state: str | None = None
    reason: str | None = None
    details: Any = None
    default: bool | None = None
    setting_id: str | None = None
    setting_resource_id: str | None = None
    setting_value_source: str | None = None

    @classmethod
    def from_wire(cls, node: Mapping[str, Any]) -> PolicyValue:
        turbot = _dict(node.get("turbot"))
        setting = _dict(node.get("setting"))
        setting_turbot = _dict(setting.get("turbot"))
        return cls(
            id=turbot.get("id"),
            resource_id=turbot.get("resourceId"),
            type_uri=_dict(node.get("type")).get("uri"),
            value=node.get("value"),
            precedence=node.get("precedence"),
            state=node.get("state"),
            reason=node.get("reason"),
            details=node.get("details"),
            default=node.get("default"),
            setting_id=setting_turbot.get("id"),
            setting_resource_id=setting_turbot.get("resourceId"),
            setting_value_source=setting.get("valueSource"),
        )


class ControlCounts(_Model):
    """Control state counts; ``+`` adds two summaries, ``ControlCounts.sum`` any number."""

    total: int = 0
    ok: int = 0
    alarm: int = 0
    error: int = 0
    invalid: int = 0
    skipped: int = 0
    tbd: int = 0

    def __add__(self, other: ControlCounts) -> ControlCounts:
        names = type(self).model_fields
        return ControlCounts(**{n: getattr(self, n) + getattr(other, n) for n in names})

    @classmethod
    def sum(cls, counts: Iterable[ControlCounts]) -> ControlCounts:
        """The counts added up (zeros for none): the one place compliance is summed."""
        total = cls()
        for item in counts:
            total = total + item
        return total


class ControlSummary(_Model):
    """Control counts for one resource and its descendants (O16)."""

    resource: ResourceRef
    title: str | None = None
    counts: ControlCounts

    @classmethod
    def from_wire(cls, node: Mapping[str, Any]) -> ControlSummary:
        resource = _dict(node.get("resource"))
        control = _dict(_dict(node.get("summary")).get("control"))
        counts = ControlCounts(**{k: v for k, v in control.items() if v is not None})
        title = _dict(resource.get("turbot")).get("title")
        return cls(resource=ResourceRef.from_wire(resource), title=title, counts=counts)


class ObservedPack(Pack):
    """The pack as ``observe`` sees it: attributes, settings on the pack, and the resources it is
    attached to."""

    type_uri: str | None = None
    settings: list[PolicySetting] = Field(default_factory=list)
    attached_to: list[ResourceRef] = Field(default_factory=list)


class ObservedTarget(ResourceRef):
    """An attachment target that exists, with the ids of the packs attached to it in attachment order (only
    ids: one tuple to validate, not a model per pack, since a target may hold thousands)."""

    attached_pack_ids: tuple[str, ...] = ()


class ClaimedResource(ResourceRef):
    """A resource holding one of the AKAs asked for in ``observe(claimed_akas=...)``, with its type."""

    type_uri: str | None = None


class ObserveResult(_Model):
    """Everything ``GuardrailsClient.observe`` reads in one round trip."""

    pack: ObservedPack | None = None
    targets: list[ObservedTarget] = Field(default_factory=list)
    policy_types: dict[str, PolicyType] = Field(default_factory=dict)
    summaries: list[ControlSummary] = Field(default_factory=list)
    claimed: list[ClaimedResource] = Field(default_factory=list)

    def claimed_pack(self, aka: str) -> ResourceRef | None:
        """The policy pack holding ``aka`` among the claimed resources (``None``: no pack holds it)."""
        return next(
            (
                ResourceRef(id=c.id, akas=c.akas)
                for c in self.claimed
                if aka in c.akas and c.type_uri in (None, PACK_TYPE_URI)
            ),
            None,
        )

    def target(self, ref: str) -> ObservedTarget | None:
        """The observed target whose id or AKA is ``ref``; ``None`` if it does not exist."""
        return next((t for t in self.targets if t.matches(ref)), None)

    def compliance(self) -> ControlCounts:
        """Sum of the control summaries (targets nested in each other are counted twice)."""
        return ControlCounts.sum(summary.counts for summary in self.summaries)


class SettingInput(_Model):
    """The content of a setting to write; ``None`` fields are not sent.

    Give ``value`` (any JSON; a string is retried as ``valueSource`` if the server rejects it, contract §2.5),
    or ``value_source`` (YAML text), or ``template`` + ``template_input``.
    """

    value: Any = None
    value_source: str | None = None
    precedence: Precedence | None = "REQUIRED"  # None: not sent (an update keeps the setting's precedence)
    template: str | None = None
    template_input: Any = None
    note: str | None = None
    valid_from_timestamp: str | None = None
    valid_to_timestamp: str | None = None

    def to_wire(self) -> dict[str, Any]:
        """The fields for a create/update input, camelCase, unset ones left out."""
        names = {
            "value": "value",
            "value_source": "valueSource",
            "precedence": "precedence",
            "template": "template",
            "template_input": "templateInput",
            "note": "note",
            "valid_from_timestamp": "validFromTimestamp",
            "valid_to_timestamp": "validToTimestamp",
        }
        return {wire: getattr(self, name) for name, wire in names.items() if getattr(self, name) is not None}

    def as_value_source(self) -> SettingInput | None:
        """The §2.5 fallback: the same string sent as ``valueSource``; ``None`` if it does not apply."""
        if not isinstance(self.value, str) or self.value_source is not None:
            return None
        return self.model_copy(update={"value": None, "value_source": self.value})


class SettingWrite(_Model):
    """One write in a batch: ``create`` (resource + type_uri + setting), ``update`` (setting_id + setting)
    or ``delete`` (setting_id)."""

    action: Literal["create", "update", "delete"]
    setting_id: str | None = None
    resource: str | None = None
    type_uri: str | None = None
    setting: SettingInput | None = None
