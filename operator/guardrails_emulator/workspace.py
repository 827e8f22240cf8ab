"""The workspace state: records, their indexes (by id, AKA, parent, type) and JSON (de)serialisation."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable
from typing import Any

from .clock import Clock
from .model import (
    ROOT_AKA,
    T_PACK,
    Activity,
    Calculation,
    Control,
    ControlType,
    PolicyType,
    Resource,
    ResourceType,
    Setting,
)

FIRST_ID = 100000000000001
# Evaluates a calculated setting (its template and templateInput) for one resource: (workspace, setting,
# policy type, resource) -> Calculation. The server installs one (calculated.py); without it a calculated
# value stays ``tbd``.
Calculator = Callable[["Workspace", Setting, PolicyType, Resource], Calculation]


class Workspace:
    """All mutable state of one emulated workspace; helpers keep the indexes consistent."""

    def __init__(self, clock: Clock | None = None, workspace_version: str = "5.52.3") -> None:
        self.clock = clock or Clock()
        self.workspace_version = workspace_version
        self.counter = FIRST_ID
        self.root_id = ""
        self.resources: dict[str, Resource] = {}
        self.aka_index: dict[str, str] = {}
        self.children: dict[str, list[str]] = {}
        self.by_type: dict[str, set[str]] = {}
        self.resource_types: dict[str, ResourceType] = {}
        self.policy_types: dict[str, PolicyType] = {}
        self.control_types: dict[str, ControlType] = {}
        self.type_ids: dict[str, str] = {}  # type id -> type uri
        self.settings: dict[str, Setting] = {}
        self.setting_index: dict[tuple[str, str], str] = {}
        self.settings_at: dict[str, dict[str, None]] = {}  # resource id -> ids of the settings on it
        self.attachments: dict[str, list[str]] = {}
        self.controls: dict[tuple[str, str], Control] = {}
        self.control_ids: dict[str, tuple[str, str]] = {}
        self.value_ids: dict[tuple[str, str], str] = {}
        self.value_keys: dict[str, tuple[str, str]] = {}
        self.events: list[dict[str, Any]] = []
        # the activity feed, oldest first (activities.py); persisted apart from the rest (server.py)
        self.activities: list[Activity] = []
        self.activities_in_order = True  # False once the clock went back between two activities
        # attachment lag (fault): target id -> (list shown to readers, monotonic expiry)
        self.lagged: dict[str, tuple[list[str], float]] = {}
        self.calculator: Calculator | None = None

    # ---- ids and time -------------------------------------------------------------------------------
    def new_id(self) -> str:
        value = self.counter
        self.counter += 1
        return str(value)

    def now(self) -> str:
        return self.clock.now_iso()

    # ---- lookups ------------------------------------------------------------------------------------
    def lookup(self, ref: str | None) -> Resource | None:
        """A live resource by id (all digits) or exact AKA."""
        if ref is None:
            return None
        ref = str(ref)
        rid = ref if ref.isdigit() else self.aka_index.get(ref)
        return self.resources.get(rid) if rid else None

    def policy_type(self, ref: str | None) -> PolicyType | None:
        if ref is None:
            return None
        uri = self.type_ids.get(ref, ref)
        return self.policy_types.get(uri)

    def control_type(self, ref: str | None) -> ControlType | None:
        if ref is None:
            return None
        uri = self.type_ids.get(ref, ref)
        return self.control_types.get(uri)

    def resource_type_id(self, uri: str) -> str | None:
        rtype = self.resource_types.get(uri)
        return rtype.id if rtype else None

    def is_pack(self, res: Resource) -> bool:
        return res.type_uri == T_PACK

    def aka_owner(self, aka: str) -> str | None:
        if aka in self.aka_index:
            return self.aka_index[aka]
        if aka in self.type_ids.values():
            return "type"
        return None

    def descendants(self, rid: str) -> list[str]:
        out: list[str] = []
        stack = list(self.children.get(rid, []))
        while stack:
            cid = stack.pop()
            out.append(cid)
            stack.extend(self.children.get(cid, []))
        return out

    def attached_count(self, pack_id: str) -> int:
        return sum(1 for packs in self.attachments.values() if pack_id in packs)

    def visible_attachments(self, target_id: str) -> list[str]:
        """The attachment list as readers see it (the previous list during an attach-lag window)."""
        lag = self.lagged.get(target_id)
        if lag is not None:
            if time.monotonic() < lag[1]:
                return [p for p in lag[0] if p in self.resources]
            del self.lagged[target_id]
        return list(self.attachments.get(target_id, []))

    # ---- resource writes ----------------------------------------------------------------------------
    def add_resource(self, res: Resource) -> Resource:
        parent = self.resources.get(res.parent_id) if res.parent_id else None
        res.path = [*parent.path, res.id] if parent else [res.id]
        self.resources[res.id] = res
        for aka in res.akas or []:
            self.aka_index[aka] = res.id
        if res.parent_id:
            self.children.setdefault(res.parent_id, []).append(res.id)
        self.by_type.setdefault(res.type_uri, set()).add(res.id)
        self.counter = max(self.counter, int(res.id) + 1)
        return res

    def set_akas(self, res: Resource, akas: list[str] | None) -> None:
        for aka in res.akas or []:
            self.aka_index.pop(aka, None)
        res.akas = akas
        for aka in akas or []:
            self.aka_index[aka] = res.id

    def touch(self, res: Resource) -> None:
        res.update_ts = self.now()
        res.version_id = self.new_id()

    def remove_resource(self, rid: str) -> Resource | None:
        """Delete one resource with its settings, attachments (both sides), values and controls."""
        res = self.resources.pop(rid, None)
        if res is None:
            return None
        for aka in res.akas or []:
            if self.aka_index.get(aka) == rid:
                del self.aka_index[aka]
        if res.parent_id and res.parent_id in self.children:
            self.children[res.parent_id] = [c for c in self.children[res.parent_id] if c != rid]
        self.children.pop(rid, None)
        self.by_type.get(res.type_uri, set()).discard(rid)
        for sid in list(self.settings_at.get(rid, ())):
            self.remove_setting(sid)
        self.attachments.pop(rid, None)
        self.lagged.pop(rid, None)
        for target, packs in self.attachments.items():
            if rid in packs:
                self.attachments[target] = [p for p in packs if p != rid]
        for key in [k for k in self.controls if k[1] == rid]:
            self.control_ids.pop(self.controls.pop(key).id, None)
        for key in [k for k in self.value_ids if k[1] == rid]:
            self.value_keys.pop(self.value_ids.pop(key), None)
        return res

    # ---- settings -----------------------------------------------------------------------------------
    def add_setting(self, setting: Setting) -> None:
        self.settings[setting.id] = setting
        self.setting_index[(setting.type_uri, setting.resource_id)] = setting.id
        self.settings_at.setdefault(setting.resource_id, {})[setting.id] = None

    def remove_setting(self, sid: str) -> Setting | None:
        setting = self.settings.pop(sid, None)
        if setting is not None:
            self.setting_index.pop((setting.type_uri, setting.resource_id), None)
            on = self.settings_at.get(setting.resource_id, {})
            on.pop(sid, None)
            if not on:
                self.settings_at.pop(setting.resource_id, None)
        return setting

    def settings_on(self, rids: Iterable[str]) -> list[Setting]:
        """The settings on these resources themselves (an index: not a scan of every setting)."""
        return [self.settings[sid] for rid in dict.fromkeys(rids) for sid in self.settings_at.get(rid, ())]

    def setting_on(self, type_uri: str, rid: str) -> Setting | None:
        sid = self.setting_index.get((type_uri, rid))
        return self.settings.get(sid) if sid else None

    def value_id(self, type_uri: str, rid: str) -> str:
        key = (type_uri, rid)
        if key not in self.value_ids:
            vid = self.new_id()
            self.value_ids[key] = vid
            self.value_keys[vid] = key
        return self.value_ids[key]

    # ---- (de)serialisation --------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        def rows(items: Any) -> list[dict[str, Any]]:
            return [dataclasses.asdict(item) for item in items]

        return {
            "counter": self.counter,
            "rootId": self.root_id,
            "clockOffsetSeconds": self.clock.offset.total_seconds(),
            "workspaceVersion": self.workspace_version,
            "resourceTypes": rows(self.resource_types.values()),
            "policyTypes": rows(self.policy_types.values()),
            "controlTypes": rows(self.control_types.values()),
            "resources": rows(sorted(self.resources.values(), key=lambda r: len(r.path))),
            "settings": rows(self.settings.values()),
            "attachments": self.attachments,
            "controls": rows(self.controls.values()),
            "valueIds": [[t, r, v] for (t, r), v in self.value_ids.items()],
            "events": self.events,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any], clock: Clock | None = None) -> Workspace:
        ws = cls(clock or Clock(float(doc.get("clockOffsetSeconds", 0.0))), doc["workspaceVersion"])
        for row in doc["resourceTypes"]:
            ws.register_type(ResourceType(**row))
        for row in doc["policyTypes"]:
            ws.register_type(PolicyType(**row))
        for row in doc["controlTypes"]:
            ws.register_type(ControlType(**row))
        for row in doc["resources"]:
            ws.add_resource(Resource(**{k: v for k, v in row.items() if k != "path"}))
        for row in doc["settings"]:
            ws.add_setting(Setting(**row))
        ws.attachments = {k: list(v) for k, v in doc["attachments"].items()}
        for row in doc["controls"]:
            control = Control(**row)
            ws.controls[(control.type_uri, control.resource_id)] = control
            ws.control_ids[control.id] = (control.type_uri, control.resource_id)
        for type_uri, rid, vid in doc["valueIds"]:
            ws.value_ids[(type_uri, rid)] = vid
            ws.value_keys[vid] = (type_uri, rid)
        ws.events = list(doc.get("events", []))
        ws.root_id = doc["rootId"]
        ws.counter = int(doc["counter"])
        return ws

    def register_type(self, rtype: ResourceType | PolicyType | ControlType) -> None:
        if isinstance(rtype, ResourceType):
            self.resource_types[rtype.uri] = rtype
        elif isinstance(rtype, PolicyType):
            self.policy_types[rtype.uri] = rtype
        else:
            self.control_types[rtype.uri] = rtype
        self.type_ids[rtype.id] = rtype.uri
        self.counter = max(self.counter, int(rtype.id) + 1)

    def root(self) -> Resource:
        return self.resources[self.root_id or self.aka_index[ROOT_AKA]]
