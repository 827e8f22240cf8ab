"""Publishes what a pass did: one log line and a metric per Guardrails change, the object's gauges, its status
(written only when it changed, cut to what the CRD's schema admits) and its Events."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import kopf

from ecr_privacy_operator.crd.status import parse_status
from ecr_privacy_operator.kube import Kube
from ecr_privacy_operator.metrics import Metrics
from ecr_privacy_operator.reconcile.pass_result import PassResult
from ecr_privacy_operator.runtime.objects import ObjectState


@dataclass
class Publisher:
    """Shared by every pass of the process."""

    kube: Kube
    metrics: Metrics

    async def publish(
        self, body: kopf.Body, state: ObjectState, ns: str, name: str, result: PassResult, logger: kopf.Logger
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
        status = result.status or state.status or parse_status(body.get("status"))
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
                await self.kube.patch_status(ns, name, fit_status(result.status.to_patch()))
            except Exception as exc:  # the object may be gone, or the API server down: the next pass retries
                logger.warning("could not write status: %s", type(exc).__name__)
                written = False
            else:
                state.status = result.status
        for event in result.events:
            kopf.event(body, type=event.type, reason=event.reason, message=event.message[:1000])
        return written


CONDITION_MESSAGE_LIMIT = 32768  # the CRD's maxLength of a condition message (the Kubernetes convention)


def fit_status(patch: dict[str, Any]) -> dict[str, Any]:
    """The status patch with every condition message cut to the schema's limit: a message that quotes a long
    spec value (a 64 KiB setting) must not make the API server refuse the whole status."""
    for cond in patch.get("conditions") or ():
        message = cond.get("message")
        if isinstance(message, str) and len(message) > CONDITION_MESSAGE_LIMIT:
            cond["message"] = message[: CONDITION_MESSAGE_LIMIT - 1] + "…"
    return patch
