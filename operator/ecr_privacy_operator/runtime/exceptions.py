"""One EcrPrivacyException pass from start to end: find its policy, resolve that policy's workspace, run
``reconcile.exceptions``, and publish the result (status with kstatus conditions plus ``Expired``, Events,
the expiry metric). Deletion removes the settings (``deletionPolicy: Delete``) or leaves them (``Orphan``).

The exception inherits its policy's workspace. A policy may be deleted before its exceptions (a namespace
deletion removes both in any order), so the runtime remembers the workspace each exception last used and
deletes the settings through it; if the process restarted meanwhile, the settings are left in Guardrails
(inert without the policy's pack) and an Event says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import kopf
import pydantic

from ecr_privacy_operator.crd.conditions import (
    ConditionType,
    Outcome,
    OutcomeKind,
    Reason,
    derive_conditions,
    parse_conditions,
    set_condition,
)
from ecr_privacy_operator.crd.exception import (
    EXCEPTION_PLURAL,
    EcrPrivacyExceptionSpec,
    EcrPrivacyExceptionStatus,
    parse_exception_spec,
)
from ecr_privacy_operator.crd.spec import DeletionPolicy, EcrPrivacyPolicySpec, WorkspaceRef, parse_spec
from ecr_privacy_operator.kube import Kube, KubernetesError
from ecr_privacy_operator.metrics import Metrics
from ecr_privacy_operator.reconcile import exceptions as sync_exceptions
from ecr_privacy_operator.reconcile.exception_rules import ExceptionMarker
from ecr_privacy_operator.reconcile.feed_follower import FeedFollower
from ecr_privacy_operator.reconcile.workspaces import WorkspaceRefusedError, WorkspaceResolver
from ecr_privacy_operator.runtime.directory import Directory
from ecr_privacy_operator.runtime.failures import outcome_of

# (namespace, name) -> the policy object's spec as Kopf holds it, or None
FindPolicy = Callable[[str, str], Mapping[str, Any] | None]
PASS_DEADLINE = 120.0


class PolicyMissingError(Exception):
    """The exception's policy does not exist (or is being deleted)."""


@dataclass
class ExceptionRuntime:
    """Shared by every exception pass of the process."""

    workspaces: WorkspaceResolver
    kube: Kube
    metrics: Metrics
    directory: Directory
    # (namespace, policy name): run the policy's pass now (its calculated Usage follows pending repositories)
    recheck_policy: Callable[[str, str], None] = lambda namespace, name: None
    feeds: FeedFollower | None = None  # the activity feeds: a pass's writes are recorded (their echoes)
    _last_workspace: dict[str, WorkspaceRef | None] = field(default_factory=dict)
    # per exception UID: its last body, policy finder and logger (to run a pass when the feed shows a change
    # under its policy), a lock (one pass at a time), the status last written; per (namespace, policy): UIDs
    _known: dict[str, tuple[kopf.Body, FindPolicy, kopf.Logger]] = field(default_factory=dict)
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    _written: dict[str, EcrPrivacyExceptionStatus] = field(default_factory=dict)
    _by_policy: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    _poked: set[str] = field(default_factory=set)
    _again: set[str] = field(default_factory=set)
    _owned: dict[str, tuple[str, ...]] = field(default_factory=dict)  # per UID: its settings' ids (as made)

    @staticmethod
    def _marker(body: kopf.Body) -> ExceptionMarker:
        meta = body.get("metadata") or {}
        return ExceptionMarker(
            str(meta.get("namespace", "")), str(meta.get("name", "")), str(meta.get("uid", ""))
        )

    @staticmethod
    def _policy(find: FindPolicy, namespace: str, spec: EcrPrivacyExceptionSpec) -> EcrPrivacyPolicySpec:
        raw = find(namespace, spec.policy_ref.name)
        if raw is None:
            raise PolicyMissingError(
                f"EcrPrivacyPolicy {spec.policy_ref.name} does not exist in namespace {namespace}"
            )
        return parse_spec(raw)

    def poke(self, namespace: str, policy: str) -> None:
        """The activity feed showed an Approved control change under the policy (an exception setting edited
        or deleted in the console turns its repository back to alarm): check its exceptions now."""
        self.recheck(self._by_policy.get((namespace, policy), set()))

    def recheck(self, uids: Iterable[str]) -> None:
        """The activity feed showed a change that concerns these exceptions (their settings written or
        deleted by someone else): check the ones this process knows now."""
        for uid in sorted(uids):
            if uid in self._poked:  # a pass is on its way: it runs once more when done
                self._again.add(uid)
            elif uid in self._known:
                self._poked.add(uid)
                asyncio.get_running_loop().create_task(self._poked_pass(uid))

    async def _poked_pass(self, uid: str) -> None:
        try:
            while uid in self._known:
                self._again.discard(uid)
                body, find, logger = self._known[uid]
                try:
                    await self.sync(body, find, logger)
                except Exception:  # a bug: logged; the timer's pass follows anyway
                    logger.exception("exception pass after a feed activity failed")
                if uid not in self._again:
                    break
        finally:
            self._poked.discard(uid)

    def busy(self, uid: str) -> bool:
        """True while the exception's pass runs (its writes are recorded as echoes when it ends)."""
        lock = self._locks.get(uid)
        return lock is not None and lock.locked()

    async def sync(self, body: kopf.Body, find: FindPolicy, logger: kopf.Logger) -> None:
        """One pass (one at a time per object)."""
        uid = self._marker(body).uid
        self._known[uid] = (body, find, logger)
        async with self._locks.setdefault(uid, asyncio.Lock()):
            await self._sync(body, find, logger)

    async def _sync(self, body: kopf.Body, find: FindPolicy, logger: kopf.Logger) -> None:
        marker = self._marker(body)
        generation = int((body.get("metadata") or {}).get("generation") or 0)
        previous = self._written.get(marker.uid) or EcrPrivacyExceptionStatus.model_validate(
            dict(body.get("status") or {})
        )
        now = dt.datetime.now(dt.UTC)
        result: sync_exceptions.ExceptionOutcome | None = None
        spec: EcrPrivacyExceptionSpec | None = None
        try:
            spec = parse_exception_spec(body.get("spec") or {})
            self._by_policy.setdefault((marker.namespace, spec.policy_ref.name), set()).add(marker.uid)
            self.metrics.exception_expiry.labels(marker.namespace, marker.name).set(spec.expires.timestamp())
            policy = self._policy(find, marker.namespace, spec)
            self._last_workspace[marker.uid] = policy.workspace_ref
            resolved = await self.workspaces.resolve(policy.workspace_ref, marker.namespace, marker.uid)
            scope = (resolved.workspace.name, resolved.scope)
            result = await sync_exceptions.sync(
                resolved.client,
                spec,
                marker,
                spec.policy_ref.name,
                policy,
                scope,
                now,
                self._owned.get(marker.uid, ()),
            )
            self._owned[marker.uid] = tuple(result.owned) or self._owned.get(marker.uid, ())
            if self.feeds is not None:  # their echoes in the feed cause nothing
                self.feeds.record(resolved.client, result.changes)
        except PolicyMissingError as exc:
            outcome = Outcome(kind=OutcomeKind.FAILED, reason=Reason.POLICY_NOT_FOUND, message=str(exc))
        except Exception as exc:  # what outcome_of knows becomes a condition; anything else is a bug
            known = outcome_of(exc, PASS_DEADLINE)
            if known is None:
                raise
            outcome = known
        else:
            outcome = self._outcome(result)
        await self._publish(body, marker, generation, previous, outcome, result, spec, now, logger)

    @staticmethod
    def _outcome(result: sync_exceptions.ExceptionOutcome) -> Outcome:
        if result.refusal is not None:
            return result.refusal.outcome()
        if result.pending:
            return Outcome(
                kind=OutcomeKind.PROGRESSING,
                reason=Reason.REPOSITORY_PENDING,
                message=(
                    f"{', '.join(result.pending)} not in Guardrails yet: approved by the policy's calculated "
                    "Usage setting when created; the exception setting follows once it exists"
                ),
            )
        drift_found = len(result.corrected) + len(result.reported)
        return Outcome(
            kind=OutcomeKind.SUCCEEDED,
            reason=Reason.DRIFT_DETECTED if result.reported else Reason.RECONCILE_SUCCEEDED,
            message=(
                f"{len(result.reported)} exception setting field(s) differ from the spec (reported)"
                if result.reported
                else "every repository carries its exception setting"
            ),
            drift_found=drift_found,
            drift_remaining=len(result.reported),
        )

    async def _publish(
        self,
        body: kopf.Body,
        marker: ExceptionMarker,
        generation: int,
        previous: EcrPrivacyExceptionStatus,
        outcome: Outcome,
        result: sync_exceptions.ExceptionOutcome | None,
        spec: EcrPrivacyExceptionSpec | None,
        now: dt.datetime,
        logger: kopf.Logger,
    ) -> None:
        conditions = derive_conditions(
            parse_conditions([c.to_wire() for c in previous.conditions]),
            outcome,
            observed_generation=generation,
            now=now,
        )
        expired = bool(spec is not None and spec.expires <= now) or bool(result and result.expired)
        not_in_force = bool(result and result.repositories and not result.refusal) and not all(
            r.in_force for r in (result.repositories if result else [])
        )
        expired_message = f"the exception expired at {spec.expires_iso}" if spec else "invalid spec"
        conditions = set_condition(
            conditions,
            type=ConditionType.EXPIRED,
            status="True" if expired else "False",
            reason=Reason.EXPIRED if expired else Reason.NOT_EXPIRED,
            message=expired_message if expired else f"counts until {spec.expires_iso if spec else '?'}",
            observed_generation=generation,
            now=now,
        )
        was_expired = any(c.type == ConditionType.EXPIRED and c.status == "True" for c in previous.conditions)
        if expired and not was_expired:
            kopf.event(body, type="Warning", reason=Reason.EXPIRED, message=expired_message)
        if result is not None:
            for ref in result.created:
                kopf.event(
                    body,
                    type="Normal",
                    reason="ExceptionCreated",
                    message=f"exception setting placed on {ref}",
                )
                logger.info("exception setting placed on %s", ref)
            drifts = [
                (d, Reason.DRIFT_CORRECTED, "was changed in Guardrails; put back") for d in result.corrected
            ]
            drifts += [
                (d, Reason.DRIFT_DETECTED, "differs from the spec (driftPolicy Report)")
                for d in result.reported
            ]
            for drift, reason, what in drifts:
                kopf.event(
                    body, type="Warning", reason=reason, message=f"{drift.repository}: {drift.field} {what}"
                )
        if outcome.kind is OutcomeKind.FAILED:
            old_ready = next((c for c in previous.conditions if c.type == ConditionType.READY), None)
            if (old_ready is None or old_ready.reason != outcome.reason) and outcome.reason != Reason.EXPIRED:
                kopf.event(body, type="Warning", reason=outcome.reason, message=outcome.message[:1000])
        elif not_in_force and not expired:
            logger.info("some repositories' exception settings are not in force yet")
        status = EcrPrivacyExceptionStatus(
            observed_generation=generation,
            conditions=tuple(conditions),
            repository_count=len(spec.repositories) if spec else 0,
            repositories=result.statuses if result and result.repositories else previous.repositories,
            pending_repositories=result.pending if result and not result.refusal else (),
            last_sync_time=now.strftime("%Y-%m-%dT%H:%M:%SZ")
            if result and not result.refusal
            else previous.last_sync_time,
        )
        if spec is not None:
            pairs = tuple((arn, spec.expires_iso) for arn in status.pending_repositories)
            self.directory.set_approvals(marker.namespace, spec.policy_ref.name, marker.uid, pairs)
            if status.pending_repositories != previous.pending_repositories:
                self.recheck_policy(marker.namespace, spec.policy_ref.name)
        if status != previous:
            try:
                await self.kube.patch_status(
                    marker.namespace,
                    marker.name,
                    status.model_dump(by_alias=True, exclude_none=True, mode="json"),
                    plural=EXCEPTION_PLURAL,
                )
            except KubernetesError as exc:
                if exc.status != 404:
                    raise
                return  # deleted while this check ran: nothing to report, and its finalizer has cleaned up
            self._written[marker.uid] = status

    async def finalize(self, body: kopf.Body, find: FindPolicy, logger: kopf.Logger) -> None:
        """Deletion: remove the settings this exception made (``Delete``), or leave them (``Orphan``)."""
        marker = self._marker(body)
        with contextlib.suppress(KeyError):
            self.metrics.exception_expiry.remove(marker.namespace, marker.name)
        self._known.pop(marker.uid, None)
        self._written.pop(marker.uid, None)
        owned = self._owned.pop(marker.uid, ())
        for uids in self._by_policy.values():
            uids.discard(marker.uid)
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
