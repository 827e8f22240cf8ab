"""GraphQL object views: wrap state records and answer their fields (method ``f_<snake_case field>``)."""

from __future__ import annotations

from typing import Any

import yaml

from . import listings
from .context import Context
from .errors import forbidden, not_found
from .model import ControlType, PolicyType, Resource, Setting
from .policy import Resolved, materialized, resolve

Args = dict[str, Any]


def type_meta(type_id: str, uri: str, title: str) -> dict[str, Any]:
    return {
        "id": type_id,
        "akas": [uri],
        "title": title,
        "parentId": None,
        "path": type_id,
        "versionId": type_id,
    }


def resource_type_dict(ctx: Context, uri: str) -> dict[str, Any] | None:
    rtype = ctx.ws.resource_types.get(uri)
    if rtype is None:
        return None
    return {
        "uri": rtype.uri,
        "title": rtype.title,
        "modUri": rtype.mod_uri,
        "trunk": {"title": rtype.title},
        "turbot": type_meta(rtype.id, rtype.uri, rtype.title),
    }


def policy_type_dict(ptype: PolicyType) -> dict[str, Any]:
    return {
        "uri": ptype.uri,
        "title": ptype.title,
        "modUri": ptype.mod_uri,
        "description": None,
        "schema": ptype.schema,
        "defaultTemplate": None,
        "defaultValue": ptype.default,
        "targets": ptype.targets,
        "parent": ptype.parent_uri,
        "trunk": {"title": ptype.trunk_title},
        "turbot": type_meta(ptype.id, ptype.uri, ptype.title),
    }


def control_type_dict(ctype: ControlType) -> dict[str, Any]:
    return {
        "uri": ctype.uri,
        "title": ctype.title,
        "modUri": ctype.mod_uri,
        "targets": [ctype.target_type_uri],
        "trunk": {"title": ctype.trunk_title},
        "turbot": type_meta(ctype.id, ctype.uri, ctype.title),
    }


def yaml_text(value: Any) -> str:
    text = yaml.safe_dump(value, default_flow_style=False, allow_unicode=True, sort_keys=False)
    return text[: -len("...\n")] if text.endswith("\n...\n") else text


class ResourceView:
    """A resource (also serves the SmartFolder and PolicyPack types)."""

    def __init__(self, ctx: Context, res: Resource) -> None:
        self.ctx = ctx
        self.res = res

    def meta(self) -> dict[str, Any]:
        ws, res = self.ctx.ws, self.res
        parent = ws.resources.get(res.parent_id) if res.parent_id else None
        return {
            "id": res.id,
            "parentId": res.parent_id,
            "akas": res.akas,
            "title": res.title,
            "tags": res.tags,
            "path": ".".join(res.path),
            "resourceTypeId": ws.resource_type_id(res.type_uri),
            "versionId": res.version_id,
            "createTimestamp": res.create_ts,
            "updateTimestamp": res.update_ts,
            "deleteTimestamp": None,
            "timestamp": res.update_ts,
            "metadata": None,
            "custom": None,
            "terraform": None,
            "resourceGroupIds": [],
            "resourceCategoryId": None,
            "resourceParentAka": parent.akas[0] if parent and parent.akas else None,
            "actorIdentityId": None,
            "state": "active",
        }

    def f_type(self, args: Args) -> Any:
        return resource_type_dict(self.ctx, self.res.type_uri)

    def f_turbot(self, args: Args) -> Any:
        return self.meta()

    def f_get(self, args: Args) -> Any:
        """A dotted path into ``{...data, "turbot": {...metadata}}``; an empty path is the whole object (the
        provider's full read, ``data: get(path: "")``); a missing path is null."""
        node: Any = {**self.res.data, "turbot": self.meta()}
        path = str(args.get("path") or "")
        if not path:
            return node
        for part in path.split("."):
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        return node

    def f_data(self, args: Args) -> Any:
        return self.res.data

    def f_metadata(self, args: Args) -> Any:
        return None

    def f_akas(self, args: Args) -> Any:
        return self.res.akas

    def f_title(self, args: Args) -> Any:
        return self.res.title

    def f_description(self, args: Args) -> Any:
        return self.res.data.get("description")

    def f_filters(self, args: Args) -> Any:
        return self.res.data.get("filters")

    def f_color(self, args: Args) -> Any:
        return self.res.data.get("color")

    def f_tags(self, args: Args) -> Any:
        return self.res.tags

    def f_trunk(self, args: Args) -> Any:
        ws = self.ctx.ws
        return {"title": " > ".join(ws.resources[i].title for i in self.res.path if i in ws.resources)}

    def f_parent(self, args: Args) -> Any:
        parent = self.ctx.ws.resources.get(self.res.parent_id or "")
        return ResourceView(self.ctx, parent) if parent else None

    def f_children(self, args: Args) -> Any:
        kids = [self.ctx.ws.resources[c] for c in self.ctx.ws.children.get(self.res.id, [])]
        return listings.resource_page(self.ctx, kids, args)

    def f_attached_smart_folders(self, args: Args) -> Any:
        ws = self.ctx.ws
        packs = [ws.resources[p] for p in ws.visible_attachments(self.res.id) if p in ws.resources]
        return listings.fixed_page(self.ctx, packs)

    def f_attached_resources(self, args: Args) -> Any:
        ws = self.ctx.ws
        targets = [ws.resources[t] for t in ws.attachments if self.res.id in ws.visible_attachments(t)]
        return listings.fixed_page(self.ctx, [t for t in targets if self.ctx.in_scope(t)])

    def f_available_smart_folders(self, args: Args) -> Any:
        ws = self.ctx.ws
        attached = set(ws.attachments.get(self.res.id, []))
        packs = [
            ws.resources[p]
            for p in sorted(ws.by_type.get("tmod:@turbot/turbot#/resource/types/smartFolder", ()))
        ]
        return listings.resource_page(self.ctx, [p for p in packs if p.id not in attached], args)

    def f_policy_value(self, args: Args) -> Any:
        return value_view(self.ctx, args.get("uri"), self.res)

    def f_control(self, args: Args) -> Any:
        return control_view(self.ctx, args.get("uri"), self.res)

    def f_controls(self, args: Args) -> Any:
        return listings.controls(self.ctx, args, scope=self.res)

    def f_policy_settings(self, args: Args) -> Any:
        return listings.policy_settings(self.ctx, args, scope=self.res)

    def f_policy_values(self, args: Args) -> Any:
        return listings.policy_values(self.ctx, args, scope=self.res)


class SettingView:
    def __init__(self, ctx: Context, setting: Setting) -> None:
        self.ctx = ctx
        self.s = setting

    def _secret(self) -> None:
        if not self.ctx.can_read_secrets():
            raise forbidden()

    def f_type(self, args: Args) -> Any:
        ptype = self.ctx.ws.policy_types.get(self.s.type_uri)
        return policy_type_dict(ptype) if ptype else None

    def f_resource(self, args: Args) -> Any:
        res = self.ctx.ws.resources.get(self.s.resource_id)
        return ResourceView(self.ctx, res) if res else None

    def f_value(self, args: Args) -> Any:
        return None if self.s.is_calculated else self.s.value

    def f_value_source(self, args: Args) -> Any:
        return self.s.value_source

    def f_secret_value(self, args: Args) -> Any:
        self._secret()
        return self.f_value(args)

    def f_secret_value_source(self, args: Args) -> Any:
        self._secret()
        return self.s.value_source

    def f_default(self, args: Args) -> Any:
        return False

    def f_precedence(self, args: Args) -> Any:
        return self.s.precedence

    def f_template(self, args: Args) -> Any:
        return self.s.template

    def f_template_input(self, args: Args) -> Any:
        return self.s.template_input

    def f_input(self, args: Args) -> Any:
        value = self.s.template_input
        if value is None or isinstance(value, str):
            return value
        return yaml_text(value)

    def f_is_calculated(self, args: Args) -> Any:
        return self.s.is_calculated

    def f_note(self, args: Args) -> Any:
        return self.s.note

    def f_valid_from_timestamp(self, args: Args) -> Any:
        return self.s.valid_from

    def f_valid_to_timestamp(self, args: Args) -> Any:
        return self.s.valid_to

    def f_turbot(self, args: Args) -> Any:
        ptype = self.ctx.ws.policy_types.get(self.s.type_uri)
        return {
            "id": self.s.id,
            "resourceId": self.s.resource_id,
            "policyTypeId": ptype.id if ptype else None,
            "createTimestamp": self.s.create_ts,
            "updateTimestamp": self.s.update_ts,
            "versionId": self.s.version_id,
        }


class ValueView:
    def __init__(self, ctx: Context, resolved: Resolved) -> None:
        self.ctx = ctx
        self.r = resolved

    def f_value(self, args: Args) -> Any:
        return self.r.value

    def f_secret_value(self, args: Args) -> Any:
        if not self.ctx.can_read_secrets():
            raise forbidden()
        return self.r.value

    def f_precedence(self, args: Args) -> Any:
        return self.r.precedence

    def f_state(self, args: Args) -> Any:
        return self.r.state

    def f_reason(self, args: Args) -> Any:
        return self.r.reason

    def f_details(self, args: Args) -> Any:
        return None

    def f_default(self, args: Args) -> Any:
        return self.r.default

    def f_is_calculated(self, args: Args) -> Any:
        return bool(self.r.setting and self.r.setting.is_calculated)

    def f_setting(self, args: Args) -> Any:
        return SettingView(self.ctx, self.r.setting) if self.r.setting else None

    def f_type(self, args: Args) -> Any:
        return policy_type_dict(self.r.ptype)

    def f_resource(self, args: Args) -> Any:
        return ResourceView(self.ctx, self.r.resource)

    def f_turbot(self, args: Args) -> Any:
        return {
            "id": self.ctx.ws.value_id(self.r.ptype.uri, self.r.resource.id),
            "resourceId": self.r.resource.id,
            "policyTypeId": self.r.ptype.id,
            "settingId": self.r.setting.id if self.r.setting else None,
            "updateTimestamp": self.r.setting.update_ts if self.r.setting else None,
        }


def value_view(ctx: Context, type_ref: str | None, res: Resource) -> ValueView:
    """The value of a policy type on ``res``, or ``Not Found: Policy value …`` when it is not materialized."""
    ptype = ctx.ws.policy_type(type_ref)
    if ptype is None or not materialized(ctx.ws, ptype, res):
        raise not_found("Policy value")
    ctx.check_read(res)
    return ValueView(ctx, resolve(ctx.ws, ptype, res))


def control_view(ctx: Context, type_ref: str | None, res: Resource) -> dict[str, Any]:
    ctype = ctx.ws.control_type(type_ref)
    control = ctx.ws.controls.get((ctype.uri, res.id)) if ctype else None
    if control is None:
        raise not_found("Control")
    ctx.check_read(res)
    return listings.control_dict(ctx, control)
