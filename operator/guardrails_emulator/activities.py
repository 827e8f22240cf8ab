"""The activity log (contract §4.11): one activity per write the emulator makes and per control state change.

Writers call :func:`record` (or :func:`remove`, which deletes a resource and records what went with it); the
``notifications`` query (``feed.py``) serves the log. Decisions where the real API is not documented:

- a pack create/update/delete (API or admin surface) → ``resource_created|updated|deleted`` of the pack; a
  resource added or removed through the admin surface (discovery) → ``resource_created|deleted``, no actor;
- a setting write → ``policy_setting_created|updated|deleted``, about the resource the setting is on; a
  resource's deletion also deletes its settings (``policy_setting_deleted`` each);
- a control that appears, changes state or goes → ``control_created|updated|deleted``, about the controlled
  resource, no actor; a change of reason or details alone records nothing;
- attach, detach and put record nothing: whether Guardrails records them is unknown (contract §4.11), and a
  feed that showed them would let a client rely on it.

Snapshots are copies, so later writes do not change what an activity shows. The log keeps the newest
``MAX_ACTIVITIES`` entries."""

from __future__ import annotations

import copy
from typing import TypeVar

from .model import Activity, Actor, Control, Resource, Setting
from .workspace import Workspace

__all__ = ["MAX_ACTIVITIES", "record", "remove", "snapshot"]

MAX_ACTIVITIES = 200_000
T = TypeVar("T")


def snapshot(item: T) -> T:
    """A deep copy of a record, as it is now."""
    return copy.deepcopy(item)


def record(
    ws: Workspace,
    kind: str,
    subject: Resource,
    actor: Actor | None,
    *,
    resource: bool = True,
    old_resource: Resource | None = None,
    setting: Setting | None = None,
    old_setting: Setting | None = None,
    control: Control | None = None,
    old_control: Control | None = None,
) -> Activity:
    """Append one activity of type ``kind`` about ``subject`` (snapshotted as its ``resource`` unless
    ``resource`` is False, i.e. it was deleted). Pass the other versions as they are; they are copied."""
    activity = Activity(
        id=ws.new_id(),
        type=kind,
        create_ts=ws.now(),
        resource_id=subject.id,
        path=list(subject.path),
        resource_type_uri=subject.type_uri,
        actor=actor,
        resource=snapshot(subject) if resource else None,
        old_resource=old_resource,
        setting=snapshot(setting) if setting is not None else None,
        old_setting=old_setting,
        control=snapshot(control) if control is not None else None,
        old_control=old_control,
    )
    if ws.activities and activity.create_ts < ws.activities[-1].create_ts:
        ws.activities_in_order = False
    ws.activities.append(activity)
    if len(ws.activities) > MAX_ACTIVITIES:
        del ws.activities[: len(ws.activities) - MAX_ACTIVITIES]
    return activity


def remove(ws: Workspace, rid: str, actor: Actor | None) -> Resource | None:
    """Delete one resource (``Workspace.remove_resource``) and record its settings', its controls' and its own
    deletion. Returns the resource, or ``None`` if it did not exist."""
    res = ws.resources.get(rid)
    if res is None:
        return None
    gone = snapshot(res)
    settings = [snapshot(s) for s in ws.settings.values() if s.resource_id == rid]
    controls = [snapshot(c) for c in ws.controls.values() if c.resource_id == rid]
    ws.remove_resource(rid)
    for setting in settings:
        record(ws, "policy_setting_deleted", gone, actor, old_setting=setting)
    for control in controls:
        record(ws, "control_deleted", gone, None, old_control=control)
    record(ws, "resource_deleted", gone, actor, resource=False, old_resource=gone)
    return gone
