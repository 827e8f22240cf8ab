"""The per-process runtime behind the Kopf handlers: one pass for one object, with its Kubernetes side effects.

A pass parses the object, resolves the workspace it names (``reconcile.workspaces``: the workspace object, its
Secret and, for a cluster workspace, what the namespace may do there; a refusal writes nothing to Guardrails),
runs ``reconcile.engine`` under a per-object lock and a process-wide concurrency limit, then
writes the status only if it changed, posts the Events, logs one line per Guardrails change and updates
the metrics. It never raises for a bad object: failures become conditions and a retry delay (bounded
exponential backoff with jitter, capped by the object's resync interval). The activity feeds
(``reconcile.feed_follower``, wired in ``build``) ask it for passes (``recheck``), compliance counts
(``refresh_compliance``) and, when a feed is lost, shorter resyncs (``fall_back``); each pass hands them the
writes it made, so that their echoes cause nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import kopf
import pydantic

from ecr_privacy_operator.config import OperatorConfig
from ecr_privacy_operator.crd.conditions import Outcome, OutcomeKind, Reason
from ecr_privacy_operator.crd.spec import DeletionPolicy, EcrPrivacyPolicySpec, parse_spec
from ecr_privacy_operator.crd.status import EcrPrivacyPolicyStatus, parse_status
from ecr_privacy_operator.handlers.directory import Directory
from ecr_privacy_operator.handlers.feed import FeedLink
from ecr_privacy_operator.handlers.objects import DEFAULT_RESYNC, ObjectState, slim
from ecr_privacy_operator.handlers.schedule import ResyncSchedule
from ecr_privacy_operator.handlers.workspace_keeper import WorkspaceKeeper
from ecr_privacy_operator.health import Watchdog
from ecr_privacy_operator.kube import Kube, KubernetesUnavailableError, SecretNotFoundError
from ecr_privacy_operator.metrics import Metrics
from ecr_privacy_operator.reconcile import engine
from ecr_privacy_operator.reconcile.clients import ClientPool, CredentialsError
from ecr_privacy_operator.reconcile.engine import PassResult
from ecr_privacy_operator.reconcile.feed_follower import FeedFollower
from ecr_privacy_operator.reconcile.observed import ComplianceCounts
from ecr_privacy_operator.reconcile.targets import TargetLocks
from ecr_privacy_operator.reconcile.workspaces import FindWorkspace, WorkspaceRefusedError, WorkspaceResolver

FEED_RETRY_SECONDS = 60.0  # a feed in fallback is tried again this often


def _invalid_spec(exc: pydantic.ValidationError) -> Outcome:
    problems = "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'spec'}: {e['msg']}" for e in exc.errors(include_url=False)
    )
    return Outcome(kind=OutcomeKind.FAILED, reason=Reason.INVALID_SPEC, message=problems, retryable=False)


def _credentials_outcome(message: str) -> Outcome:
    return Outcome(
        kind=OutcomeKind.FAILED, reason=Reason.CREDENTIALS_NOT_FOUND, message=message, retryable=False
    )


def _kubernetes_outcome(message: str) -> Outcome:
    return Outcome(
        kind=OutcomeKind.FAILED, reason=Reason.KUBERNETES_UNAVAILABLE, message=message, retryable=True
    )


def _identity(body: kopf.Body) -> tuple[str, str, str, int]:
    """(uid, namespace, name, generation) of an object."""
    meta = body["metadata"]
    return meta["uid"], meta["namespace"], meta["name"], int(meta.get("generation", 1))


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
    locks: TargetLocks = field(default_factory=TargetLocks)
    states: dict[str, ObjectState] = field(default_factory=dict)
    limit: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(20))
    last_pass: float = field(default_factory=time.monotonic)
    watchdog: Watchdog = field(default_factory=Watchdog)  # passes in flight, for the liveness probe
    schedule: ResyncSchedule = field(default_factory=ResyncSchedule)
    settings: kopf.OperatorSettings = field(default_factory=kopf.OperatorSettings)  # Kopf's, for loggers
    feeds: FeedFollower | None = None  # the activity feeds (handlers/feed.py), None when not followed
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
        runtime = cls(
            config=config,
            kube=kube,
            pool=pool,
            metrics=metrics,
            workspaces=resolver,
            directory=directory,
            keeper=keeper,
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
            )
        return runtime

    def start_resyncs(self) -> None:
        """Start the one task that runs every object's resync when it is due (once). Call it from a resource
        handler: the task inherits that context, in which Kopf can post Events (a start-up activity's
        context cannot)."""
        if self._resyncs is None:
            slots = self.config.max_concurrent_syncs  # not more tasks than passes that may run at once
            self._resyncs = asyncio.create_task(self.schedule.run(self.resync, slots), name="resyncs")
        if self.feeds is not None and self._feed_task is None:  # its Events need the same context
            self._feed_task = asyncio.create_task(self.feeds.run(), name="activity feeds")

    async def stop_resyncs(self) -> None:
        """Stop the resync task and the passes it started, and the feeds."""
        for task in (self._resyncs, self._feed_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._resyncs = self._feed_task = None

    def state(self, uid: str) -> ObjectState:
        return self.states.setdefault(uid, ObjectState())

    def forget(self, uid: str, namespace: str, name: str) -> None:
        self.states.pop(uid, None)
        self.schedule.cancel(uid)
        self.metrics.forget_object(namespace, name)

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

    def busy(self, uid: str) -> bool:
        """True while a pass (or a deletion) of the object runs."""
        state = self.states.get(uid)
        return state is not None and state.lock.locked()

    def fall_back(self, uids: Iterable[str]) -> None:
        """These objects' feed is not followed any more: none waits longer than the fallback interval."""
        longest = self.config.feed_fallback_resync
        for uid in uids:
            due = self.schedule.due_in(uid)
            if due is not None and due > longest:
                self.schedule.at(uid, random.uniform(0.1, 1.0) * longest)

    async def refresh_compliance(self, uid: str, counts: dict[str, ComplianceCounts]) -> None:
        """New compliance counts read for the object apart from a pass: write them if they changed."""
        state = self.states.get(uid)
        if state is None or state.body is None or state.deleting:
            return
        async with state.lock:
            status = state.status
            new = None if status is None else engine.with_compliance(status, counts, datetime.now(UTC))
            if new is None or state.deleting:
                return
            body = kopf.Body(cast(kopf.RawBody, state.body))
            uid, ns, name, _ = _identity(body)
            logger = kopf.ObjectLogger(body=body, settings=self.settings)
            result = PassResult(status=new, outcome=Outcome(kind=OutcomeKind.SUCCEEDED))
            await self._publish(body, uid, ns, name, result, logger)

    async def resync(self, uid: str) -> None:
        """The object's scheduled pass, from its slim copy (nothing if it is gone or being deleted)."""
        state = self.states.get(uid)
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

    # -- credentials ------------------------------------------------------------------------------------
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
        uid, ns, name, generation = _identity(body)
        state = self.state(uid)
        async with state.lock:
            if state.deleting:  # a resync that was already due when the deletion began
                return state.next_delay
            started = time.monotonic()
            status = self._current_status(uid, body)
            now = datetime.now(UTC)
            resync = DEFAULT_RESYNC
            followed = self.feeds is not None
            spec: EcrPrivacyPolicySpec | None = None
            try:
                spec = parse_spec(body.get("spec") or {})
                resync = float(spec.resync_seconds)
                if spec.suspend:
                    result = engine.error_pass(Outcome(kind=OutcomeKind.SUSPENDED), status, generation, now)
                else:
                    workspace = await self.workspaces.resolve(spec.workspace_ref, ns)
                    async with self.limit:
                        with self.watchdog.track(f"{ns}/{name}"):
                            refusal = await self.workspaces.refusal(workspace, spec)
                            if refusal is not None:  # checked before any write: Guardrails sees nothing
                                result = engine.error_pass(refusal.outcome(), status, generation, now)
                            else:
                                result = await engine.sync(
                                    workspace.client, self.locks, spec, uid, generation, status, now
                                )
                                if self.feeds is not None:  # its echoes in the feed cause nothing
                                    self.feeds.record(workspace.client, result.changes)
                                    followed = self.feeds.followed(workspace.client)
            except pydantic.ValidationError as exc:
                result = engine.error_pass(_invalid_spec(exc), status, generation, now)
            except WorkspaceRefusedError as exc:
                result = engine.error_pass(exc.refusal.outcome(), status, generation, now)
            except (SecretNotFoundError, CredentialsError) as exc:
                result = engine.error_pass(_credentials_outcome(str(exc)), status, generation, now)
            except KubernetesUnavailableError as exc:
                result = engine.error_pass(_kubernetes_outcome(str(exc)), status, generation, now)
            except Exception as exc:
                if not engine.guardrails_error(exc):
                    raise
                result = engine.error_pass(exc, status, generation, now)
            if result.outcome.kind is OutcomeKind.FAILED:
                self._forget_credentials(ns, spec)
            with self.watchdog.track(f"{ns}/{name}"):
                written = await self._publish(body, uid, ns, name, result, logger)
            self.metrics.reconciles.labels(
                trigger, result.outcome.kind.value, result.outcome.reason or ""
            ).inc()
            self.metrics.reconcile_seconds.labels(trigger).observe(time.monotonic() - started)
            self.last_pass = time.monotonic()
            if not followed:  # no feed finds a console edit: resync as often as before it
                resync = min(resync, self.config.feed_fallback_resync)
            state.next_delay = self._next_delay(state, result.outcome, resync)
            if not written:  # the new status is not in Kubernetes yet: try again soon, not after a resync
                state.next_delay = min(state.next_delay, self.config.max_backoff)
            self.schedule.at(uid, 0 if state.pending else state.next_delay)  # a request came meanwhile
            return state.next_delay

    def _next_delay(self, state: ObjectState, outcome: Outcome, resync: float) -> float:
        if outcome.kind is OutcomeKind.FAILED:
            state.failures += 1
            backoff = min(self.config.max_backoff, 2.0 ** min(state.failures, 16))
            return min(resync, backoff) * random.uniform(0.8, 1.0)
        state.failures = 0
        return resync * random.uniform(0.9, 1.1)

    async def _publish(
        self, body: kopf.Body, uid: str, ns: str, name: str, result: PassResult, logger: kopf.Logger
    ) -> bool:
        """Post the pass's Events, log lines and metrics, and write its status; False if that write failed."""
        written = True
        for change in result.changes:
            logger.info(
                "guardrails %s id=%s: %s",
                change.reason,
                change.guardrails_id,
                change.message,
                extra={"action": change.reason, "guardrailsId": change.guardrails_id},
            )
            self.metrics.guardrails_changes.labels(change.reason).inc()
        # gauges first: whoever sees the new status can already scrape it
        status = result.status or self.state(uid).status or parse_status(body.get("status"))
        compliance = status.compliance.model_dump() if status.compliance else None
        self.metrics.set_object(
            ns,
            name,
            drift=sum(1 for d in status.drift if not d.corrected),
            compliance=compliance,
            conditions={c.type: c.status for c in status.conditions},
        )
        if result.status is not None:
            try:
                await self.kube.patch_status(ns, name, result.status.to_patch())
            except Exception as exc:  # the object may be gone, or the API server down: the next pass retries
                logger.warning("could not write status: %s", type(exc).__name__)
                written = False
            else:
                self.state(uid).status = result.status
        for event in result.events:
            kopf.event(body, type=event.type, reason=event.reason, message=event.message[:1000])
        return written

    async def finalize(self, body: kopf.Body, logger: kopf.Logger) -> None:
        """Run the deletion policy; raise ``kopf.TemporaryError`` to keep the finalizer while it cannot."""
        uid, ns, name, generation = _identity(body)
        state = self.state(uid)
        state.deleting = True
        self.schedule.cancel(uid)
        async with state.lock:
            status = self._current_status(uid, body)
            now = datetime.now(UTC)
            try:
                spec = parse_spec(body.get("spec") or {})
            except pydantic.ValidationError:
                logger.warning("invalid spec at deletion: leaving Guardrails untouched")
                self.forget(uid, ns, name)
                return
            if spec.deletion_policy is DeletionPolicy.ORPHAN:
                logger.info("deletionPolicy Orphan: leaving the policy pack in Guardrails")
                self.forget(uid, ns, name)
                return
            try:
                workspace = await self.workspaces.resolve(spec.workspace_ref, ns)
                with self.watchdog.track(f"{ns}/{name}"):
                    result = await engine.finalize(
                        workspace.client, self.locks, spec, uid, generation, status, now
                    )
            except WorkspaceRefusedError as exc:
                if status.policy_pack is None and not status.attachments:
                    # refused before any write on every pass: nothing of this object is in Guardrails
                    logger.info("workspace refused (%s) and no pack was ever made: nothing to delete", exc)
                    self.forget(uid, ns, name)
                    return
                outcome = exc.refusal.outcome()
                message = f"cannot delete the policy pack: {outcome.message}"
                result = engine.error_pass(
                    outcome.model_copy(update={"message": message}), status, generation, now
                )
                result.finished = False
            except (SecretNotFoundError, CredentialsError) as exc:
                outcome = _credentials_outcome(f"cannot delete the policy pack: {exc}")
                result = engine.error_pass(outcome, status, generation, now)
                result.finished = False
            except KubernetesUnavailableError as exc:
                result = engine.error_pass(_kubernetes_outcome(str(exc)), status, generation, now)
                result.finished = False
            except Exception as exc:
                if not engine.guardrails_error(exc):
                    raise
                result = engine.error_pass(exc, status, generation, now)
                result.finished = False
            await self._publish(body, uid, ns, name, result, logger)
            if not result.finished:
                self._forget_credentials(ns, spec)
                state.failures += 1
                delay = min(self.config.max_backoff, 2.0 ** min(state.failures, 16))
                raise kopf.TemporaryError(f"deletion waits: {result.outcome.message}", delay=delay)
            self.forget(uid, ns, name)
