"""What one exception check publishes: its outcome as conditions (kstatus plus ``Expired``), Events, the
status write (none when nothing changed), the pending repositories the policy's calculated Usage reads, and the
policy's pass when they change."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import kopf

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
)
from ecr_privacy_operator.kube import Kube, KubernetesError
from ecr_privacy_operator.reconcile import exceptions as sync_exceptions
from ecr_privacy_operator.reconcile.exception_rules import ExceptionMarker
from ecr_privacy_operator.runtime.directory import Directory


def marker_of_body(body: Mapping[str, Any]) -> ExceptionMarker:
    """The exception's identity, as its settings' notes carry it."""
    meta = body.get("metadata") or {}
    return ExceptionMarker(
        str(meta.get("namespace", "")), str(meta.get("name", "")), str(meta.get("uid", ""))
    )


@dataclass
class ExceptionPublisher:
    """Shared by every exception check of the process."""

    kube: Kube
    directory: Directory
    # (namespace, policy name): run the policy's pass now (its calculated Usage follows pending repositories)
    recheck_policy: Callable[[str, str], None]
    written: dict[str, EcrPrivacyExceptionStatus] = field(default_factory=dict)  # per UID: the last status

    @staticmethod
    def outcome(result: sync_exceptions.ExceptionOutcome) -> Outcome:
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

    async def publish(
        self,
        raw: dict[str, Any],
        outcome: Outcome,
        result: sync_exceptions.ExceptionOutcome | None,
        spec: EcrPrivacyExceptionSpec | None,
        now: dt.datetime,
        logger: kopf.Logger,
    ) -> None:
        body = kopf.Body(cast(kopf.RawBody, raw))
        marker = marker_of_body(raw)
        generation = int((raw.get("metadata") or {}).get("generation") or 0)
        previous = self.written.get(marker.uid) or EcrPrivacyExceptionStatus()
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
        # a check that finds everything as it was writes nothing to Kubernetes (lastSyncTime: the last pass
        # that changed something or made the object Ready, as for policies)
        was_ready = previous.observed_generation == generation and any(
            c.type == ConditionType.READY and c.status == "True" for c in previous.conditions
        )
        status = EcrPrivacyExceptionStatus(
            observed_generation=generation,
            conditions=tuple(conditions),
            repository_count=len(spec.repositories) if spec else 0,
            repositories=result.statuses if result and result.repositories else previous.repositories,
            pending_repositories=result.pending if result and not result.refusal else (),
            last_sync_time=now.strftime("%Y-%m-%dT%H:%M:%SZ")
            if result and not result.refusal and (result.created or result.corrected or not was_ready)
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
            self.written[marker.uid] = status
