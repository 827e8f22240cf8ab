"""The EcrPrivacyException runtime: the exceptions of one policy are checked together, on one schedule.

A check (``_check``) finds the policy, resolves *its* workspace, runs ``reconcile.exceptions.check`` for all
of the policy's exceptions (one read for all of them, then the writes they need) and publishes each one's
result (status with kstatus conditions plus ``Expired``, Events, the expiry metric). One ``ResyncSchedule``
keyed by policy starts the checks: soon (``SOON``) when a handler or the activity feed asks, every ``resync``
seconds, and right after an exception's ``expires`` (the operator's clock says Expired; the check's one read
shows the repositories back in alarm, as Guardrails stops applying the setting itself). Every check costs one
read for all of the policy's exceptions, whatever woke it. A due check waits for one of the policy runtime's
fair slots (``fair_slots``) under its policy's (namespace, workspace), as that policy's passes do.

No task, stack or copy of the object per exception: the schedule holds one entry per policy, and each
exception a slim copy of its object. The activity feed asks for a check when someone else writes or deletes
an exception's setting (``recheck``) or the Approved control changes under its policy (``poke``); the writes
a check makes are recorded as the feed's echoes (``FeedFollower.record``). Deletion removes the settings
(``deletionPolicy: Delete``) or leaves them (``Orphan``).

The exception inherits its policy's workspace. A policy may be deleted before its exceptions (a namespace
deletion removes both in any order), so the runtime remembers the workspace each exception last used and
deletes the settings through it; if the process restarted meanwhile, the settings are left in Guardrails
(inert without the policy's pack) and an Event says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import kopf
import pydantic

from ecr_privacy_operator.crd.conditions import (
    Outcome,
    OutcomeKind,
    Reason,
)
from ecr_privacy_operator.crd.exception import (
    EcrPrivacyExceptionSpec,
    EcrPrivacyExceptionStatus,
    parse_exception_spec,
)
from ecr_privacy_operator.crd.spec import DeletionPolicy, EcrPrivacyPolicySpec, WorkspaceRef, parse_spec
from ecr_privacy_operator.kube import Kube
from ecr_privacy_operator.metrics import Metrics
from ecr_privacy_operator.reconcile import exceptions as sync_exceptions
from ecr_privacy_operator.reconcile.exception_rules import ExceptionMarker
from ecr_privacy_operator.reconcile.feed_follower import FeedFollower
from ecr_privacy_operator.reconcile.workspaces import WorkspaceRefusedError, WorkspaceResolver
from ecr_privacy_operator.runtime import backoff
from ecr_privacy_operator.runtime.directory import Directory
from ecr_privacy_operator.runtime.exception_status import ExceptionPublisher, marker_of_body
from ecr_privacy_operator.runtime.failures import outcome_of
from ecr_privacy_operator.runtime.fair_slots import FairSlots
from ecr_privacy_operator.runtime.objects import slim, workspace_slot_key
from ecr_privacy_operator.runtime.schedule import ResyncSchedule

# (namespace, name) -> the policy object's spec as Kopf holds it, or None
FindPolicy = Callable[[str, str], Mapping[str, Any] | None]
PASS_DEADLINE = 120.0
SOON = 0.5  # a request waits this long for others of the same policy: a burst makes one check
MAX_BACKOFF = 300.0
Group = tuple[str, str]  # (namespace, policy name)


class PolicyMissingError(Exception):
    """The exception's policy does not exist (or is being deleted)."""


@dataclass
class _Checks:
    """One policy's exceptions and the state of their checks."""

    uids: set[str] = field(default_factory=set)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one check (or deletion) at a time
    queued: bool = False  # waiting for a slot
    asked: bool = False  # a full check is asked for (a handler, the feed)
    due: float = 0.0  # monotonic time of the next periodic full check
    failures: int = 0
    checked: dt.datetime | None = None  # when the last check started (an expiry since then needs one)
    followed: bool = True  # the workspace's activity feed was followed at the last check


def _key(group: Group) -> str:
    return "\x00".join(group)


def _expires(raw: Mapping[str, Any]) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(
            str((raw.get("spec") or {}).get("expires", "")).replace("Z", "+00:00")
        )
    except ValueError:
        return None


@dataclass
class ExceptionRuntime:
    """Shared by every exception handler of the process."""

    workspaces: WorkspaceResolver
    kube: Kube
    metrics: Metrics
    directory: Directory
    # the policy runtime's fair slots: a check holds one while it reads and writes (``_dispatch``)
    slots: FairSlots = field(default_factory=lambda: FairSlots(20))
    resync: float = 1800.0
    fallback_resync: float = 300.0  # the longest wait while the policy's feed is not followed
    # (namespace, policy name): run the policy's pass now (its calculated Usage follows pending repositories)
    recheck_policy: Callable[[str, str], None] = lambda namespace, name: None
    feeds: FeedFollower | None = None  # the activity feeds: a check's writes are recorded (their echoes)
    schedule: ResyncSchedule = field(default_factory=ResyncSchedule)
    _last_workspace: dict[str, WorkspaceRef | None] = field(default_factory=dict)
    # per exception UID: its slim copy, policy finder and logger, its group, the ids of the settings it made
    # or kept (its own even when a console edit drops the note's marker)
    _known: dict[str, tuple[dict[str, Any], FindPolicy, kopf.Logger]] = field(default_factory=dict)
    _group_of: dict[str, Group] = field(default_factory=dict)
    _owned: dict[str, frozenset[str]] = field(default_factory=dict)
    _groups: dict[Group, _Checks] = field(default_factory=dict)
    _task: asyncio.Task[None] | None = None

    def __post_init__(self) -> None:
        self.publisher = ExceptionPublisher(self.kube, self.directory, self.recheck_policy)

    _marker = staticmethod(marker_of_body)

    @staticmethod
    def _policy(find: FindPolicy, namespace: str, name: str) -> EcrPrivacyPolicySpec:
        raw = find(namespace, name)
        if raw is None:
            raise PolicyMissingError(f"EcrPrivacyPolicy {name} does not exist in namespace {namespace}")
        return parse_spec(raw)

    # -- the schedule ----------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the task that hands the due checks to the slots (once; from a handler, whose context can post
        Events)."""
        if self._task is None:
            self._task = asyncio.create_task(self.schedule.run(self._dispatch), name="exception checks")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def checks_planned(self) -> int:
        """Policies with a check planned (one schedule entry per policy, whatever its exceptions)."""
        return len(self.schedule)

    def _ask(self, group: Group) -> None:
        checks = self._groups.setdefault(group, _Checks())
        checks.asked = True
        due = self.schedule.due_in(_key(group))
        if due is None or due > SOON:
            self.schedule.at(_key(group), SOON)

    def request(self, body: kopf.Body, find: FindPolicy, logger: kopf.Logger) -> None:
        """A handler's pass (create, update, resume): remember the exception and check its policy's
        exceptions soon; returns at once (several requests make one check, on the latest specs)."""
        marker = self._marker(body)
        self._known[marker.uid] = (slim(body), find, logger)
        if marker.uid not in self.publisher.written:
            try:
                status = EcrPrivacyExceptionStatus.model_validate(dict(body.get("status") or {}))
            except pydantic.ValidationError:
                status = EcrPrivacyExceptionStatus()
            self.publisher.written[marker.uid] = status
        policy = ((body.get("spec") or {}).get("policyRef") or {}).get("name")
        group = (marker.namespace, policy if isinstance(policy, str) else "")
        old = self._group_of.get(marker.uid)
        if old is not None and old != group and old in self._groups:
            self._groups[old].uids.discard(marker.uid)
        self._group_of[marker.uid] = group
        self._groups.setdefault(group, _Checks()).uids.add(marker.uid)
        self._ask(group)

    def poke(self, namespace: str, policy: str) -> None:
        """The activity feed showed an Approved control change under the policy (an exception setting edited
        or deleted in the console turns its repository back to alarm): check its exceptions now."""
        if (namespace, policy) in self._groups:
            self._ask((namespace, policy))

    def recheck(self, uids: Iterable[str]) -> None:
        """The activity feed showed someone else write or delete these exceptions' settings: check their
        policies' exceptions now (the ones this process knows)."""
        for group in {self._group_of[uid] for uid in uids if uid in self._group_of}:
            self._ask(group)

    def busy(self, uid: str) -> bool:
        """True while a check of the exception's policy runs (its writes are recorded as echoes when it ends)."""
        group = self._group_of.get(uid)
        checks = self._groups.get(group) if group is not None else None
        return checks is not None and checks.lock.locked()

    def fall_back(self, namespace: str, policy: str) -> None:
        """The policy's activity feed is not followed any more (lost): its exceptions are checked at least every
        ``fallback_resync`` until a check finds the feed followed again, as its passes are."""
        checks = self._groups.get((namespace, policy))
        if checks is None:
            return
        checks.followed = False
        checks.due = min(checks.due, time.monotonic() + backoff.within_fallback(self.fallback_resync))
        self._plan((namespace, policy), checks)

    def _dispatch(self, key: str) -> None:
        """A check is due: queue it for a slot under its policy's (namespace, workspace), once."""
        namespace, _, policy = key.partition("\x00")
        checks = self._groups.get((namespace, policy))
        if checks is None or checks.queued:
            return
        uid = next((u for u in sorted(checks.uids) if u in self._known), None)
        spec = self._known[uid][1](namespace, policy) if uid is not None else None
        checks.queued = True
        self.slots.submit(workspace_slot_key(namespace, spec), lambda: self._run(key))

    async def _run(self, key: str) -> None:
        """The schedule's start: the check of all of the policy's exceptions (asked for, due, or an expiry)."""
        namespace, _, policy = key.partition("\x00")
        group = (namespace, policy)
        checks = self._groups.get(group)
        if checks is None:
            return
        checks.queued = False
        async with checks.lock:
            uids = sorted(u for u in checks.uids if u in self._known)
            if not uids:
                self._groups.pop(group, None)
                return
            now = dt.datetime.now(dt.UTC)
            expired = checks.checked is not None and any(
                checks.checked < e <= now for e in self._expiries(uids) if e is not None
            )
            if not (checks.asked or expired or time.monotonic() >= checks.due):
                self._plan(group, checks)  # a wake-up another run already served
                return
            try:
                checks.asked, checks.checked = False, now
                failed = await self._check(group, uids)
                checks.failures = checks.failures + 1 if failed else 0
                delay = (
                    backoff.retry_after_failure(checks.failures, MAX_BACKOFF)
                    if failed
                    else backoff.next_resync(self.resync if checks.followed else self.fallback_resync)
                )
                checks.due = time.monotonic() + delay
            except Exception:  # a bug, not a bad object: logged, checked again later
                self._known[uids[0]][2].exception("exception check failed")
                checks.due = time.monotonic() + MAX_BACKOFF
            self._plan(group, checks)

    def _plan(self, group: Group, checks: _Checks) -> None:
        """The next wake-up: now if asked meanwhile, else the next full check or, if sooner, just after the
        next ``expires`` of one of its exceptions."""
        delay = checks.due - time.monotonic()
        now = dt.datetime.now(dt.UTC)
        for expires in self._expiries(checks.uids):
            left = (expires - now).total_seconds() + 1.0 if expires else 0.0
            if left > 0:
                delay = min(delay, left)
        self.schedule.at(_key(group), 0.0 if checks.asked else max(delay, 0.0))

    def _expiries(self, uids: Iterable[str]) -> list[dt.datetime | None]:
        return [_expires(self._known[uid][0]) if uid in self._known else None for uid in uids]

    # -- checks ----------------------------------------------------------------------------------------
    async def _check(self, group: Group, uids: list[str]) -> bool:
        """Check the policy's exceptions and publish each; True when one failed for a reason worth a retry."""
        namespace = group[0]
        now = dt.datetime.now(dt.UTC)
        members: list[tuple[str, sync_exceptions.Member]] = []
        outcomes: dict[str, tuple[Outcome, sync_exceptions.ExceptionOutcome | None]] = {}
        results: list[sync_exceptions.ExceptionOutcome]
        specs: dict[str, EcrPrivacyExceptionSpec] = {}
        for uid in uids:
            raw = self._known[uid][0]
            marker = self._marker(raw)
            try:
                spec = parse_exception_spec(raw.get("spec") or {})
            except pydantic.ValidationError as exc:
                outcomes[uid] = (outcome_of(exc, PASS_DEADLINE) or Outcome(kind=OutcomeKind.FAILED), None)
                continue
            specs[uid] = spec
            self.metrics.exception_expiry.labels(namespace, marker.name).set(spec.expires.timestamp())
            members.append((uid, sync_exceptions.Member(spec, marker, self._owned.get(uid, frozenset()))))
        if members:
            try:
                results = await self._read_and_write(group, [m for _, m in members], now)
            except PolicyMissingError as exc:
                missing = Outcome(kind=OutcomeKind.FAILED, reason=Reason.POLICY_NOT_FOUND, message=str(exc))
                outcomes.update((uid, (missing, None)) for uid, _ in members)
            except Exception as exc:  # what outcome_of knows becomes a condition; anything else is a bug
                known = outcome_of(exc, PASS_DEADLINE)
                if known is None:
                    raise
                outcomes.update((uid, (known, None)) for uid, _ in members)
            else:
                for (uid, _), one in zip(members, results, strict=True):
                    self._owned[uid] = frozenset(one.owned) or self._owned.get(uid, frozenset())
                    failure = outcome_of(one.error, PASS_DEADLINE) if one.error else None
                    outcomes[uid] = (failure or self.publisher.outcome(one), one)
        for uid in uids:
            outcome, result = outcomes[uid]
            raw, _, logger = self._known[uid]
            await self.publisher.publish(raw, outcome, result, specs.get(uid), now, logger)
        return any(o.kind is OutcomeKind.FAILED and o.retryable for o, _ in outcomes.values())

    async def _read_and_write(
        self, group: Group, members: list[sync_exceptions.Member], now: dt.datetime
    ) -> list[sync_exceptions.ExceptionOutcome]:
        """Find the policy, resolve its workspace and run the check (in the slot ``_dispatch`` was granted),
        under the pass deadline; the writes are recorded as the feed's echoes."""
        namespace, policy_name = group
        find = self._known[members[0].marker.uid][1]
        policy = self._policy(find, namespace, policy_name)
        for member in members:
            self._last_workspace[member.marker.uid] = policy.workspace_ref
        async with asyncio.timeout(PASS_DEADLINE):
            user = f"exceptions/{namespace}/{policy_name}"  # the client pool's user: the whole group
            resolved = await self.workspaces.resolve(policy.workspace_ref, namespace, user)
            scope = (resolved.workspace.name, resolved.scope)
            results = await sync_exceptions.check(resolved.client, members, policy, scope, now)
        if self.feeds is not None:  # their echoes in the feed cause nothing
            self.feeds.record(resolved.client, [c for one in results for c in one.changes])
        checks = self._groups.get(group)
        if checks is not None:  # no feed sees their settings: checked as often as the policy's passes
            checks.followed = self.feeds is not None and self.feeds.followed(resolved.client)
        return results

    async def finalize(self, body: kopf.Body, find: FindPolicy, logger: kopf.Logger) -> None:
        """Deletion: remove the settings this exception made (``Delete``), or leave them (``Orphan``)."""
        marker = self._marker(body)
        group = self._group_of.pop(marker.uid, None)
        checks = self._groups.get(group) if group else None
        if checks is None:
            await self._finalize(body, find, logger, marker)
            return
        async with checks.lock:  # not while a check of its policy may still write its settings
            checks.uids.discard(marker.uid)
            await self._finalize(body, find, logger, marker)

    async def _finalize(
        self, body: kopf.Body, find: FindPolicy, logger: kopf.Logger, marker: ExceptionMarker
    ) -> None:
        with contextlib.suppress(KeyError):
            self.metrics.exception_expiry.remove(marker.namespace, marker.name)
        self._known.pop(marker.uid, None)
        self.publisher.written.pop(marker.uid, None)
        owned = self._owned.pop(marker.uid, frozenset())
        try:
            spec = parse_exception_spec(body.get("spec") or {})
        except pydantic.ValidationError:
            return
        self.directory.set_approvals(marker.namespace, spec.policy_ref.name, marker.uid, ())
        if (body.get("status") or {}).get("pendingRepositories"):
            self.recheck_policy(marker.namespace, spec.policy_ref.name)
        if spec.deletion_policy is DeletionPolicy.ORPHAN:
            return
        raw = find(marker.namespace, spec.policy_ref.name)
        ref = parse_spec(raw).workspace_ref if raw is not None else self._last_workspace.get(marker.uid)
        if ref is None:
            kopf.event(
                body,
                type="Warning",
                reason=Reason.POLICY_NOT_FOUND,
                message="the policy is gone and its workspace is unknown: the exception settings are left in "
                "Guardrails (inert without the policy's pack)",
            )
            return
        try:
            resolved = await self.workspaces.resolve(ref, marker.namespace, marker.uid)
        except WorkspaceRefusedError as exc:
            kopf.event(body, type="Warning", reason=exc.refusal.reason, message=exc.refusal.message)
            return
        removed = await sync_exceptions.remove(resolved.client, spec.repositories, marker, owned)
        logger.info("removed %d exception setting(s)", removed)
        self._last_workspace.pop(marker.uid, None)
