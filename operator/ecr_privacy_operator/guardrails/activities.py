"""The activity feed's models (contract §4.11): what one activity says, and which part of the feed to read.

An :class:`ActivityQuery` names one filtered view of Guardrails' ``notifications``, sorted explicitly (newest
first: no default order is documented); :func:`policy_feed` gives the views an operator following its packs
needs, none naming more than ``MAX_FILTER_IDS`` ids (no limit is documented: more ids make more views);
:func:`setting_feed` gives the views of one policy type's settings on given resources (exceptions' settings);
:func:`proof_query` reads one known activity of a pack (a feed that returns none for a pack that exists cannot
see). :class:`Activity` is one item read back, flattened from ``queries/fragments/ActivityFields.graphql``; a
page skips (and counts) null or malformed items. Types are Guardrails' snake_case ``notificationType`` values
(``policy_setting_updated``); queries may name a family (``policySetting``) or a camelCase type
(``resourceDeleted``), as Guardrails' filter syntax does.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .filters import LIMIT, quoted
from .models import PolicySetting, ResourceInfo

__all__ = [
    "APPROVED_CONTROL_TYPE_URI",
    "MAX_FILTER_IDS",
    "Activity",
    "ActivityPage",
    "ActivityQuery",
    "feed_timestamp",
    "policy_feed",
    "proof_query",
    "setting_feed",
]

APPROVED_CONTROL_TYPE_URI = "tmod:@turbot/aws-ecr#/control/types/publicRepositoryApproved"
Level = Literal["self", "descendant", "self,descendant"]
MAX_FILTER_IDS = 50  # ids named by one filter; more become further views in the same request
SORT = "sort:-createTimestamp"  # newest first, said explicitly


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def feed_timestamp(moment: dt.datetime | str) -> str:
    """``YYYY-MM-DDTHH:MM:SS.mmmZ`` (UTC), the form Guardrails' time filters take; strings pass unchanged."""
    if isinstance(moment, str):
        return moment
    if moment.tzinfo is None:
        raise ValueError("feed timestamps must be timezone-aware")
    moment = moment.astimezone(dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _resource(node: object) -> ResourceInfo | None:
    """A nested resource, ``None`` when null (it failed to resolve) or without an id."""
    if not isinstance(node, Mapping) or not isinstance(_dict(node.get("turbot")).get("id"), str):
        return None
    return ResourceInfo.from_wire(node)


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class ActivityQuery(_Model):
    """One filtered view of the feed: activities of ``types`` (families or types) about ``resources`` (ids or
    AKAs, at ``level``), optionally only those of some control or policy types."""

    types: tuple[str, ...]
    resources: tuple[str, ...] = ()
    level: Level = "self"
    control_types: tuple[str, ...] = ()
    policy_types: tuple[str, ...] = ()

    def filters(self, since: dt.datetime | str | None = None, limit: int = LIMIT) -> list[str]:
        """The filter strings (values quoted, ANDed); ``since`` keeps activities at or after that time."""
        terms = [f"notificationType:{','.join(self.types)}"]
        if self.resources:
            terms.append(f"resource:{quoted(self.resources)} level:{self.level}")
        if self.control_types:
            terms.append(f"controlTypeId:{quoted(self.control_types)} controlTypeLevel:self")
        if self.policy_types:
            terms.append(f"policyTypeId:{quoted(self.policy_types)} policyTypeLevel:self")
        if since is not None:
            terms.append(f"createTimestamp:>='{feed_timestamp(since)}'")
        terms.append(f"{SORT} limit:{limit}")
        return [" ".join(terms)]


def _chunks(ids: Sequence[str]) -> list[tuple[str, ...]]:
    return [tuple(ids[i : i + MAX_FILTER_IDS]) for i in range(0, len(ids), MAX_FILTER_IDS)]


def policy_feed(
    pack_ids: Sequence[str],
    targets: Sequence[str] = (),
    control_type_uri: str = APPROVED_CONTROL_TYPE_URI,
) -> list[ActivityQuery]:
    """The views that tell an operator its packs changed: settings created, updated or deleted on the packs;
    the packs updated or deleted; and the ``control_type_uri`` controls created, changing state or deleted
    under the ``targets`` (the compliance counts change with each). Empty inputs leave their views out; each
    view names at most ``MAX_FILTER_IDS`` ids."""
    queries: list[ActivityQuery] = []
    for packs in _chunks(list(dict.fromkeys(pack_ids))):
        queries.append(ActivityQuery(types=("policySetting",), resources=packs))
        queries.append(ActivityQuery(types=("resourceUpdated", "resourceDeleted"), resources=packs))
    for chunk in _chunks(list(dict.fromkeys(targets))):
        queries.append(
            ActivityQuery(
                types=("control",),
                resources=chunk,
                level="self,descendant",
                control_types=(control_type_uri,),
            )
        )
    return queries


def setting_feed(resources: Sequence[str], policy_type_uri: str) -> list[ActivityQuery]:
    """The views of the ``policy_type_uri`` settings created, updated or deleted on ``resources`` themselves
    (an exception's setting on each repository it approves); each view names at most ``MAX_FILTER_IDS`` ids."""
    return [
        ActivityQuery(types=("policySetting",), resources=chunk, policy_types=(policy_type_uri,))
        for chunk in _chunks(list(dict.fromkeys(resources)))
    ]


def proof_query(pack_id: str) -> ActivityQuery:
    """The view of one pack's own activities (its creation, its settings' writes), at any time: a pack that
    exists has at least one, so a feed that returns none for it cannot see the pack."""
    return ActivityQuery(types=("resource", "policySetting"), resources=(pack_id,))


class Activity(_Model):
    """One activity (a Guardrails notification). ``resource``/``setting``/``control_state`` are the versions
    after it (``None`` when it deleted them), ``old_*`` before it (``None`` when it created them); the
    ``*_version_id`` fields let a writer recognise its own writes (compare with the ``versionId`` a write
    returned). ``actor_id`` is ``None`` for Guardrails itself (control evaluation, discovery)."""

    id: str
    type: str
    timestamp: str
    actor_id: str | None = None
    resource_id: str | None = None
    resource: ResourceInfo | None = None
    old_resource: ResourceInfo | None = None
    resource_version_id: str | None = None
    old_resource_version_id: str | None = None
    setting_id: str | None = None
    setting: PolicySetting | None = None
    old_setting: PolicySetting | None = None
    setting_version_id: str | None = None
    old_setting_version_id: str | None = None
    control_id: str | None = None
    control_type_uri: str | None = None
    control_state: str | None = None
    old_control_state: str | None = None
    control_version_id: str | None = None
    old_control_version_id: str | None = None

    @property
    def family(self) -> str:
        """``policy_setting_updated`` → ``policy_setting``; ``resource_deleted`` → ``resource``."""
        return self.type.rsplit("_", 1)[0]

    @property
    def deleted(self) -> bool:
        return self.type.endswith("_deleted")

    @classmethod
    def from_wire(cls, node: Mapping[str, Any]) -> Activity:
        turbot = _dict(node.get("turbot"))
        identity = _dict(_dict(node.get("actor")).get("identity"))
        control, old_control = _dict(node.get("control")), _dict(node.get("oldControl"))
        setting, old_setting = node.get("policySetting"), node.get("oldPolicySetting")
        resource, old_resource = node.get("resource"), node.get("oldResource")
        return cls(
            id=turbot.get("id"),
            type=node.get("notificationType"),
            timestamp=turbot.get("createTimestamp"),
            actor_id=_dict(identity.get("turbot")).get("id"),
            resource_id=turbot.get("resourceId"),
            resource=_resource(resource),
            old_resource=_resource(old_resource),
            resource_version_id=turbot.get("resourceNewVersionId"),
            old_resource_version_id=turbot.get("resourceOldVersionId"),
            setting_id=turbot.get("policySettingId"),
            setting=PolicySetting.from_wire(setting) if isinstance(setting, Mapping) else None,
            old_setting=PolicySetting.from_wire(old_setting) if isinstance(old_setting, Mapping) else None,
            setting_version_id=turbot.get("policySettingNewVersionId"),
            old_setting_version_id=turbot.get("policySettingOldVersionId"),
            control_id=turbot.get("controlId"),
            control_type_uri=_dict((control or old_control).get("type")).get("uri"),
            control_state=control.get("state"),
            old_control_state=old_control.get("state"),
            control_version_id=turbot.get("controlNewVersionId"),
            old_control_version_id=turbot.get("controlOldVersionId"),
        )


def _item(node: object) -> Activity | None:
    """One item, or ``None`` when it is null (the reference declares items nullable) or lacks what routing
    needs (its id, type or time)."""
    if not isinstance(node, Mapping):
        return None
    try:
        return Activity.from_wire(node)
    except (ValueError, TypeError, AttributeError):  # pydantic's ValidationError is a ValueError
        return None


class ActivityPage(_Model):
    """One page of the feed, newest first, the token of the next page (``None`` on the last), and how many
    items were ``skipped`` (null or malformed)."""

    activities: list[Activity] = Field(default_factory=list)
    next: str | None = None
    skipped: int = 0

    @classmethod
    def from_wire(cls, node: Mapping[str, Any]) -> ActivityPage:
        items = node.get("items")
        token = _dict(node.get("paging")).get("next")
        parsed = [_item(i) for i in items] if isinstance(items, list) else []
        found = [a for a in parsed if a is not None]
        return cls(
            activities=found,
            next=token if isinstance(token, str) else None,
            skipped=len(parsed) - len(found),
        )
