"""Root mutation resolvers: policy packs (smart folders), attachments, settings, deletes, runControl. Every
write but an attachment records its activity (``activities.py``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import yaml

from .activities import snapshot
from .clock import iso, parse_iso
from .context import Context
from .errors import NOT_ELIGIBLE, GuardrailsError, bad_request, conflict, not_found, validation_failed
from .jsonschema_subset import validate
from .model import T_FOLDER, T_PACK, T_ROOT, PolicyType, Resource, Setting
from .views import ResourceView, SettingView, yaml_text

Args = dict[str, Any]
Change = Callable[[list[str]], list[str]]


class MutationResolvers:
    ctx: Context

    # ---- packs ------------------------------------------------------------------------------------------
    def _akas(self, akas: list[str] | None, own_id: str | None) -> list[str] | None:
        out: list[str] = []
        for aka in akas or []:
            if aka.isdigit():
                raise bad_request(f'AKA "{aka}" must not be all digits')
            owner = self.ctx.ws.aka_owner(aka)
            if owner is not None and owner != own_id:
                raise conflict()
            if aka not in out:
                out.append(aka)
        return out or None

    @staticmethod
    def _tags(tags: Any) -> dict[str, Any] | None:
        if tags is None:
            return None
        if not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
            raise bad_request("tags must be a map of strings")
        return tags

    def _pack(self, ref: str) -> Resource:
        res = self.ctx.ws.lookup(ref)
        if res is None:
            raise not_found("Policy pack")
        if not self.ctx.ws.is_pack(res):
            raise bad_request("Resource is not a policy pack")
        return res

    def f_create_smart_folder(self, args: Args) -> Any:
        ctx, ws, inp = self.ctx, self.ctx.ws, args["input"]
        ctx.check_write()
        parent = ws.lookup(inp["parent"])
        if parent is None:
            raise not_found()
        ctx.check_write(parent)
        if parent.type_uri not in (T_ROOT, T_FOLDER):
            raise bad_request("A policy pack's parent must be the root or a folder")
        akas = self._akas(inp.get("akas"), None)
        data: dict[str, Any] = {
            "title": inp["title"],
            "description": inp.get("description"),
            "color": inp.get("color"),
        }
        if inp.get("filter") is not None:
            data["filters"] = [inp["filter"]]
        now = ws.now()
        rid = ws.new_id()
        res = Resource(
            rid,
            T_PACK,
            parent.id,
            akas,
            inp["title"],
            data,
            self._tags(inp.get("tags")),
            now,
            now,
            ws.new_id(),
        )
        ws.add_resource(res)
        ctx.record("resource_created", res)
        ctx.changed([res.id])
        return ResourceView(ctx, res)

    def f_update_smart_folder(self, args: Args) -> Any:
        ctx, ws, inp = self.ctx, self.ctx.ws, args["input"]
        ctx.check_write()
        res = self._pack(inp["id"])
        old = snapshot(res)
        if "akas" in inp:
            ws.set_akas(res, self._akas(inp["akas"], res.id))
        if inp.get("title") is not None:
            res.title = res.data["title"] = inp["title"]
        for key in ("description", "color"):
            if key in inp:
                res.data[key] = inp[key]
        if "filter" in inp:
            res.data.pop("filters", None)
            if inp["filter"] is not None:
                res.data["filters"] = [inp["filter"]]
        if "tags" in inp:
            res.tags = self._tags(inp["tags"])
        ws.touch(res)
        ctx.record("resource_updated", res, old_resource=old)
        ctx.changed([res.id])
        return ResourceView(ctx, res)

    def _delete_pack(self, res: Resource) -> Any:
        count = self.ctx.ws.attached_count(res.id)
        if count:
            raise conflict(f"Policy pack is attached to {count} resource(s); detach it before deleting")
        self.ctx.remove(res)
        self.ctx.changed([res.id])
        return ResourceView(self.ctx, res)

    def f_delete_smart_folder(self, args: Args) -> Any:
        self.ctx.check_write()
        return self._delete_pack(self._pack(args["input"]["id"]))

    def f_delete_resource(self, args: Args) -> Any:
        ctx, ws = self.ctx, self.ctx.ws
        ctx.check_write()
        res = ws.lookup(args["input"]["id"])
        if res is None:
            raise not_found()
        ctx.check_write(res)
        if ws.is_pack(res):
            return self._delete_pack(res)
        if ws.children.get(res.id):
            raise conflict("Resource has children")
        ctx.remove(res)
        ctx.changed()
        return ResourceView(ctx, res)

    # ---- attachments -----------------------------------------------------------------------------------
    def _attach_input(self, args: Args, detach: bool) -> tuple[Resource, list[str]]:
        ctx, ws, inp = self.ctx, self.ctx.ws, args["input"]
        ctx.check_write()
        target = ws.lookup(inp["resource"])
        if target is None:
            raise not_found()
        ctx.check_write(target)
        if ws.is_pack(target):
            raise bad_request("Policy packs cannot be attached to policy packs")
        ids: list[str] = []
        for ref in inp["smartFolders"]:
            pack = ws.resources.get(ref) if ref.isdigit() else None
            gone = detach and ref.isdigit() and pack is None  # detaching an absent pack is a no-op
            if not gone and (pack is None or not ws.is_pack(pack)):
                raise GuardrailsError(NOT_ELIGIBLE)
            if ref not in ids:
                ids.append(ref)
        return target, ids

    def _store(self, target: Resource, packs: list[str]) -> None:
        ws, cfg = self.ctx.ws, self.ctx.faults.config
        old = ws.attachments.get(target.id, [])
        if cfg.attach_lag_ms > 0 and packs != old:
            ws.lagged[target.id] = (
                ws.visible_attachments(target.id),
                time.monotonic() + cfg.attach_lag_ms / 1000,
            )
            self.ctx.faults.counts["lagged"] += 1
        if packs:
            ws.attachments[target.id] = [p for p in packs if p in ws.resources]
        else:
            ws.attachments.pop(target.id, None)
        self.ctx.changed([target.id])

    def _reply(self, ids: list[str]) -> Any:
        pack = self.ctx.ws.resources.get(ids[0]) if ids else None
        return ResourceView(self.ctx, pack) if pack else None

    def _write(
        self, args: Args, change: Callable[[list[str], list[str]], list[str]], detach: bool = False
    ) -> Any:
        target, ids = self._attach_input(args, detach)
        if self.ctx.faults.config.race:
            return self._racy_write(target, ids, change)
        self._store(target, change(list(self.ctx.ws.attachments.get(target.id, [])), ids))
        return self._reply(ids)

    async def _racy_write(
        self, target: Resource, ids: list[str], change: Callable[[list[str], list[str]], list[str]]
    ) -> Any:
        """Lost-update fault: read the list, wait ``raceWindowMs`` with no lock, write back our copy."""
        copy = list(self.ctx.ws.attachments.get(target.id, []))
        await asyncio.sleep(self.ctx.faults.config.race_window_ms / 1000)
        self.ctx.faults.counts["raceWrites"] += 1
        if target.id not in self.ctx.ws.resources:
            raise not_found()
        self._store(target, change(copy, ids))
        return self._reply(ids)

    def f_attach_smart_folders(self, args: Args) -> Any:
        return self._write(args, lambda cur, ids: cur + [p for p in ids if p not in cur])

    def f_detach_smart_folders(self, args: Args) -> Any:
        return self._write(args, lambda cur, ids: [p for p in cur if p not in ids], detach=True)

    def f_put_smart_folder_attachments(self, args: Args) -> Any:
        return self._write(args, lambda cur, ids: list(ids))

    # ---- settings --------------------------------------------------------------------------------------
    @staticmethod
    def _content(ptype: PolicyType, inp: Args, required: bool) -> dict[str, Any] | None:
        has_value = inp.get("value") is not None
        has_source = inp.get("valueSource") is not None
        has_template = inp.get("template") is not None
        if has_value and has_source:
            raise bad_request("Only one of value and valueSource may be set")
        if has_template and (has_value or has_source):
            raise bad_request("A calculated setting takes template and templateInput instead of a value")
        if not (has_value or has_source or has_template):
            if required:
                raise bad_request("One of value, valueSource or template is required")
            return None
        if has_template:
            content = {"value": None, "value_source": None, "via_source": False}
            return {**content, "template": inp["template"], "template_input": inp.get("templateInput")}
        if has_source:
            text = str(inp["valueSource"])
            try:
                value = yaml.safe_load(text)
            except yaml.YAMLError:
                raise validation_failed(f"valueSource is not valid YAML for {ptype.uri}") from None
            source, via_source = text, True
        else:
            value = inp["value"]
            source, via_source = yaml_text(value), False
        reason = validate(value, ptype.schema, ptype.uri)
        if reason:
            raise validation_failed(reason)
        return {
            "value": value,
            "value_source": source,
            "via_source": via_source,
            "template": None,
            "template_input": None,
        }

    @staticmethod
    def _timestamp(inp: Args, key: str) -> str | None:
        if inp.get(key) is None:
            return None
        try:
            return iso(parse_iso(str(inp[key])))
        except ValueError:
            raise bad_request(f"{key} is not an ISO-8601 timestamp") from None

    def f_create_policy_setting(self, args: Args) -> Any:
        ctx, ws, inp = self.ctx, self.ctx.ws, args["input"]
        ctx.check_write()
        res = ws.lookup(inp["resource"])
        if res is None:
            raise not_found()
        ctx.check_write(res)
        ptype = ws.policy_type(inp["type"])
        if ptype is None:
            raise not_found("Policy type")
        if ws.setting_on(ptype.uri, res.id) is not None:
            raise conflict()
        content = self._content(ptype, inp, required=True) or {}
        now = ws.now()
        setting = Setting(
            id=ws.new_id(),
            type_uri=ptype.uri,
            resource_id=res.id,
            precedence=inp.get("precedence") or "REQUIRED",
            note=inp.get("note"),
            valid_from=self._timestamp(inp, "validFromTimestamp"),
            valid_to=self._timestamp(inp, "validToTimestamp"),
            create_ts=now,
            update_ts=now,
            version_id=ws.new_id(),
            **content,
        )
        ws.add_setting(setting)
        ctx.record("policy_setting_created", res, setting=setting)
        ctx.changed([res.id])
        return SettingView(ctx, setting)

    def _setting(self, ref: str) -> Setting:
        setting = self.ctx.ws.settings.get(str(ref))
        if setting is None:
            raise not_found("Policy setting")
        self.ctx.check_write(self.ctx.ws.resources.get(setting.resource_id))
        return setting

    def f_update_policy_setting(self, args: Args) -> Any:
        ctx, ws, inp = self.ctx, self.ctx.ws, args["input"]
        ctx.check_write()
        setting = self._setting(inp["id"])
        old = snapshot(setting)
        ptype = ws.policy_types[setting.type_uri]
        content = self._content(ptype, inp, required=False)
        if content is not None:
            for key, value in content.items():
                setattr(setting, key, value)
        elif "templateInput" in inp and setting.is_calculated:
            setting.template_input = inp["templateInput"]
        if inp.get("precedence") is not None:
            setting.precedence = inp["precedence"]
        if "note" in inp:
            setting.note = inp["note"]
        for key, attr in (("validFromTimestamp", "valid_from"), ("validToTimestamp", "valid_to")):
            if key in inp:
                setattr(setting, attr, self._timestamp(inp, key))
        setting.update_ts = ws.now()
        setting.version_id = ws.new_id()
        ctx.record(
            "policy_setting_updated", ws.resources[setting.resource_id], setting=setting, old_setting=old
        )
        ctx.changed([setting.resource_id])
        return SettingView(ctx, setting)

    def f_delete_policy_setting(self, args: Args) -> Any:
        self.ctx.check_write()
        setting = self._setting(args["input"]["id"])
        self.ctx.ws.remove_setting(setting.id)
        on = self.ctx.ws.resources[setting.resource_id]
        self.ctx.record("policy_setting_deleted", on, old_setting=snapshot(setting))
        self.ctx.changed([setting.resource_id])
        return SettingView(self.ctx, setting)

    def f_run_control(self, args: Args) -> Any:
        self.ctx.check_write()
        ws = self.ctx.ws
        key = ws.control_ids.get(str(args["input"]["id"]))
        if key is None:
            raise not_found("Control")
        self.ctx.changed()
        return {"state": "terminated", "turbot": {"id": ws.new_id()}}
