"""Which objects an activity of Guardrails' feed concerns, and what to do about it (pure).

The feed (contract §4.11) is read per pooled client (``feed_follower.py``). Here:

- ``Subject``: what one policy's status says Guardrails holds for it (its pack id, its targets' ids), or one
  exception's (the repositories it holds settings on, and those settings' ids), from Kopf indices;
  ``FeedScope`` groups the subjects that one client's feed covers and renders the feed's views.
- ``EchoLog``: the operator's own writes, by the version ids their replies named (a deleted setting or pack by
  its id, which never comes back). An activity they match is an echo: it causes nothing.
- ``route``: each new activity to a pass for the objects of its pack (settings written or deleted, the pack
  renamed or deleted), or to a compliance refresh for the objects whose attached targets are on the
  controlled resource's path (``control_*``), or to a check of the exceptions that own a setting written or
  deleted on their repositories (``policy_setting_*``: by the setting's id, else by the repository's), or to
  nothing (an echo, or an object this process does not know).
- ``Watermark``: the newest activity time handled, the overlapped window of the next read, and the ids seen in
  that window (each activity is handled once).

Ids come from objects' status, which a tenant may have forged: only Guardrails ids (digits) ever reach a filter.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from ecr_privacy_operator.crd.spec import SEED_CONTROL_TYPE, SEED_USAGE_TYPE
from ecr_privacy_operator.guardrails.activities import (
    Activity,
    ActivityQuery,
    feed_timestamp,
    policy_feed,
    setting_feed,
)
from ecr_privacy_operator.reconcile.apply import Change

GUARDRAILS_ID = re.compile(r"^[0-9]{1,24}$")
SEEN_MEMORY = 100_000  # activity ids remembered in the overlapped window (a poll acts on each once)
ECHO_MEMORY = 50_000  # own writes remembered per client (an echo comes back within a poll or two)
_DELETIONS = frozenset({"SettingDeleted", "PackDeleted"})


def guardrails_ids(values: Iterable[object]) -> tuple[str, ...]:
    """The values that are Guardrails ids (digits only), once each, in order; anything else is dropped."""
    return tuple(dict.fromkeys(v for v in values if isinstance(v, str) and GUARDRAILS_ID.match(v)))


@dataclass(frozen=True)
class Subject:
    """One object as the feed sees it: a policy's uid, its pack's id and its attached targets' ids; or an
    exception's uid, the repositories it holds its settings on and those settings' ids (no pack)."""

    uid: str
    pack_id: str | None
    targets: tuple[str, ...] = ()
    repositories: tuple[str, ...] = ()
    settings: tuple[str, ...] = ()


@dataclass(frozen=True)
class FeedScope:
    """The objects one client's feed covers: policies by pack id and by target id, exceptions by the ids of
    their repositories and of their settings."""

    by_pack: Mapping[str, frozenset[str]] = field(default_factory=dict)
    by_target: Mapping[str, frozenset[str]] = field(default_factory=dict)
    targets_of: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    by_repository: Mapping[str, frozenset[str]] = field(default_factory=dict)
    by_setting: Mapping[str, frozenset[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, subjects: Iterable[Subject]) -> FeedScope:
        by_pack: dict[str, set[str]] = {}
        by_target: dict[str, set[str]] = {}
        targets_of: dict[str, tuple[str, ...]] = {}
        by_repository: dict[str, set[str]] = {}
        by_setting: dict[str, set[str]] = {}
        for subject in subjects:
            for pack_id in guardrails_ids([subject.pack_id]):
                by_pack.setdefault(pack_id, set()).add(subject.uid)
            for repository in guardrails_ids(subject.repositories):
                by_repository.setdefault(repository, set()).add(subject.uid)
            for setting in guardrails_ids(subject.settings):
                by_setting.setdefault(setting, set()).add(subject.uid)
            targets = guardrails_ids(subject.targets)
            for target in targets:
                by_target.setdefault(target, set()).add(subject.uid)
            if targets:
                targets_of[subject.uid] = targets
        return cls(
            by_pack={k: frozenset(v) for k, v in by_pack.items()},
            by_target={k: frozenset(v) for k, v in by_target.items()},
            targets_of=targets_of,
            by_repository={k: frozenset(v) for k, v in by_repository.items()},
            by_setting={k: frozenset(v) for k, v in by_setting.items()},
        )

    def __bool__(self) -> bool:
        return bool(self.by_pack or self.by_target or self.by_repository)

    def followed(self) -> set[str]:
        """Every id the views name (packs, targets, exceptions' repositories)."""
        return set(self.by_pack) | set(self.by_target) | set(self.by_repository)

    def queries(self, without: Collection[str] = ()) -> list[ActivityQuery]:
        """The feed's views: settings on the packs, the packs updated or deleted, Approved controls under the
        targets (``guardrails.activities.policy_feed``), and Usage settings on the exceptions' repositories
        (``setting_feed``), leaving out the ids ``without`` (gone)."""
        packs = sorted(p for p in self.by_pack if p not in without)
        targets = sorted(t for t in self.by_target if t not in without)
        repositories = sorted(r for r in self.by_repository if r not in without)
        return policy_feed(packs, targets, SEED_CONTROL_TYPE) + setting_feed(repositories, SEED_USAGE_TYPE)

    def targets(self, uids: Iterable[str]) -> tuple[str, ...]:
        """The target ids of these policies, once each (for one compliance read)."""
        return tuple(dict.fromkeys(t for uid in sorted(uids) for t in self.targets_of.get(uid, ())))


def change_key(change: Change) -> str | None:
    """What an own write's echo in the feed is recognised by (``activity_key`` of that activity)."""
    if change.reason in _DELETIONS:
        return f"deleted:{change.guardrails_id}"
    return change.version_id


def activity_key(activity: Activity) -> str | None:
    """The version id the activity made (``deleted:<id>`` for a deletion); None for a control's."""
    if activity.family == "control":
        return None  # Guardrails evaluates controls: nobody's echo
    if activity.deleted:
        gone = activity.setting_id if activity.family == "policy_setting" else activity.resource_id
        return f"deleted:{gone}" if gone else None
    return (
        activity.setting_version_id if activity.family == "policy_setting" else activity.resource_version_id
    )


class EchoLog:
    """The operator's own writes to one workspace, remembered by the version id each reply named."""

    def __init__(self, size: int = ECHO_MEMORY) -> None:
        self._size = size
        self._keys: dict[str, None] = {}

    def record(self, changes: Iterable[Change]) -> None:
        for change in changes:
            key = change_key(change)
            if key:
                self._keys[key] = None
        while len(self._keys) > self._size:
            del self._keys[next(iter(self._keys))]

    def is_echo(self, activity: Activity) -> bool:
        key = activity_key(activity)
        return key is not None and key in self._keys


@dataclass
class Routing:
    """What a batch of activities asks for: passes, compliance refreshes, exception checks, and how each
    activity was handled."""

    passes: set[str] = field(default_factory=set)
    compliance: set[str] = field(default_factory=set)
    exceptions: set[str] = field(default_factory=set)  # exceptions whose settings others wrote or deleted
    handled: dict[str, int] = field(default_factory=dict)  # pass|compliance|exception|echo|unmatched -> count
    newest: str | None = None  # the newest timestamp among the activities acted on
    deferred: list[Activity] = field(default_factory=list)  # about objects in a pass: decided after it
    gone: set[str] = field(default_factory=set)  # followed packs whose deletion was read: out of the filters

    def count(self, handling: str, activity: Activity) -> None:
        self.handled[handling] = self.handled.get(handling, 0) + 1
        acted = handling in ("pass", "compliance", "exception")
        if acted and (self.newest is None or activity.timestamp > self.newest):
            self.newest = activity.timestamp


def _path_ids(activity: Activity) -> tuple[str, ...]:
    """The ids on the controlled resource's path (its ancestors and itself)."""
    ids: list[str] = []
    for resource in (activity.resource, activity.old_resource):
        if resource is not None and resource.path:
            ids.extend(re.split(r"[^0-9]+", resource.path))
    if activity.resource_id:
        ids.append(activity.resource_id)
    return guardrails_ids(ids)


def _idle(uid: str) -> bool:
    return False


def _owners(activity: Activity, scope: FeedScope) -> frozenset[str]:
    """The exceptions a setting activity concerns: the owner of that setting, else those holding settings on
    the resource it was written on (a setting created there anew)."""
    if activity.family != "policy_setting":
        return frozenset()
    by_setting = scope.by_setting.get(activity.setting_id or "")
    return by_setting or scope.by_repository.get(activity.resource_id or "", frozenset())


def route(
    activities: Iterable[Activity],
    scope: FeedScope,
    echoes: EchoLog,
    busy: Callable[[str], bool] = _idle,
    under: Mapping[str, tuple[str, ...]] | None = None,
) -> Routing:
    """Decide, per activity, which objects need a pass or a compliance refresh (echoes need nothing).

    An activity about an object whose pass is running (``busy``) is deferred: that pass may have written
    it, and its writes are recorded in ``echoes`` only when it ends (an exception's pass as a policy's). A
    control activity whose resource did not resolve (no path: a partial reply) concerns every target of the
    views it was found through (``under``)."""
    routing = Routing()
    for activity in activities:
        if activity.family == "control":
            known = activity.resource is not None or activity.old_resource is not None
            ids = _path_ids(activity) + (() if known else (under or {}).get(activity.id, ()))
            uids = {uid for rid in ids for uid in scope.by_target.get(rid, ())}
            if uids:
                routing.compliance |= uids
            routing.count("compliance" if uids else "unmatched", activity)
            continue
        if echoes.is_echo(activity):
            routing.count("echo", activity)
            continue
        owners = _owners(activity, scope)
        if owners:
            if any(busy(uid) for uid in owners):
                routing.deferred.append(activity)
            else:
                routing.exceptions |= owners
                routing.count("exception", activity)
            continue
        pack_id = activity.resource_id
        uids = set(scope.by_pack.get(pack_id, ())) if pack_id else set()
        if pack_id and uids and activity.type == "resource_deleted":
            routing.gone.add(pack_id)
        if any(busy(uid) for uid in uids):
            routing.deferred.append(activity)
            continue
        routing.passes |= uids
        routing.count("pass" if uids else "unmatched", activity)
    routing.compliance -= routing.passes  # a pass reads the compliance too
    return routing


def parse_timestamp(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@dataclass
class Watermark:
    """The newest activity time handled, and the ids already seen in the overlapped window."""

    overlap: float
    newest: str | None = None
    _seen: dict[str, str] = field(default_factory=dict)  # activity id -> its timestamp

    def since(self, now: datetime) -> str:
        """Where the next read starts: ``overlap`` seconds before the newest activity handled (before ``now``
        when none was), so that an activity recorded late is still read."""
        newest = parse_timestamp(self.newest) if self.newest else None
        start = (newest or now) - timedelta(seconds=self.overlap)
        return feed_timestamp(start)

    def fresh(self, activities: Iterable[Activity]) -> list[Activity]:
        """The activities not seen before (and remember them); ids older than the next window are forgotten."""
        new = [a for a in activities if a.id not in self._seen]
        for activity in new:
            self._seen[activity.id] = activity.timestamp
            if self.newest is None or activity.timestamp > self.newest:
                self.newest = activity.timestamp
        newest = parse_timestamp(self.newest) if self.newest else None
        if newest is not None:
            start = feed_timestamp(newest - timedelta(seconds=self.overlap))
            self._seen = {i: ts for i, ts in self._seen.items() if ts >= start}
        if len(self._seen) > SEEN_MEMORY:  # keep the newest: an older one read again is acted on twice
            kept = sorted(self._seen.items(), key=lambda item: item[1])[-SEEN_MEMORY:]
            self._seen = dict(kept)
        return new


__all__ = [
    "EchoLog",
    "FeedScope",
    "Routing",
    "Subject",
    "Watermark",
    "activity_key",
    "change_key",
    "guardrails_ids",
    "parse_timestamp",
    "route",
]
