"""The runtime's core: one pass (or deletion) for one object, from start to end.

A pass parses the object, resolves the workspace it names (``reconcile.workspaces``: the workspace object, its
Secret and, for a cluster workspace, what the namespace may do there; a refusal writes nothing to Guardrails),
runs ``reconcile.engine`` under a per-object lock, a slot of the process-wide limit (``fair_slots``: shared
fairly between namespaces and workspaces; the schedule hands due passes to it) and a deadline, then hands the
result to ``publish`` and schedules the next pass (``backoff``). Deletions take the same slots (ahead of their
key's passes) and deadline. A pass never raises for a bad object: ``failures`` turns what it raised into a condition. The jobs
around a pass have their own modules: ``objects`` (what is remembered per object), ``publish``, ``backoff``,
``failures``, ``schedule``; workspaces are ``workspace_keeper``'s. The activity feeds
(``reconcile.feed_follower``, wired in ``build``) ask it for passes (``recheck``), compliance counts
(``refresh_compliance``) and, when a feed is lost, shorter resyncs (``fall_back``); each pass hands them the
writes it made, so that their echoes cause nothing. Exceptions' checks go to ``exception_checks``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any, cast

import kopf

from ecr_privacy_operator import collector
from ecr_privacy_operator.config import OperatorConfig
from ecr_privacy_operator.crd.conditions import Outcome, OutcomeKind, Reason
from ecr_privacy_operator.crd.spec import DeletionPolicy, EcrPrivacyPolicySpec, WorkspaceKind, parse_spec
from ecr_privacy_operator.crd.status import EcrPrivacyPolicyStatus, parse_status
from ecr_privacy_operator.health import Readiness, Watchdog
from ecr_privacy_operator.kube import Kube
from ecr_privacy_operator.metrics import Metrics
from ecr_privacy_operator.reconcile import engine, pass_result
from ecr_privacy_operator.reconcile.clients import (
    ClientPool,
    CredentialsRotatedError,
    GuardrailsClient,
    writes_checked,
)
from ecr_privacy_operator.reconcile.feed_follower import FeedFollower
from ecr_privacy_operator.reconcile.observed import ComplianceCounts
from ecr_privacy_operator.reconcile.ownership import Claim, Ownership
from ecr_privacy_operator.reconcile.pass_result import PassResult
from ecr_privacy_operator.reconcile.targets import TargetLocks
from ecr_privacy_operator.reconcile.workspaces import (
    FindWorkspace,
    ResolvedWorkspace,
    WorkspaceRefusedError,
    WorkspaceResolver,
)
from ecr_privacy_operator.runtime import backoff
from ecr_privacy_operator.runtime.directory import Directory
from ecr_privacy_operator.runtime.failures import outcome_of
from ecr_privacy_operator.runtime.fair_slots import FairSlots
from ecr_privacy_operator.runtime.feed_link import ExceptionChecks, FeedLink, FeedLoop
from ecr_privacy_operator.runtime.objects import DEFAULT_RESYNC, ObjectState, identity, slim, slot_key
from ecr_privacy_operator.runtime.publish import Publisher
from ecr_privacy_operator.runtime.schedule import ResyncSchedule
from ecr_privacy_operator.runtime.workspace_keeper import WorkspaceKeeper

__all__ = ["DEFAULT_RESYNC", "ObjectState", "Runtime"]

FEED_RETRY_SECONDS = 60.0  # a feed in fallback is tried again this often
HANDLER_TRIGGERS = frozenset({"create", "update", "resume"})  # a pass Kopf's handlers asked for (a new spec)


@dataclass
class Runtime:
    """Shared by all handlers through Kopf's ``memo``."""

    config: OperatorConfig
    kube: Kube
    pool: ClientPool
    metrics: Metrics
    workspaces: WorkspaceResolver
    directory: Directory
    keeper: WorkspaceKeeper
    ownership: Ownership
    publisher: Publisher
    locks: TargetLocks = field(default_factory=TargetLocks)
    states: dict[str, ObjectState] = field(default_factory=dict)
    slots: FairSlots = field(default_factory=lambda: FairSlots(20))  # passes and deletions at once, fairly
    last_pass: float = field(default_factory=time.monotonic)
    watchdog: Watchdog = field(default_factory=Watchdog)  # passes in flight, for the liveness probe
    schedule: ResyncSchedule = field(default_factory=ResyncSchedule)
    settings: kopf.OperatorSettings = field(default_factory=kopf.OperatorSettings)  # Kopf's, for loggers
    feeds: FeedFollower | None = None  # the activity feeds (feed_link.py), None when not followed
    # called with (namespace, name) of a policy whose compliance the feed saw change (exceptions listen)
    compliance_listeners: list[Callable[[str, str], None]] = field(default_factory=list)
    exception_checks: ExceptionChecks | None = None  # the exceptions' runtime, once built (it sets this)
    readiness: Readiness = field(default_factory=Readiness)  # says when the supervised feed loop is down
    _resyncs: asyncio.Task[None] | None = None
    _feed_task: asyncio.Task[None] | None = None

    @classmethod
    def build(
        cls,
        *,
        config: OperatorConfig,
        kube: Kube,
        pool: ClientPool,
        metrics: Metrics,
        find: FindWorkspace | None = None,
        **fields: Any,
    ) -> Runtime:
        """A runtime with its workspace resolver and keeper, reading workspace objects from Kopf's indices
        (``find``: another lookup, for tests)."""
        directory = Directory()
        resolver = WorkspaceResolver(
            pool=pool,
            read_secret=kube.read_secret,
            allowed_hosts=config.allowed_hosts,
            operator_namespace=config.operator_namespace,
            find=find or directory.find,
            namespace_labels=directory.namespace_labels,
        )
        keeper = WorkspaceKeeper(config=config, kube=kube, resolver=resolver, directory=directory)
        fields.setdefault("slots", FairSlots(config.max_concurrent_syncs))
        pool.sleep_between_retries(fields["slots"].sleep)  # a retry's wait gives its pass's slot back
        runtime = cls(
            config=config,
            kube=kube,
            pool=pool,
            metrics=metrics,
            workspaces=resolver,
            directory=directory,
            keeper=keeper,
            publisher=Publisher(kube=kube, metrics=metrics),
            **fields,
        )
        if config.feed_interval > 0:
            link = FeedLink(directory, resolver, keeper, fall_back=runtime.fall_back)
            runtime.feeds = FeedFollower(
                interval=config.feed_interval,
                retry=FEED_RETRY_SECONDS,
                scopes=link.scopes,
                recheck=lambda uids: runtime.recheck(uids, "feed"),
                compliance=runtime.refresh_compliance,
                announce=link.announce,
                busy=runtime.busy,
                metrics=metrics,
                recheck_exceptions=runtime.recheck_exceptions,
            )
        return runtime

    def start_resyncs(self) -> None:
        """Start the one task that runs every object's resync when it is due (once). Call it from a resource
        handler: the task inherits that context, in which Kopf can post Events (a start-up activity's
        context cannot)."""
        if self._resyncs is None:
            self._resyncs = asyncio.create_task(self.schedule.run(self._dispatch), name="resyncs")
        if self.feeds is not None and self._feed_task is None:  # its Events need the same context
            loop = FeedLoop(self.feeds.run, self.readiness, self.metrics)
            self._feed_task = asyncio.create_task(loop.supervise(), name="activity feed supervisor")

    async def stop_resyncs(self) -> None:
        """Stop the resync task and the passes it started, and the feeds."""
        for task in (self._resyncs, self._feed_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._resyncs = self._feed_task = None
        await self.slots.cancel_all()

    def _dispatch(self, uid: str) -> None:
        """The object's pass is due: queue it for a slot under its namespace and workspace (once)."""
        state = self.states.get(uid)
        if state is None or state.body is None or state.deleting or state.queued:
            return
        state.queued = True
        self.slots.submit(slot_key(state.body), lambda: self.resync(uid))

    def state(self, uid: str) -> ObjectState:
        state = self.states.get(uid)
        if state is None:
            state = self.states[uid] = ObjectState()
            collector.fit(len(self.states))  # the collector's young threshold follows the objects served
        return state

    def forget(self, uid: str, namespace: str, name: str) -> None:
        """The object is gone: drop its state, schedule, metric series and client use. A pass still running
        for it sees ``gone`` on the state it holds and drops what it would bring back when it ends."""
        state = self.states.pop(uid, None)
        if state is not None:
            state.gone = True
            collector.fit(len(self.states))
        self.schedule.cancel(uid)
        self.metrics.forget_object(namespace, name)
        self.pool.forget_user(uid)  # its client is closed after the next pass if nobody else uses it

    def _end_pass(self, state: ObjectState, uid: str, ns: str, name: str) -> None:
        """After a pass: if the object went meanwhile, its metric series (set by this pass) go again."""
        if state.gone:
            self.metrics.forget_object(ns, name)

    def request(self, body: kopf.Body, trigger: str) -> None:
        """A pass a handler asks for (create, update, resume): remember the object's slim copy and let the
        schedule run the pass now, within its concurrency limit. The handler returns at once, so Kopf does not
        hold a waiting handler (and the whole object) per object while a burst of creations queues; several
        requests before the pass starts make one pass, on the latest spec."""
        uid = str(body["metadata"]["uid"])
        state = self.state(uid)
        state.body = slim(body)
        self._current_status(uid, body)  # the slim copy has no status: keep it now
        state.pending = state.pending or trigger
        self.schedule.at(uid, 0)

    def recheck(self, uids: Iterable[str], trigger: str = "workspace") -> None:
        """Run a pass now for each of these objects that this process serves (their workspace changed, or
        the activity feed showed a change to their pack: ``trigger="feed"``)."""
        for uid in uids:
            state = self.states.get(uid)
            if state is not None and state.body is not None and not state.deleting:
                state.pending = state.pending or trigger
                self.schedule.at(uid, 0)

    def recheck_exceptions(self, uids: Iterable[str]) -> None:
        """Check these exceptions now (the activity feed showed someone else write or delete their settings)."""
        if self.exception_checks is not None:
            self.exception_checks.recheck(uids)

    def busy(self, uid: str) -> bool:
        """True while a pass (or a deletion) of the object runs, or an exception's check."""
        state = self.states.get(uid)
        if state is not None and state.lock.locked():
            return True
        return self.exception_checks is not None and self.exception_checks.busy(uid)

    def fall_back(self, uids: Iterable[str]) -> None:
        """These objects' feed is not followed any more: none waits longer than the fallback interval, nor do
        the checks of their exceptions."""
        longest = self.config.feed_fallback_resync
        for uid in uids:
            due = self.schedule.due_in(uid)
            if due is not None and due > longest:
                self.schedule.at(uid, backoff.within_fallback(longest))
            state = self.states.get(uid)
            if self.exception_checks is not None and state is not None and state.body is not None:
                meta = state.body["metadata"]
                self.exception_checks.fall_back(str(meta["namespace"]), str(meta["name"]))

    async def refresh_compliance(self, uid: str, counts: dict[str, ComplianceCounts]) -> None:
        """New compliance counts read for the object apart from a pass: write them if they changed."""
        state = self.states.get(uid)
        if state is None or state.body is None or state.deleting:
            return
        for listener in self.compliance_listeners:  # a control changed under it, whatever the counts say
            listener(*identity(kopf.Body(cast(kopf.RawBody, state.body)))[1:3])
        async with state.lock:
            status = state.status
            new = None if status is None else pass_result.with_compliance(status, counts, datetime.now(UTC))
            if new is None or state.deleting or state.gone:
                return
            body = kopf.Body(cast(kopf.RawBody, state.body))
            _, ns, name, _ = identity(body)
            logger = kopf.ObjectLogger(body=body, settings=self.settings)
            result = PassResult(status=new, outcome=Outcome(kind=OutcomeKind.SUCCEEDED))
            await self.publisher.publish(body, state, ns, name, result, logger)
            self._end_pass(state, uid, ns, name)

    async def resync(self, uid: str) -> None:
        """The object's scheduled pass, from its slim copy (nothing if it is gone or being deleted)."""
        state = self.states.get(uid)
        if state is not None:
            state.queued = False
        if state is None or state.body is None or state.deleting:
            return
        trigger, state.pending = state.pending or "resync", None
        body = kopf.Body(cast(kopf.RawBody, state.body))
        logger = kopf.ObjectLogger(body=body, settings=self.settings)
        try:
            await self.sync(body, trigger, logger)
        except Exception:  # a bug, not a bad object: log it, and keep resyncing the object
            logger.exception("resync pass failed")
            self.schedule.at(uid, min(state.next_delay, self.config.max_backoff))

    def _resync_of(self, spec: EcrPrivacyPolicySpec) -> float:
        """The object's resync interval, at least the admin's floor for a cluster workspace's policies."""
        resync = float(spec.resync_seconds)
        if spec.workspace_ref is not None and spec.workspace_ref.kind is WorkspaceKind.CLUSTER:
            resync = max(resync, self.config.cluster_min_resync)
        return resync

    @staticmethod
    def _say_resync_raised(body: kopf.Body, spec: EcrPrivacyPolicySpec, resync: float) -> None:
        """The admin's floor raised the object's resync interval: an Event says so (at each spec change and
        start-up, not each pass), so that a team does not believe in a resync that does not happen."""
        kopf.event(
            body,
            type="Normal",
            reason=Reason.RESYNC_INTERVAL_RAISED,
            message=f"resyncInterval {spec.resync_interval} is below the floor of policies on a "
            f"ClusterGuardrailsWorkspace ({resync:g}s, ECR_PRIVACY_CLUSTER_MIN_RESYNC): Guardrails is re-read "
            f"every {resync:g}s",
        )

    # -- credentials ------------------------------------------------------------------------------------
    def _keys_unchanged(
        self, spec: EcrPrivacyPolicySpec, ns: str, uid: str, client: GuardrailsClient
    ) -> Callable[[], Awaitable[None]]:
        """The check before a pass's first write: the Secret read afresh still gives ``client`` (the same keys,
        URL and CA); else ``CredentialsRotatedError`` and nothing is written with the old keys."""

        async def check() -> None:
            self._forget_credentials(ns, spec)
            fresh = await self.workspaces.resolve(spec.workspace_ref, ns, uid)
            if fresh.client is not client:
                raise CredentialsRotatedError("the workspace's Secret changed during the pass")

        return check

    def _forget_credentials(self, namespace: str, spec: EcrPrivacyPolicySpec | None) -> None:
        """After a failed pass, read the Secret afresh next time: fixed or rotated keys apply on the next retry
        instead of after the Secret cache expires."""
        secret = self.workspaces.secret_for(spec.workspace_ref, namespace) if spec is not None else None
        if secret is not None:
            self.kube.forget_secret(*secret)

    # -- passes ------------------------------------------------------------------------------------------
    def _current_status(self, uid: str, body: kopf.Body) -> EcrPrivacyPolicyStatus:
        """The status this process last wrote or read, else the object's (then kept as the cached one)."""
        state = self.state(uid)
        cached = state.status
        if cached is None:
            cached = parse_status(body.get("status"))
            state.status = cached
        return cached

    async def sync(self, body: kopf.Body, trigger: str, logger: kopf.Logger) -> float:
        """Reconcile one object; return the seconds until its next pass."""
        uid, ns, name, generation = identity(body)
        state = self.state(uid)
        async with state.lock:
            if state.deleting or state.gone:  # a resync that was already due when the deletion began
                return state.next_delay
            started = time.monotonic()
            status = self._current_status(uid, body)
            now = datetime.now(UTC)
            resync = DEFAULT_RESYNC
            spec: EcrPrivacyPolicySpec | None = None
            followed = self.feeds is not None
            try:
                spec = parse_spec(body.get("spec") or {})
                resync = self._resync_of(spec)
                if trigger in HANDLER_TRIGGERS and resync > spec.resync_seconds:
                    self._say_resync_raised(body, spec, resync)
                if spec.suspend:
                    result = pass_result.error_pass(
                        Outcome(kind=OutcomeKind.SUSPENDED), status, generation, now
                    )
                else:
                    slot = (
                        contextlib.nullcontext() if self.slots.holding() else self.slots.slot(slot_key(body))
                    )
                    async with slot:  # a scheduled pass holds one already
                        with self.watchdog.track(f"{ns}/{name}"):
                            async with asyncio.timeout(self.config.pass_deadline):
                                result, followed = await self._sync_with(
                                    spec, uid, ns, name, generation, status, now
                                )
            except Exception as exc:
                outcome = outcome_of(exc, self.config.pass_deadline)
                if outcome is None:
                    raise
                result = pass_result.error_pass(outcome, status, generation, now)
            if result.outcome.kind is OutcomeKind.FAILED:
                self._forget_credentials(ns, spec)
            with self.watchdog.track(f"{ns}/{name}"):
                written = await self.publisher.publish(body, state, ns, name, result, logger)
            self.metrics.reconciles.labels(
                trigger, result.outcome.kind.value, result.outcome.reason or ""
            ).inc()
            self.metrics.reconcile_seconds.labels(trigger).observe(time.monotonic() - started)
            self.last_pass = time.monotonic()
            if not followed:  # no feed finds a console edit: resync as often as before it
                resync = min(resync, self.config.feed_fallback_resync)
            if result.outcome.kind is OutcomeKind.FAILED:
                state.failures += 1
                state.next_delay = backoff.retry_after_failure(state.failures, self.config.max_backoff)
            else:
                state.failures = 0
                state.next_delay = backoff.next_resync(resync)
            if not written:  # the new status is not in Kubernetes yet: try again soon, not after a resync
                state.next_delay = min(state.next_delay, self.config.max_backoff)
            self._end_pass(state, uid, ns, name)
            if not state.gone:
                self.schedule.at(uid, 0 if state.pending else state.next_delay)  # a request came meanwhile
            await self.pool.close_unused()  # clients of rotated keys, changed URLs, deleted objects
            return state.next_delay

    async def _sync_with(
        self,
        spec: EcrPrivacyPolicySpec,
        uid: str,
        ns: str,
        name: str,
        generation: int,
        status: EcrPrivacyPolicyStatus,
        now: datetime,
    ) -> tuple[PassResult, bool]:
        """Resolve the workspace, check its scope (a refusal writes nothing) and run the engine; also whether the
        workspace's activity feed is followed. Refused keys from the Secret cache are read again at once: a
        rotated key applies in this pass, not the next. The writes are handed to the feeds (their echoes)."""
        workspace = await self.workspaces.resolve(spec.workspace_ref, ns, uid)
        followed = self.feeds is not None and self.feeds.followed(workspace.client)
        claim = self.ownership.claim(uid, ns, name)
        approvals = self.directory.approvals(ns, name, now)  # exceptions for repositories to come
        try:
            with writes_checked(self._keys_unchanged(spec, ns, uid, workspace.client)):
                result = await self._checked_pass(workspace, spec, claim, generation, status, now, approvals)
        except CredentialsRotatedError:  # nothing was written with the old keys: start again with the new
            workspace = await self.workspaces.resolve(spec.workspace_ref, ns, uid)
            result = await self._checked_pass(workspace, spec, claim, generation, status, now, approvals)
        if result.outcome.reason == Reason.UNAUTHORIZED:
            self._forget_credentials(ns, spec)
            fresh = await self.workspaces.resolve(spec.workspace_ref, ns, uid)
            if fresh.client is not workspace.client:  # the Secret holds other keys now: check again with them
                workspace = fresh
                result = await self._checked_pass(fresh, spec, claim, generation, status, now, approvals)
        if self.feeds is not None:  # its echoes in the feed cause nothing
            self.feeds.record(workspace.client, result.changes, result.pack_id)
            followed = self.feeds.followed(workspace.client)
        return result, followed

    async def _checked_pass(
        self,
        workspace: ResolvedWorkspace,
        spec: EcrPrivacyPolicySpec,
        claim: Claim,
        generation: int,
        status: EcrPrivacyPolicyStatus,
        now: datetime,
        approvals: tuple[str, ...] = (),
    ) -> PassResult:
        """Check the spec against the workspace's scope with the very client that would write, then run the
        engine with that client. A refusal writes nothing, except detaching the pack from targets the scope no
        longer allows (``engine.withdraw``); a pack found by its AKA is checked against the scope too."""
        client = workspace.client
        try:
            refusal = await self.workspaces.refusal(workspace, spec, status.applied_targets)
            if refusal is not None and refusal.withdraw:
                return await engine.withdraw(
                    client, self.locks, spec, claim, generation, status, now, refusal
                )
            if refusal is not None:
                return pass_result.error_pass(refusal.outcome(), status, generation, now)
            check = None if workspace.scope is None else partial(self.workspaces.adoption_refusal, workspace)
            return await engine.sync(
                client, self.locks, spec, claim, generation, status, now, check, approvals
            )
        except Exception as exc:
            if not pass_result.guardrails_error(exc):
                raise
            return pass_result.error_pass(exc, status, generation, now)

    async def finalize(self, body: kopf.Body, logger: kopf.Logger) -> None:
        """Run the deletion policy; raise ``kopf.TemporaryError`` to keep the finalizer while it cannot. A
        deletion takes the same concurrency limit and deadline as a pass."""
        uid, ns, name, generation = identity(body)
        state = self.state(uid)
        state.deleting = True
        self.schedule.cancel(uid)
        async with state.lock:
            status = self._current_status(uid, body)
            now = datetime.now(UTC)
            try:
                spec = parse_spec(body.get("spec") or {})
            except ValueError:
                logger.warning("invalid spec at deletion: leaving Guardrails untouched")
                self.forget(uid, ns, name)
                return
            if spec.deletion_policy is DeletionPolicy.ORPHAN:
                logger.info("deletionPolicy Orphan: leaving the policy pack in Guardrails")
                self.forget(uid, ns, name)
                return
            try:
                async with self.slots.slot(slot_key(body), first=True):  # ahead of its key's passes
                    with self.watchdog.track(f"{ns}/{name}"):
                        async with asyncio.timeout(self.config.pass_deadline):
                            # what the policy made is removed even where its namespace lost its permission
                            made = status.policy_pack is not None or bool(status.attachments)
                            workspace = await self.workspaces.resolve(
                                spec.workspace_ref, ns, uid, cleanup=made
                            )
                            claim = self.ownership.claim(uid, ns, name)
                            result = await engine.finalize(
                                workspace.client, self.locks, spec, claim, generation, status, now
                            )
            except Exception as exc:
                if (
                    isinstance(exc, WorkspaceRefusedError)
                    and status.policy_pack is None
                    and not status.attachments
                ):
                    # refused before any write on every pass: nothing of this object is in Guardrails
                    logger.info("workspace refused (%s) and no pack was ever made: nothing to delete", exc)
                    self.forget(uid, ns, name)
                    return
                outcome = outcome_of(exc, self.config.pass_deadline)
                if outcome is None:
                    raise
                # the condition says what the deletion waits for, not only what went wrong
                waiting = f"waiting to delete the policy pack: {outcome.message}"
                result = pass_result.error_pass(
                    outcome.model_copy(update={"message": waiting}), status, generation, now
                )
                result.finished = False
            await self.publisher.publish(body, state, ns, name, result, logger)
            await self.pool.close_unused()
            if not result.finished:
                self._forget_credentials(ns, spec)
                state.failures += 1
                delay = backoff.backoff(state.failures, self.config.max_backoff)
                raise kopf.TemporaryError(f"deletion waits: {result.outcome.message}", delay=delay)
            self.forget(uid, ns, name)
