"""Kopf handlers for EcrPrivacyException: create/update/resume, the periodic check (resync and expiry),
deletion, and the index of policies by name that exceptions look their policy up in. The work is done by
``runtime.exceptions.ExceptionRuntime`` (in ``memo``), built from the policy runtime's shared parts."""

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


@kopf.index(API_GROUP, API_VERSION, PLURAL)
def policies_by_name(
    namespace: str | None, name: str, spec: kopf.Spec, meta: kopf.Meta, **_: Any
) -> dict[tuple[str, str], Mapping[str, Any] | None]:
    """(namespace, name) -> the policy's spec; None while it is being deleted."""
    deleting = bool(meta.get("deletionTimestamp"))
    return {(namespace or "", name): None if deleting else dict(spec)}


def _runtime(memo: kopf.Memo) -> ExceptionRuntime:
    found: ExceptionRuntime | None = getattr(memo, "exceptions", None)
    if found is None:
        runtime = memo.runtime
        found = ExceptionRuntime(workspaces=runtime.workspaces, kube=runtime.kube, metrics=runtime.metrics)
        memo.exceptions = found
    return found


def _finder(memo: kopf.Memo, kwargs: Mapping[str, Any]) -> Any:
    memo.runtime.directory.bind(kwargs)  # the workspace indices the resolver reads
    index: kopf.Index[tuple[str, str], Mapping[str, Any] | None] = kwargs["policies_by_name"]

    def find(namespace: str, name: str) -> Mapping[str, Any] | None:
        for spec in index.get((namespace, name), []):
            return spec
        return None

    return find


@kopf.on.create(*RESOURCE)
@kopf.on.update(*RESOURCE, field="spec")
@kopf.on.resume(*RESOURCE)
async def sync_exception(body: kopf.Body, memo: kopf.Memo, logger: kopf.Logger, **kwargs: Any) -> None:
    await _runtime(memo).sync(body, _finder(memo, kwargs), logger)


@kopf.timer(*RESOURCE, interval=RESYNC, initial_delay=RESYNC, idle=0)
async def check_exception(body: kopf.Body, memo: kopf.Memo, logger: kopf.Logger, **kwargs: Any) -> None:
    """The resync: settings still there, in force, the control's state; Expired once expires has passed."""
    await _runtime(memo).sync(body, _finder(memo, kwargs), logger)


@kopf.on.delete(*RESOURCE)
async def delete_exception(body: kopf.Body, memo: kopf.Memo, logger: kopf.Logger, **kwargs: Any) -> None:
    await _runtime(memo).finalize(body, _finder(memo, kwargs), logger)
