"""The ``notifications`` query (contract §4.11): the activity log filtered, ordered newest first and paged.

Filter keys (Guardrails' "Filtering Notifications" reference, plus the Steampipe plugin's):

- ``notificationType:`` a family (``resource``, ``policySetting``, ``control``, ``policyValue``, ``action``,
  ``grant``, ``activeGrant``) or a type, camelCase or snake_case (``resourceDeleted``, ``resource_deleted``);
  ``type:`` the same for types only;
- ``resource:`` / ``resourceId:`` ids or AKAs (also of deleted resources) with ``level:`` (default
  ``self,descendant``), about the resource the activity concerns;
- ``resourceType[Id]:``, ``policyType[Id]:`` + ``policyTypeLevel:``, ``controlType[Id]:`` +
  ``controlTypeLevel:`` (an activity without a setting or control never matches a type term);
- ``createTimestamp:`` / ``timestamp:`` with ``>=``, ``>``, ``<=``, ``<`` or ``=`` and an ISO time or
  ``T-<n><unit>`` (``T-2h``, ``T-1w``), e.g. ``createTimestamp:>='2026-12-03T06:00:00.000Z'``;
- ``actorIdentityId:``, ``id:``; ``sort:`` (``id``, ``createTimestamp``, ``timestamp``; default newest
  first) and ``limit:`` as everywhere. Unknown keys or values → ``Bad Request: Unsupported filter "…"``.

A scoped identity sees only activities about resources in its subtree (like Guardrails' metadata permission);
an identity whose ``notifications`` are ``filtered`` (permissions.py) sees none, without an error. Default order
is newest first (``sort:`` overrides). A ``resource:`` value that is an AKA matches every resource whose AKA
contains it (ids match exactly). The ``feed*`` faults (faults.py) fail items' nested fields, null items, list
activities late, bound the values of one filter term and answer a deleted id "Not Found".
"""

from __future__ import annotations

import datetime as dt
import operator
import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from . import filters as flt
from . import views
from .clock import iso, parse_duration, parse_iso
from .context import Context
from .errors import GuardrailsError, bad_request
from .listings import DEFAULT_LEVELS, control_dict, envelope, resource_type_ok
from .model import Activity

Args = dict[str, Any]
FAMILIES = ("resource", "policySetting", "policyValue", "control", "action", "grant", "activeGrant")
_VERBS = ("created", "updated", "deleted", "notify")
_FAMILY_PREFIXES = {
    "resource": "resource",
    "policy_setting": "policySetting",
    "policy_value": "policyValue",
    "control": "control",
    "action": "action",
    "policy": "action",  # policy_notify is an action-like notification
    "grant": "grant",
    "active_grants": "activeGrant",
}
KEYS = {
    "notificationType",
    "type",
    "resource",
    "resourceId",
    "level",
    "resourceType",
    "resourceTypeId",
    "resourceTypeLevel",
    "policyType",
    "policyTypeId",
    "policyTypeLevel",
    "controlType",
    "controlTypeId",
    "controlTypeLevel",
    "createTimestamp",
    "timestamp",
    "actorIdentityId",
    "id",
}
_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "=": operator.eq,
}
_COMPARISON = re.compile(r"^(>=|<=|>|<|=)?(.+)$")
_RELATIVE = re.compile(r"^T-(\d+(?:\.\d+)?)([a-z]+)$")


def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(part.title() for part in rest)


def family(kind: str) -> str:
    """``policy_setting_updated`` → ``policySetting``; ``active_grants_created`` → ``activeGrant``."""
    prefix = kind.rsplit("_", 1)[0]
    return _FAMILY_PREFIXES.get(prefix, _camel(prefix))


@lru_cache(maxsize=64)
def _type_names(kind: str) -> frozenset[str]:
    """Every filter value that selects an activity of type ``kind``."""
    return frozenset({kind, _camel(kind), family(kind)})


def _known_value(value: str, types_only: bool) -> bool:
    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", value).lower()
    prefix, _, verb = snake.rpartition("_")
    is_type = verb in _VERBS and prefix in _FAMILY_PREFIXES
    return is_type or (not types_only and value in FAMILIES)


def _type_predicate(parsed: flt.Filter) -> Callable[[Activity], bool]:
    terms = parsed.get("notificationType", "type")
    for term in terms:
        for value in term.values:
            if not _known_value(value, types_only=term.key == "type"):
                raise bad_request(f'Unsupported filter "{term.raw}"')

    def check(activity: Activity) -> bool:
        names = _type_names(activity.type)
        return all(names.isdisjoint(t.values) == t.negate for t in terms)

    return check


def _moment(text: str, now: dt.datetime, raw: str) -> dt.datetime:
    relative = _RELATIVE.match(text)
    try:
        if relative:
            amount, unit = relative.groups()
            if unit == "w":
                return now - dt.timedelta(weeks=float(amount))
            return now - parse_duration(f"{amount}{unit}")
        return parse_iso(text)
    except ValueError:
        raise bad_request(f'Unsupported filter "{raw}"') from None


def _time_predicate(parsed: flt.Filter, now: dt.datetime) -> tuple[Callable[[Activity], bool], str | None]:
    """The time terms' predicate, and the latest lower bound they set (``None``: none). Timestamps compare as
    text: both sides are ISO-8601 UTC with milliseconds, so text order is time order."""
    bounds: list[tuple[Callable[[Any, Any], bool], str, bool]] = []
    for term in parsed.get("createTimestamp", "timestamp"):
        match = _COMPARISON.match(",".join(term.values))
        if match is None:
            raise bad_request(f'Unsupported filter "{term.raw}"')
        bound = iso(_moment(match.group(2), now, term.raw))
        bounds.append((_OPERATORS[match.group(1) or "="], bound, term.negate))

    def check(activity: Activity) -> bool:
        return all(compare(activity.create_ts, bound) != negate for compare, bound, negate in bounds)

    floors = [b for compare, b, negate in bounds if compare in (operator.ge, operator.gt) and not negate]
    return check, max(floors, default=None)


def _known_paths(ctx: Context, refs: set[str], whole_paths: bool) -> dict[str, list[list[str]]]:
    """The paths of resources named by id or AKA: live ones, else as the newest activity about them saw them
    (one pass over the log, only for gone ones named by AKA, or by id when ``whole_paths`` are needed; else a
    gone id stands for itself, which is all ``self``, ``children`` and ``descendant`` compare)."""
    paths: dict[str, list[list[str]]] = {}
    for ref in refs:
        live = ctx.ws.lookup(ref)
        if live is not None:
            paths[ref] = [live.path]
        elif ref.isdigit() and not whole_paths:
            paths[ref] = [[ref]]
        elif not ref.isdigit():  # an AKA matches by "contains"
            found = [r.path for r in ctx.ws.resources.values() if any(ref in aka for aka in r.akas or [])]
            if found:
                paths[ref] = found
    wanted = refs - set(paths)
    for activity in reversed(ctx.ws.activities):
        if not wanted:
            break
        res = activity.resource or activity.old_resource
        names = {activity.resource_id, *((res.akas or []) if res else [])}
        for ref in names & wanted:
            paths[ref] = [activity.path]
        wanted -= names
    return paths


def _resource_predicate(ctx: Context, parsed: flt.Filter) -> Callable[[Activity], bool]:
    terms = parsed.get("resource", "resourceId")
    levels = parsed.levels("level", DEFAULT_LEVELS)
    paths = _known_paths(ctx, {v for t in terms for v in t.values}, bool(levels & {"ancestor", "all"}))
    scoped = [([p for v in t.values for p in paths.get(v, [])], t.negate) for t in terms]
    ids = [{target[-1] for target in targets} for targets, _ in scoped]

    def related(path: list[str], targets: list[list[str]], target_ids: set[str]) -> bool:
        if "self" in levels and path[-1] in target_ids:
            return True
        if "children" in levels and len(path) > 1 and path[-2] in target_ids:
            return True
        if "descendant" in levels and not target_ids.isdisjoint(path[:-1]):
            return True
        rid = path[-1]
        return any(
            ("ancestor" in levels and rid in target[:-1])
            or ("all" in levels and (target[-1] in path or rid in target))
            for target in targets
        )

    def check(activity: Activity) -> bool:
        return all(
            related(activity.path, targets, target_ids) != negate
            for (targets, negate), target_ids in zip(scoped, ids, strict=True)
        )

    return check


def _resource_type_uri(activity: Activity) -> str:
    return activity.resource_type_uri


def _check_feed_faults(ctx: Context, parsed: flt.Filter) -> None:
    """The faults that fail a whole view: too many values in one term, a deleted id named."""
    cfg = ctx.faults.config
    limit = cfg.feed_filter_limit
    if limit and any(len(t.values) > limit for t in parsed.terms):
        ctx.faults.counts["feed_filter_over_limit"] += 1
        raise bad_request(f"a filter term names more than {limit} values")
    if cfg.feed_deleted_id_error:
        for term in parsed.get("resource", "resourceId"):
            for value in term.values:
                if value.isdigit() and ctx.ws.lookup(value) is None:
                    raise GuardrailsError(f"Not Found: resource {value} not found")


def _named_ids(parsed: flt.Filter) -> set[str] | None:
    """The ids an activity's own resource must be one of, when the filter says so plainly (one ``resource:``
    term of ids at ``level:self``); ``None`` otherwise. A cheap first check, as a database index would be."""
    terms = parsed.get("resource", "resourceId")
    if len(terms) != 1 or terms[0].negate or parsed.levels("level", DEFAULT_LEVELS) != {"self"}:
        return None
    values = set(terms[0].values)
    return values if all(v.isdigit() for v in values) else None


def _listed(ctx: Context) -> Callable[[Activity], bool]:
    """Whether an activity is listed yet (the late-listing fault holds some back ``feedLateMs``)."""
    cfg = ctx.faults.config
    if cfg.feed_late_ms <= 0:
        return lambda a: True
    cutoff = iso(ctx.ws.clock.now() - dt.timedelta(milliseconds=cfg.feed_late_ms))
    types = set(cfg.feed_late_types)

    def listed(a: Activity) -> bool:
        if a.create_ts <= cutoff or (types and a.type not in types):
            return True
        return not cfg.picks(cfg.feed_late_rate, a.id, "late")

    return listed


def notifications(ctx: Context, args: Args) -> Any:
    """The root ``notifications`` field: matching activities, newest first unless sorted, one page."""
    ws = ctx.ws
    parsed = flt.parse(args.get("filter"), KEYS)
    _check_feed_faults(ctx, parsed)
    if "notifications" in ctx.hidden:  # no metadata permission: nothing to list, and no error
        return envelope([], None, 0)
    listed = _listed(ctx)
    type_ok = _type_predicate(parsed)
    time_ok, floor = _time_predicate(parsed, ws.clock.now())
    res_ok = _resource_predicate(ctx, parsed)
    res_type_ok = resource_type_ok(ctx, parsed, _resource_type_uri)
    policy_keys, control_keys = ("policyType", "policyTypeId"), ("controlType", "controlTypeId")
    policy_ok = flt.type_predicate(ws, parsed, policy_keys, "policyTypeLevel", DEFAULT_LEVELS)
    control_ok = flt.type_predicate(ws, parsed, control_keys, "controlTypeLevel", DEFAULT_LEVELS)
    actor_ok = flt.value_predicate(parsed, "actorIdentityId", lambda a: a.actor.id if a.actor else "", {})
    id_ok = flt.value_predicate(parsed, "id", lambda a: a.id, {})
    wants_policy, wants_control = bool(parsed.get(*policy_keys)), bool(parsed.get(*control_keys))
    scope = ctx.scope_id

    def keep(a: Activity) -> bool:
        setting, control = a.setting or a.old_setting, a.control or a.old_control
        if wants_policy and (setting is None or not policy_ok(setting.type_uri)):
            return False
        if wants_control and (control is None or not control_ok(control.type_uri)):
            return False
        if scope is not None and scope not in a.path:
            return False
        return (
            type_ok(a)
            and time_ok(a)
            and res_ok(a)
            and res_type_ok(a)
            and actor_ok(a)
            and id_ok(a)
            and listed(a)
        )

    named = _named_ids(parsed)
    chosen: list[Activity] = []
    for activity in reversed(ws.activities):  # newest first
        if floor is not None and ws.activities_in_order and activity.create_ts < floor:
            break  # a poll since a watermark costs what its window holds, not the whole log
        if named is not None and activity.resource_id not in named:
            continue  # what an index on the resource id would skip: a view costs what it names
        if keep(activity):
            chosen.append(activity)
    getters: dict[str, Callable[[Activity], Any]] = {
        "id": lambda a: int(a.id),
        "createTimestamp": lambda a: a.create_ts,
        "timestamp": lambda a: a.create_ts,
    }
    page, token = flt.page(chosen, parsed, args.get("paging"), getters)
    return envelope([NotificationView(ctx, a) for a in page], token, len(chosen))


def _identity(actor: Any) -> dict[str, Any] | None:
    if actor is None:
        return None
    turbot = {"id": actor.id, "title": actor.title, "akas": None, "actorIdentityId": actor.id}
    return {"title": actor.title, "picture": None, "trunk": {"title": actor.title}, "turbot": turbot}


class NotificationView:
    """One activity as a GraphQL ``Notification``."""

    def __init__(self, ctx: Context, activity: Activity) -> None:
        self.ctx = ctx
        self.a = activity

    def f_notification_type(self, args: Args) -> Any:
        return self.a.type

    def f_message(self, args: Args) -> Any:
        return self.a.type.replace("_", " ").capitalize()

    def f_icon(self, args: Args) -> Any:
        return None

    def f_data(self, args: Args) -> Any:
        return None

    def f_actor(self, args: Args) -> Any:
        identity = _identity(self.a.actor)
        return {"identity": identity, "persona": identity, "role": None, "alternatePersona": None}

    def _fault(self, rate: float, salt: str, message: str) -> None:
        if self.ctx.faults.config.picks(rate, self.a.id, salt):
            self.ctx.faults.counts[f"feed_{salt}"] += 1
            raise GuardrailsError(message)

    def f_resource(self, args: Args) -> Any:
        self._fault(
            self.ctx.faults.config.feed_item_error_rate, "item_error", "Not Found: resource was deleted"
        )
        return views.ResourceView(self.ctx, self.a.resource) if self.a.resource else None

    def f_old_resource(self, args: Args) -> Any:
        self._fault(
            self.ctx.faults.config.feed_item_error_rate, "item_error", "Not Found: resource was deleted"
        )
        return views.ResourceView(self.ctx, self.a.old_resource) if self.a.old_resource else None

    def f_policy_setting(self, args: Args) -> Any:
        return views.SettingView(self.ctx, self.a.setting) if self.a.setting else None

    def f_old_policy_setting(self, args: Args) -> Any:
        return views.SettingView(self.ctx, self.a.old_setting) if self.a.old_setting else None

    def f_control(self, args: Args) -> Any:
        return control_dict(self.ctx, self.a.control) if self.a.control else None

    def f_old_control(self, args: Args) -> Any:
        return control_dict(self.ctx, self.a.old_control) if self.a.old_control else None

    def f_turbot(self, args: Args) -> Any:
        self._fault(
            self.ctx.faults.config.feed_null_item_rate, "null_item", "Internal Error: item unavailable"
        )
        a = self.a
        setting, control = a.setting or a.old_setting, a.control or a.old_control
        resource_old = a.old_resource.version_id if a.old_resource else None
        return {
            "id": a.id,
            "versionId": a.id,
            "type": a.type,
            "createTimestamp": a.create_ts,
            "updateTimestamp": a.create_ts,
            "deleteTimestamp": None,
            "processId": None,
            "resourceId": a.resource_id,
            "resourceNewVersionId": a.resource.version_id if a.resource else None,
            "resourceOldVersionId": resource_old,
            "policySettingId": setting.id if setting else None,
            "policySettingNewVersionId": a.setting.version_id if a.setting else None,
            "policySettingOldVersionId": a.old_setting.version_id if a.old_setting else None,
            "controlId": control.id if control else None,
            "controlNewVersionId": a.control.version_id if a.control else None,
            "controlOldVersionId": a.old_control.version_id if a.old_control else None,
        }
