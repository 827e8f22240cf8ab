"""List fields (resources, settings, types, values, controls) and control summaries, filtered and paged."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from . import filters as flt
from . import views
from .context import Context
from .model import Control, Resource, Setting
from .policy import materialized, resolve
from .workspace import Workspace

Args = dict[str, Any]
T = TypeVar("T")
STATES = ("ok", "alarm", "error", "invalid", "skipped", "tbd")
STATE_ALIASES = {"active": ["ok", "alarm", "invalid", "error"]}
RES_KEYS = {"resource", "resourceId", "level", "resourceType", "resourceTypeId", "resourceTypeLevel"}
SETTING_KEYS = {"resource", "resourceId", "level", "policyType", "policyTypeId", "policyTypeLevel"}
TYPE_KEYS = {"policyType", "policyTypeId", "level", "policyTypeLevel"}
VALUE_KEYS = SETTING_KEYS | {"state", "value"}
CONTROL_KEYS = RES_KEYS | {"controlType", "controlTypeId", "controlTypeLevel", "state"}
DEFAULT_LEVELS = {"self", "descendant"}
_RES_TERMS = ("resource", "resourceId")


def _by_id(item: Any) -> int:
    return int(item.id)


def envelope(
    items: list[Any], next_token: str | None, total: int, extra: dict[str, Any] | None = None
) -> Any:
    return {
        "items": items,
        "paging": {"next": next_token, "previous": None},
        "metadata": {"stats": {"total": total, **(extra or {})}},
    }


def fixed_page(ctx: Context, resources: list[Resource]) -> Any:
    """All items on one page, in the given order (attachment lists)."""
    return envelope([views.ResourceView(ctx, r) for r in resources], None, len(resources))


def _filter(args: Args, keys: set[str], scope: Resource | None) -> flt.Filter:
    parsed = flt.parse(args.get("filter"), keys)
    if scope is not None:
        parsed.terms.insert(0, flt.Term("resourceId", [scope.id], False, f"resourceId:{scope.id}"))
    return parsed


def _res_getters() -> dict[str, Callable[[Resource], Any]]:
    return {
        "id": lambda r: int(r.id),
        "title": lambda r: r.title,
        "createTimestamp": lambda r: r.create_ts,
        "updateTimestamp": lambda r: r.update_ts,
    }


def _type_uri(res: Resource) -> str:
    return res.type_uri


def resource_type_ok(ctx: Context, parsed: flt.Filter, type_uri: Callable[[T], str]) -> Callable[[T], bool]:
    """Predicate for the ``resourceType[Id]`` terms (URIs or type ids) over items whose resource type
    ``type_uri`` gives."""
    terms = parsed.get("resourceType", "resourceTypeId")

    def check(item: T) -> bool:
        for term in terms:
            wanted = {ctx.ws.type_ids.get(v, v) for v in term.values}
            if (type_uri(item) in wanted) == term.negate:
                return False
        return True

    return check


def resource_page(ctx: Context, items: list[Resource], args: Args) -> Any:
    parsed = flt.parse(args.get("filter"), RES_KEYS)
    in_res = flt.resource_predicate(ctx.ws, parsed, _RES_TERMS, "level", DEFAULT_LEVELS)
    type_ok = resource_type_ok(ctx, parsed, _type_uri)
    chosen = sorted((r for r in items if in_res(r) and type_ok(r) and ctx.in_scope(r)), key=_by_id)
    page, token = flt.page(chosen, parsed, args.get("paging"), _res_getters())
    return envelope([views.ResourceView(ctx, r) for r in page], token, len(chosen))


def resources(ctx: Context, args: Args) -> Any:
    named = _named_self(ctx.ws, flt.parse(args.get("filter"), RES_KEYS))
    return resource_page(ctx, list(ctx.ws.resources.values()) if named is None else named, args)


def policy_settings(ctx: Context, args: Args, scope: Resource | None = None) -> Any:
    ws = ctx.ws
    parsed = _filter(args, SETTING_KEYS, scope)
    in_res = flt.resource_predicate(ws, parsed, _RES_TERMS, "level", DEFAULT_LEVELS)
    type_ok = flt.type_predicate(
        ws, parsed, ("policyType", "policyTypeId"), "policyTypeLevel", DEFAULT_LEVELS
    )

    def keep(s: Setting) -> bool:
        res = ws.resources.get(s.resource_id)
        return res is not None and ctx.in_scope(res) and type_ok(s.type_uri) and in_res(res)

    chosen = sorted((s for s in _setting_candidates(ws, parsed) if keep(s)), key=_by_id)
    getters: dict[str, Callable[[Setting], Any]] = {"id": _by_id, "createTimestamp": lambda s: s.create_ts}
    page, token = flt.page(chosen, parsed, args.get("paging"), getters)
    return envelope([views.SettingView(ctx, s) for s in page], token, len(chosen))


def _named_self(ws: Workspace, parsed: flt.Filter) -> list[Resource] | None:
    """The only resources a filter with a ``resource:... level:self`` term can match (the live ones it names),
    or None when it has no such term. Reads by id or AKA then cost what they name, not a scan of every resource
    or setting (with 10,000 packs those scans made the emulator the bench's bottleneck)."""
    if parsed.levels("level", DEFAULT_LEVELS) != {"self"}:
        return None
    for term in parsed.get(*_RES_TERMS):
        if not term.negate:
            found = (ws.lookup(v) for v in term.values)
            return list({r.id: r for r in found if r is not None}.values())
    return None


def _setting_candidates(ws: Workspace, parsed: flt.Filter) -> Iterable[Setting]:
    """The settings a filter can match: those on the resources a ``level:self`` term names (an index), else all."""
    named = _named_self(ws, parsed)
    return ws.settings.values() if named is None else ws.settings_on(r.id for r in named)


def policy_types(ctx: Context, args: Args) -> Any:
    ws = ctx.ws
    parsed = flt.parse(args.get("filter"), TYPE_KEYS)
    level_key = "level" if parsed.get("level") else "policyTypeLevel"
    type_ok = flt.type_predicate(ws, parsed, ("policyType", "policyTypeId"), level_key, DEFAULT_LEVELS)
    chosen = sorted((t for t in ws.policy_types.values() if type_ok(t.uri)), key=_by_id)
    getters: dict[str, Callable[[Any], Any]] = {
        "id": _by_id,
        "title": lambda t: t.title,
        "uri": lambda t: t.uri,
    }
    page, token = flt.page(chosen, parsed, args.get("paging"), getters)
    return envelope([views.policy_type_dict(t) for t in page], token, len(chosen))


def policy_values(ctx: Context, args: Args, scope: Resource | None = None) -> Any:
    ws = ctx.ws
    parsed = _filter(args, VALUE_KEYS, scope)
    in_res = flt.resource_predicate(ws, parsed, _RES_TERMS, "level", DEFAULT_LEVELS)
    type_ok = flt.type_predicate(
        ws, parsed, ("policyType", "policyTypeId"), "policyTypeLevel", DEFAULT_LEVELS
    )
    state_ok = flt.value_predicate(parsed, "state", lambda v: v.state, STATE_ALIASES)
    value_ok = flt.value_predicate(parsed, "value", lambda v: v.value, {})
    types = sorted((t for t in ws.policy_types.values() if type_ok(t.uri)), key=_by_id)
    found = []
    for res in sorted(ws.resources.values(), key=_by_id):
        if not (in_res(res) and ctx.in_scope(res)):
            continue
        for ptype in types:
            if materialized(ws, ptype, res):
                value = resolve(ws, ptype, res)
                if state_ok(value) and value_ok(value):
                    found.append(views.ValueView(ctx, value))
    page, token = flt.page(found, parsed, args.get("paging"), {})
    return envelope(page, token, len(found))


def control_dict(ctx: Context, control: Control) -> dict[str, Any]:
    ws = ctx.ws
    ctype = ws.control_types.get(control.type_uri)
    res = ws.resources.get(control.resource_id)
    return {
        "type": views.control_type_dict(ctype) if ctype else None,
        "state": control.state,
        "reason": control.reason,
        "details": control.details,
        "mute": None,
        "resource": views.ResourceView(ctx, res) if res else None,
        "turbot": {
            "id": control.id,
            "resourceId": control.resource_id,
            "controlTypeId": ctype.id if ctype else None,
            "resourceTypeId": ws.resource_type_id(res.type_uri) if res else None,
            "createTimestamp": control.create_ts,
            "updateTimestamp": control.update_ts,
            "stateChangeTimestamp": control.state_change_ts,
            "versionId": control.version_id,
        },
    }


def _matching_controls(ctx: Context, parsed: flt.Filter, with_resource_terms: bool) -> list[Control]:
    ws = ctx.ws
    in_res = (
        flt.resource_predicate(ws, parsed, _RES_TERMS, "level", DEFAULT_LEVELS)
        if with_resource_terms
        else (lambda _r: True)
    )
    keys = ("controlType", "controlTypeId")
    type_ok = flt.type_predicate(ws, parsed, keys, "controlTypeLevel", DEFAULT_LEVELS)
    state_ok = flt.value_predicate(parsed, "state", lambda c: c.state, STATE_ALIASES)
    res_type_ok = resource_type_ok(ctx, parsed, _type_uri)
    out = []
    for control in ws.controls.values():
        res = ws.resources.get(control.resource_id)
        if res is None or not ctx.in_scope(res):
            continue
        if type_ok(control.type_uri) and state_ok(control) and res_type_ok(res) and in_res(res):
            out.append(control)
    return sorted(out, key=_by_id)


def counts(controls: list[Control]) -> dict[str, Any]:
    tally = dict.fromkeys(STATES, 0)
    for control in controls:
        tally[control.state] = tally.get(control.state, 0) + 1
    return {"total": len(controls), **tally}


def controls(ctx: Context, args: Args, scope: Resource | None = None) -> Any:
    parsed = _filter(args, CONTROL_KEYS, scope)
    chosen = _matching_controls(ctx, parsed, True)
    getters: dict[str, Callable[[Control], Any]] = {
        "id": _by_id,
        "state": lambda c: c.state,
        "stateChangeTimestamp": lambda c: c.state_change_ts,
    }
    page, token = flt.page(chosen, parsed, args.get("paging"), getters)
    return envelope([control_dict(ctx, c) for c in page], token, len(chosen), {"control": counts(chosen)})


def _summary(controls_: list[Control]) -> dict[str, Any]:
    return {"total": len(controls_), "control": counts(controls_)}


def summaries_by_control_type(ctx: Context, args: Args) -> Any:
    parsed = flt.parse(args.get("filter"), CONTROL_KEYS)
    groups: dict[str, list[Control]] = {}
    for control in _matching_controls(ctx, parsed, True):
        groups.setdefault(control.type_uri, []).append(control)
    items = [
        {"type": views.control_type_dict(ctx.ws.control_types[uri]), "summary": _summary(group)}
        for uri, group in sorted(groups.items(), key=lambda kv: int(ctx.ws.control_types[kv[0]].id))
    ]
    return {"items": items, "paging": {"next": None, "previous": None}}


def summaries_by_resource(ctx: Context, args: Args) -> Any:
    """One item per resource chosen by ``resource`` (level defaults to self); counts its whole subtree."""
    ws = ctx.ws
    parsed = flt.parse(args.get("filter"), CONTROL_KEYS)
    if parsed.get(*_RES_TERMS):
        pick = flt.resource_predicate(ws, parsed, _RES_TERMS, "level", {"self"})
        chosen = sorted((r for r in ws.resources.values() if pick(r) and ctx.in_scope(r)), key=_by_id)
    else:
        chosen = [ws.root()]
    matching = _matching_controls(ctx, parsed, False)
    items = []
    for res in chosen:
        subtree = [c for c in matching if res.id in ws.resources[c.resource_id].path]
        items.append({"resource": views.ResourceView(ctx, res), "summary": _summary(subtree)})
    page, token = flt.page(items, parsed, args.get("paging"), {})
    return {"items": page, "paging": {"next": token, "previous": None}}
