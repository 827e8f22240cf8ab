"""Policy value resolution through the hierarchy with attached packs (§4.5) and the Approved control
(§4.6)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from . import activities
from .clock import parse_iso
from .model import Control, ControlType, PolicyType, Resource, Setting
from .workspace import Workspace

NEW_WINDOW = dt.timedelta(minutes=60)


@dataclass
class Resolved:
    """The effective value of one policy type on one resource."""

    ptype: PolicyType
    resource: Resource
    value: Any
    setting: Setting | None
    precedence: str
    default: bool
    state: str
    reason: str | None = None


def sequence(ws: Workspace, res: Resource) -> list[str]:
    """Node ids from the root down to ``res``; the packs attached to a node come just before it, in order."""
    out: list[str] = []
    for nid in res.path:
        out.extend(ws.attachments.get(nid, ()))
        out.append(nid)
    return out


def _in_force(setting: Setting, now: dt.datetime) -> bool:
    if setting.valid_from and parse_iso(setting.valid_from) > now:
        return False
    return not (setting.valid_to and parse_iso(setting.valid_to) <= now)


def validity_crossed(ws: Workspace, since: dt.datetime, until: dt.datetime) -> bool:
    """Whether a setting started or ended (its ``validFrom``/``validTo``) in ``(since, until]``, or the clock
    went back: the controls must be evaluated again."""
    if until < since:
        return True
    for setting in ws.settings.values():
        for stamp in (setting.valid_from, setting.valid_to):
            if stamp and since < parse_iso(stamp) <= until:
                return True
    return False


def resolve(ws: Workspace, ptype: PolicyType, res: Resource, seq: list[str] | None = None) -> Resolved:
    """Last REQUIRED candidate, else last RECOMMENDED, else the type default."""
    now = ws.clock.now()
    required: Setting | None = None
    recommended: Setting | None = None
    for nid in seq if seq is not None else sequence(ws, res):
        setting = ws.setting_on(ptype.uri, nid)
        if setting is None or not _in_force(setting, now):
            continue
        if setting.precedence == "REQUIRED":
            required = setting
        else:
            recommended = setting
    winner = required or recommended
    if winner is None:
        return Resolved(ptype, res, ptype.default, None, "RECOMMENDED", True, "ok")
    if winner.is_calculated:
        if ws.calculator is None:
            return Resolved(
                ptype, res, None, winner, winner.precedence, False, "tbd", "Calculated policy pending"
            )
        calc = ws.calculator(ws, winner, ptype, res)
        value = calc.value if calc.state == "ok" else None
        return Resolved(ptype, res, value, winner, winner.precedence, False, calc.state, calc.reason)
    return Resolved(ptype, res, winner.value, winner, winner.precedence, False, "ok")


def primary_of(ws: Workspace, ptype: PolicyType) -> PolicyType:
    seen = {ptype.uri}
    while ptype.parent_uri and ptype.parent_uri in ws.policy_types and ptype.parent_uri not in seen:
        ptype = ws.policy_types[ptype.parent_uri]
        seen.add(ptype.uri)
    return ptype


def materialized(ws: Workspace, ptype: PolicyType, res: Resource) -> bool:
    """Whether the value of ``ptype`` exists on ``res`` (targets + Automatic materialization)."""
    primary = primary_of(ws, ptype)
    if res.type_uri not in ptype.targets and res.type_uri not in primary.targets:
        return False
    if ptype.always_materialized or primary.always_materialized:
        return True
    return any(ws.setting_on(primary.uri, nid) is not None for nid in sequence(ws, res))


@dataclass
class Outcome:
    state: str
    reason: str | None
    details: Any
    delete: bool = False


def _not_calculated(value: Resolved) -> Outcome:
    """A calculated input still pending → ``tbd``; one that failed or came out invalid → ``error``."""
    if value.state == "tbd":
        return Outcome("tbd", "Calculated policy pending", None)
    return Outcome("error", f"{value.ptype.title}: {value.reason}", None)


def outcome_for(ws: Workspace, ctype: ControlType, res: Resource) -> Outcome | None:
    """The control's outcome on ``res``; ``None`` when the primary policy is set nowhere in its hierarchy."""
    primary = ws.policy_types.get(ctype.primary_policy_uri)
    if primary is None:
        return None
    seq = sequence(ws, res)
    if not any(ws.setting_on(primary.uri, nid) is not None for nid in seq):
        return None
    action = resolve(ws, primary, res, seq)
    if action.state != "ok":
        return _not_calculated(action)
    if action.value == "Skip":
        return Outcome("skipped", "Skip", None)
    approved = True
    usage_type = ws.policy_types.get(ctype.usage_policy_uri or "")
    if usage_type is not None:
        usage = resolve(ws, usage_type, res, seq)
        if usage.state != "ok":
            return _not_calculated(usage)
        if usage.value == "Approved if AWS > ECR > Enabled":
            enabled_type = ws.policy_types.get(ctype.enabled_policy_uri or "")
            enabled = resolve(ws, enabled_type, res, seq).value if enabled_type else "Enabled"
            approved = enabled in ("Enabled", "Enabled: Metadata Only")
        else:
            approved = usage.value == "Approved"
    details = [{"key": "Usage", "value": "Approved" if approved else "Not approved"}]
    if approved:
        return Outcome("ok", "Approved", details)
    if str(action.value).startswith("Enforce"):
        age = ws.clock.now() - parse_iso(res.create_ts)
        if age < NEW_WINDOW:
            return Outcome("alarm", "Not approved", details, delete=True)
        return Outcome("alarm", "Not approved (not new; no action taken)", details)
    return Outcome("alarm", "Not approved", details)


def _set_control(ws: Workspace, ctype: ControlType, res: Resource, outcome: Outcome) -> Control:
    """Create or update the control; a new control or a new state is an activity (no actor)."""
    key = (ctype.uri, res.id)
    now = ws.now()
    control = ws.controls.get(key)
    if control is None:
        control = Control(
            ws.new_id(),
            ctype.uri,
            res.id,
            outcome.state,
            outcome.reason,
            outcome.details,
            now,
            now,
            now,
            ws.new_id(),
        )
        ws.controls[key] = control
        ws.control_ids[control.id] = key
        activities.record(ws, "control_created", res, None, control=control)
        return control
    if (control.state, control.reason, control.details) != (outcome.state, outcome.reason, outcome.details):
        old = activities.snapshot(control)
        if control.state != outcome.state:
            control.state_change_ts = now
        control.state, control.reason, control.details = outcome.state, outcome.reason, outcome.details
        control.update_ts = now
        control.version_id = ws.new_id()
        if old.state != control.state:
            activities.record(ws, "control_updated", res, None, control=control, old_control=old)
    return control


def affected(ws: Workspace, touched: Iterable[str]) -> set[str]:
    """The resources under which a write to ``touched`` can change a control: each of them (its own settings
    and attachments) and every target a touched pack is attached to (its settings)."""
    touched = set(touched)
    roots = set(touched)
    for target, packs in ws.attachments.items():
        if not touched.isdisjoint(packs):
            roots.add(target)
    return roots


def evaluate(
    ws: Workspace,
    *,
    async_mode: bool = False,
    enforcement_failure: bool = False,
    under: set[str] | None = None,
) -> int:
    """Re-evaluate every control (``under``: only those of resources below or at these ids, what a write
    there can change; a control's outcome depends only on the settings and attachments along its path);
    returns how many controls changed or resources were deleted.

    ``async_mode``: changed controls only go to ``tbd`` (applied on the next synchronous run, i.e. ``tick``).
    ``enforcement_failure``: a delete action fails and the control goes to ``error`` (the repo is kept).
    """
    changes = 0
    for ctype in list(ws.control_types.values()):
        for rid in sorted(ws.by_type.get(ctype.target_type_uri, set())):
            res = ws.resources.get(rid)
            if res is None or (under is not None and under.isdisjoint(res.path)):
                continue
            outcome = outcome_for(ws, ctype, res)
            key = (ctype.uri, rid)
            current = ws.controls.get(key)
            if outcome is None:
                if current is not None:
                    ws.control_ids.pop(ws.controls.pop(key).id, None)
                    activities.record(ws, "control_deleted", res, None, old_control=current)
                    changes += 1
                continue
            same = current is not None and (current.state, current.reason, current.details) == (
                outcome.state,
                outcome.reason,
                outcome.details,
            )
            if same and not outcome.delete:
                continue
            changes += 1
            if async_mode:
                _set_control(ws, ctype, res, Outcome("tbd", "Evaluation pending", None))
            elif outcome.delete and enforcement_failure:
                reason = "Enforcement failed: the repository could not be deleted"
                _set_control(ws, ctype, res, Outcome("error", reason, outcome.details))
            elif outcome.delete:
                control = _set_control(ws, ctype, res, outcome)
                ws.events.append(
                    {
                        "action": "delete",
                        "resourceId": res.id,
                        "akas": list(res.akas or []),
                        "controlId": control.id,
                        "controlType": ctype.uri,
                        "at": ws.now(),
                    }
                )
                activities.remove(ws, res.id, None)
            else:
                _set_control(ws, ctype, res, outcome)
    return changes
