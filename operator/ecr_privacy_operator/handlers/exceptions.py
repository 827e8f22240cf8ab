"""Kopf handlers for EcrPrivacyException: create/update/resume, deletion, and the index of policies by name
that exceptions look their policy up in. The work is done by ``runtime.exceptions.ExceptionRuntime`` (one per
process), built from the policy runtime's shared parts; its one schedule runs the periodic checks (resync and
expiry) per policy, so there is no daemon per exception."""

from __future__ import annotations

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
async def policies_by_name(
    namespace: str | None, name: str, uid: str, spec: kopf.Spec, meta: kopf.Meta, **_: Any
) -> dict[tuple[str, str], PolicyEntry]:
    """(namespace, name) -> the policy's UID and spec."""
    deleting = bool(meta.get("deletionTimestamp"))
    return {(namespace or "", name): (uid, None if deleting else dict(spec))}


@kopf.index(*RESOURCE)
async def pending_approvals(
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
    that object (every exception built a runtime, a schedule and a feed listener of its own)."""
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
            slots=runtime.slots,
            resync=RESYNC,
            fallback_resync=runtime.config.feed_fallback_resync,
            recheck_policy=recheck_policy,
            feeds=runtime.feeds,
        )
        runtime.compliance_listeners.append(found.poke)
        runtime.exception_checks = found  # the feed routes edits of the exceptions' settings to it
    found.start()  # from a handler: the checks it starts can post Events
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
    """Ask for a check of the exception's policy's exceptions (returns at once; the schedule runs it)."""
    _runtime(memo, kwargs).request(body, _finder(memo, kwargs), logger)


@kopf.on.cleanup()
async def stop_exception_checks(memo: kopf.Memo, **_: Any) -> None:
    found = getattr(getattr(memo, "runtime", None), "exception_checks", None)
    if isinstance(found, ExceptionRuntime):
        await found.stop()


@kopf.on.delete(*RESOURCE)
async def delete_exception(body: kopf.Body, memo: kopf.Memo, logger: kopf.Logger, **kwargs: Any) -> None:
    await _runtime(memo, kwargs).finalize(body, _finder(memo, kwargs), logger)
