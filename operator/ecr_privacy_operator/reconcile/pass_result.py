"""What a policy pass returns (``PassResult``): the status to write, its Events and its outcome; how an error or a
blocked plan becomes an outcome (``failure_outcome``, ``blocked_outcome``), and the pieces of the new status a
pass builds from what it read and did (compliance, drift, settings, attachments). ``engine`` runs the passes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ecr_privacy_operator.crd.conditions import Outcome, OutcomeKind, Reason, derive_conditions, format_time
from ecr_privacy_operator.crd.spec import SEED_CONTROL_TYPE
from ecr_privacy_operator.crd.status import (
    AttachmentStatus,
    ComplianceStatus,
    DriftStatus,
    EcrPrivacyPolicyStatus,
    SettingStatus,
)
from ecr_privacy_operator.guardrails.errors import (
    ConfigurationError,
    ConflictError,
    ForbiddenError,
    GuardrailsError,
    NotFoundError,
    PolicyTypeNotFoundError,
    UnauthorizedError,
    ValidationError,
)
from ecr_privacy_operator.reconcile.actions import Plan
from ecr_privacy_operator.reconcile.apply import ApplyResult, Change
from ecr_privacy_operator.reconcile.desired import Desired
from ecr_privacy_operator.reconcile.observed import ComplianceCounts, Observed


@dataclass(frozen=True)
class Event:
    """A Kubernetes Event to post on the object."""

    type: str  # Normal | Warning
    reason: str
    message: str


@dataclass
class PassResult:
    """The result of a pass: the status to write (None: unchanged), Events, outcome, Guardrails changes."""

    status: EcrPrivacyPolicyStatus | None
    outcome: Outcome
    events: list[Event] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    pack_id: str | None = None
    finished: bool = True  # finalize: True when the object may go


# error class -> (reason, retryable); retryable=False means Stalled: retrying cannot help until the spec,
# the credentials or the installed mods change. A missing target or a conflicting pack can resolve in
# Guardrails (an account being imported, a pack deleted), so those keep retrying with backoff.
_ERROR_REASONS: tuple[tuple[type[Exception], str, bool], ...] = (
    (UnauthorizedError, Reason.UNAUTHORIZED, False),
    (ForbiddenError, Reason.FORBIDDEN, False),
    (PolicyTypeNotFoundError, Reason.POLICY_TYPE_NOT_FOUND, False),
    (ValidationError, Reason.INVALID_VALUE, False),
    (ConfigurationError, Reason.INVALID_SPEC, False),
    (NotFoundError, Reason.TARGET_NOT_FOUND, True),
    (ConflictError, Reason.PACK_CONFLICT, True),
)
_RETRYABLE_REASONS = frozenset(reason for _, reason, retryable in _ERROR_REASONS if retryable)


def failure_outcome(exc: Exception) -> Outcome:
    """Map an error to a condition reason; ``retryable=False`` (Stalled) where retrying cannot help."""
    message = str(exc)
    for cls, reason, retryable in _ERROR_REASONS:
        if isinstance(exc, cls):
            return Outcome(kind=OutcomeKind.FAILED, reason=reason, message=message, retryable=retryable)
    return Outcome(
        kind=OutcomeKind.FAILED,
        reason=Reason.GUARDRAILS_UNAVAILABLE,
        message=f"Guardrails did not answer as expected: {message}",
        retryable=True,
    )


def blocked_outcome(planned: Plan) -> Outcome:
    """The outcome of a plan blocked by problems: the first problem's reason, Stalled exactly as
    ``failure_outcome`` decides for that reason (TargetNotFound retries whether the plan or Guardrails found it)."""
    problem = planned.problems[0]
    return Outcome(
        kind=OutcomeKind.FAILED,
        reason=problem.reason,
        message=planned.message(),
        retryable=problem.reason in _RETRYABLE_REASONS,
        drift_found=len(planned.drift),
        drift_remaining=planned.drift_remaining,
    )


def compliance_status(
    counts: dict[str, ComplianceCounts], previous: ComplianceStatus | None, now: datetime, found_any: bool
) -> ComplianceStatus | None:
    """The compliance counts summed over the targets; the previous ones (and their ``checkedAt``) when nothing
    was read or nothing changed."""
    if not found_any:
        return previous
    total = ComplianceCounts.sum(counts.values())
    fresh = ComplianceStatus(control_type=SEED_CONTROL_TYPE, **total.model_dump())
    if previous is not None and previous.model_copy(update={"checked_at": None}) == fresh:
        return previous  # unchanged counts keep their checkedAt: no status write on an idle resync
    return fresh.model_copy(update={"checked_at": format_time(now)})


def drift_status(planned: Plan, previous: EcrPrivacyPolicyStatus, now: datetime) -> tuple[DriftStatus, ...]:
    """The drift the plan found, each keeping the time it was first detected."""
    known = {(d.object, d.field): d.detected_at for d in previous.drift}
    return tuple(
        DriftStatus(
            object=d.object,
            field=d.field,
            desired=d.desired,
            actual=d.actual,
            corrected=d.corrected,
            detected_at=known.get((d.object, d.field)) or format_time(now),
        )
        for d in planned.drift
    )


def drift_events(planned: Plan, previous: EcrPrivacyPolicyStatus) -> list[Event]:
    """An Event for each drift found anew, and for each correction."""
    known = {(d.object, d.field) for d in previous.drift}
    events = []
    for d in planned.drift:
        if (d.object, d.field) in known and not d.corrected:
            continue
        what = f"{d.object} {d.field}: spec wants {d.desired!r}, Guardrails has {d.actual!r}"
        events.append(Event("Warning", Reason.DRIFT_DETECTED, what))  # every drift found, corrected or not
        if d.corrected:
            events.append(Event("Normal", Reason.DRIFT_CORRECTED, f"reverted {what}"))
    return events


def settings_status(desired: Desired, observed: Observed, applied: ApplyResult) -> tuple[SettingStatus, ...]:
    """The pack's settings as written by this pass or read by it."""
    out = []
    for want in desired.settings:
        have = applied.settings.get(want.type) or observed.setting(want.type)
        if have is None or want.type in applied.deleted_setting_types:
            continue
        value = have.value_source if want.value_source is not None else have.value
        out.append(SettingStatus(type=want.type, id=have.id, value=value))
    return tuple(out)


def attachments_status(
    desired: Desired, observed: Observed, pack_id: str | None, applied: ApplyResult
) -> tuple[AttachmentStatus, ...]:
    """The targets the pack is attached to after this pass."""
    out = []
    for resource in desired.targets:
        target = observed.target(resource)
        if target is None or target.id is None or pack_id is None or resource in applied.detached:
            continue
        if pack_id in target.attached_pack_ids or resource in applied.attached:
            out.append(
                AttachmentStatus(resource=resource, resource_id=applied.target_ids.get(resource, target.id))
            )
    return tuple(out)


def changed_status(
    previous: EcrPrivacyPolicyStatus, new: EcrPrivacyPolicyStatus
) -> EcrPrivacyPolicyStatus | None:
    """``new``, or None when it would patch nothing (an idle resync writes nothing to Kubernetes)."""
    return None if new.to_patch() == previous.to_patch() else new


def error_pass(
    error: Exception | Outcome, status: EcrPrivacyPolicyStatus, generation: int, now: datetime
) -> PassResult:
    """A pass that failed before or while talking to Guardrails (bad spec, missing Secret, transport error)."""
    outcome = error if isinstance(error, Outcome) else failure_outcome(error)
    new = status.model_copy(
        update={
            "observed_generation": generation,
            "conditions": tuple(
                derive_conditions(status.conditions, outcome, observed_generation=generation, now=now)
            ),
        }
    )
    events = (
        [] if changed_status(status, new) is None else [Event("Warning", outcome.reason, outcome.message)]
    )
    return PassResult(status=changed_status(status, new), outcome=outcome, events=events)


def guardrails_error(exc: BaseException) -> bool:
    """True for errors that ``failure_outcome`` understands (the client's error tree)."""
    return isinstance(exc, GuardrailsError)


def with_compliance(
    status: EcrPrivacyPolicyStatus, counts: dict[str, ComplianceCounts], now: datetime
) -> EcrPrivacyPolicyStatus | None:
    """The status with compliance counts read apart from a pass (the activity feed saw a control change);
    None when they are unchanged."""
    compliance = compliance_status(counts, status.compliance, now, bool(counts))
    return changed_status(status, status.model_copy(update={"compliance": compliance}))
