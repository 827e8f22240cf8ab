"""Kopf handlers for EcrPrivacyException: create/update/resume, the periodic check (resync and expiry),
deletion, and the index of policies by name that exceptions look their policy up in. The work is done by
``runtime.exceptions.ExceptionRuntime`` (in ``memo``), built from the policy runtime's shared parts."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

import kopf

from ecr_privacy_operator.config import OperatorConfig
from ecr_privacy_operator.crd.exception import EXCEPTION_PLURAL
from ecr_privacy_operator.crd.spec import API_GROUP, API_VERSION, PLURAL
from ecr_privacy_operator.runtime.exceptions import ExceptionRuntime

RESOURCE = (API_GROUP, API_VERSION, EXCEPTION_PLURAL)
RESYNC = OperatorConfig.from_env().exception_resync


PolicyEntry = tuple[str, Mapping[str, Any] | None]  # (uid, spec; None while it is being deleted)


@kopf.index(API_GROUP, API_VERSION, PLURAL)
def policies_by_name(
    namespace: str | None, name: str, uid: str, spec: kopf.Spec, meta: kopf.Meta, **_: Any
) -> dict[tuple[str, str], PolicyEntry]:
    """(namespace, name) -> the policy's UID and spec."""
    deleting = bool(meta.get("deletionTimestamp"))
    return {(namespace or "", name): (uid, None if deleting else dict(spec))}


@kopf.index(*RESOURCE)
def pending_approvals(
    namespace: str | None, uid: str, spec: kopf.Spec, status: kopf.Status, **_: Any
) -> dict[tuple[str, str], tuple[str, tuple[tuple[str, str], ...]]]:
    """(namespace, policy name) -> this exception's UID and the repositories it approves before they exist,
    with its expiry (read by the policy's pass: its Usage setting is calculated while there are any)."""
    policy = (spec.get("policyRef") or {}).get("name")
    pending = status.get("pendingRepositories") or []
    expires = spec.get("expires")
    if not isinstance(policy, str) or not isinstance(expires, str) or not isinstance(pending, list):
        return {}
    pairs = tuple((str(arn), expires) for arn in pending if isinstance(arn, str))
    return {(namespace or "", policy): (uid, pairs)}


def _runtime(memo: kopf.Memo, kwargs: Mapping[str, Any]) -> ExceptionRuntime:
    """The one exceptions' runtime of this process, built on first use. It is kept on the shared ``Runtime``,
    not in ``memo``: Kopf hands each object a shallow copy of the memo, so an attribute set on it stays with
    that object (every exception built a runtime, a feed listener and a feed target of its own)."""
    runtime = memo.runtime
    found = runtime.exception_checks
    if not isinstance(found, ExceptionRuntime):
        index: kopf.Index[tuple[str, str], PolicyEntry] = kwargs["policies_by_name"]

        def recheck_policy(namespace: str, name: str) -> None:
            runtime.recheck([uid for uid, _ in index.get((namespace, name), [])], "exception")

        found = ExceptionRuntime(
            workspaces=runtime.workspaces,
            kube=runtime.kube,
            metrics=runtime.metrics,
            directory=runtime.directory,
            recheck_policy=recheck_policy,
            feeds=runtime.feeds,
        )
        runtime.compliance_listeners.append(found.poke)
        runtime.exception_checks = found  # the feed routes edits of the exceptions' settings to it
    return found


def _finder(memo: kopf.Memo, kwargs: Mapping[str, Any]) -> Any:
    memo.runtime.directory.bind(kwargs)  # the workspace indices the resolver reads
    index: kopf.Index[tuple[str, str], PolicyEntry] = kwargs["policies_by_name"]

    def find(namespace: str, name: str) -> Mapping[str, Any] | None:
        for _, spec in index.get((namespace, name), []):
            return spec
        return None

    return find


@kopf.on.create(*RESOURCE)
@kopf.on.update(*RESOURCE, field="spec")
@kopf.on.resume(*RESOURCE)
async def sync_exception(body: kopf.Body, memo: kopf.Memo, logger: kopf.Logger, **kwargs: Any) -> None:
    await _runtime(memo, kwargs).sync(body, _finder(memo, kwargs), logger)


def _next_check(spec: Mapping[str, Any], now: datetime.datetime) -> float:
    """Seconds to the next check: the resync, or just after ``expires`` when that comes first."""
    try:
        expires = datetime.datetime.fromisoformat(str(spec.get("expires", "")).replace("Z", "+00:00"))
    except ValueError:
        return RESYNC
    left = (expires - now).total_seconds() + 1.0
    return min(RESYNC, left) if left > 0 else RESYNC


@kopf.daemon(*RESOURCE, cancellation_timeout=5)
async def check_exception(
    stopped: kopf.DaemonStopped,
    body: kopf.Body,
    spec: kopf.Spec,
    memo: kopf.Memo,
    logger: kopf.Logger,
    **kwargs: Any,
) -> None:
    """The resync (settings still there, in force, the control's state), and a check right after ``expires``
    (Expired, and a pending name leaves the policy's calculated Usage). ``body``/``spec`` are live views."""
    while not stopped:
        await stopped.wait(_next_check(spec, datetime.datetime.now(datetime.UTC)))
        if stopped:
            return
        try:
            await _runtime(memo, kwargs).sync(body, _finder(memo, kwargs), logger)
        except Exception:  # a bug, not a bad object: logged, checked again at the next interval
            logger.exception("exception check failed")


@kopf.on.delete(*RESOURCE)
async def delete_exception(body: kopf.Body, memo: kopf.Memo, logger: kopf.Logger, **kwargs: Any) -> None:
    await _runtime(memo, kwargs).finalize(body, _finder(memo, kwargs), logger)
