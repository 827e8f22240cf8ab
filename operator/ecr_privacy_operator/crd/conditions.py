"""kstatus-compatible status conditions with apimachinery semantics, as pure functions.

Rules (as ``meta.SetStatusCondition``): ``lastTransitionTime`` changes only when ``status`` changes; reason,
message and ``observedGeneration`` are always updated; other conditions keep their order and content.

Condition types: ``Ready`` (Guardrails matches the spec as of the last pass), ``Reconciling`` (work is
in progress or being retried), ``Stalled`` (retrying cannot help until the spec or Guardrails changes),
``Synced`` (the last sync with Guardrails succeeded and nothing is left to do), ``Drifted`` (the last check
found changes made outside the operator). ``Ready=True`` is never set while the last sync failed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

ConditionStatus = Literal["True", "False", "Unknown"]


class ConditionType(StrEnum):
    """The condition types the operator sets."""

    READY = "Ready"
    RECONCILING = "Reconciling"
    STALLED = "Stalled"
    SYNCED = "Synced"
    DRIFTED = "Drifted"
    FEED_AVAILABLE = "FeedAvailable"  # workspace objects: whether the activity feed is followed
    EXPIRED = "Expired"  # exceptions: expires has passed, the exception no longer counts


class Reason(StrEnum):
    """CamelCase reasons used in conditions and Events."""

    RECONCILE_SUCCEEDED = "ReconcileSucceeded"
    SYNCED = "Synced"
    PROGRESSING = "Progressing"
    CREDENTIALS_NOT_FOUND = "CredentialsNotFound"
    UNAUTHORIZED = "Unauthorized"
    FORBIDDEN = "Forbidden"
    POLICY_TYPE_NOT_FOUND = "PolicyTypeNotFound"
    INVALID_VALUE = "InvalidValue"
    INVALID_SPEC = "InvalidSpec"
    TARGET_NOT_FOUND = "TargetNotFound"
    PACK_CONFLICT = "PackConflict"
    GUARDRAILS_UNAVAILABLE = "GuardrailsUnavailable"
    KUBERNETES_UNAVAILABLE = "KubernetesUnavailable"
    SUSPENDED = "Suspended"
    OBSERVING = "Observing"
    DRIFT_DETECTED = "DriftDetected"
    DRIFT_CORRECTED = "DriftCorrected"
    NO_DRIFT = "NoDrift"
    DELETING = "Deleting"
    PASS_DEADLINE_EXCEEDED = "PassDeadlineExceeded"
    # tenancy: the workspace a policy names, and what that workspace allows (checked before any write)
    WORKSPACE_NOT_FOUND = "WorkspaceNotFound"
    INVALID_WORKSPACE = "InvalidWorkspace"
    HOST_NOT_ALLOWED = "HostNotAllowed"
    WORKSPACE_NOT_ALLOWED = "WorkspaceNotAllowed"
    TARGET_NOT_ALLOWED = "TargetNotAllowed"
    ENFORCEMENT_NOT_ALLOWED = "EnforcementNotAllowed"
    PARENT_NOT_ALLOWED = "ParentNotAllowed"
    POLICY_TYPE_NOT_ALLOWED = "PolicyTypeNotAllowed"
    ADOPTION_NOT_ALLOWED = "AdoptionNotAllowed"
    AKA_NOT_ALLOWED = "AkaNotAllowed"
    # workspace objects
    CREDENTIALS_VALID = "CredentialsValid"
    IN_USE = "InUse"
    # the activity feed of a workspace (condition FeedAvailable)
    FEED_FOLLOWED = "FeedFollowed"
    FEED_FORBIDDEN = "FeedForbidden"
    FEED_NOT_SUPPORTED = "FeedNotSupported"
    FEED_UNAVAILABLE = "FeedUnavailable"
    # exceptions (EcrPrivacyException): checked before any write
    POLICY_NOT_FOUND = "PolicyNotFound"
    EXCEPTIONS_NOT_ALLOWED = "ExceptionsNotAllowed"
    EXPIRY_TOO_FAR = "ExpiryTooFar"
    EXPIRED = "Expired"
    NOT_EXPIRED = "NotExpired"
    REPOSITORY_NOT_FOUND = "RepositoryNotFound"
    REPOSITORY_NOT_UNDER_POLICY = "RepositoryNotUnderPolicy"
    REPOSITORY_CONFLICT = "RepositoryConflict"
    REPOSITORY_PENDING = "RepositoryPending"
    FEED_BLIND = "FeedBlind"  # the feed is read, but the operator's own writes do not show up in it
    RESYNC_INTERVAL_RAISED = "ResyncIntervalRaised"  # an Event: the cluster workspace's floor applies


class Condition(BaseModel):
    """One condition in the metav1.Condition shape (camelCase on the wire)."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, alias_generator=to_camel, extra="ignore")

    type: str
    status: ConditionStatus
    observed_generation: int = 0
    last_transition_time: str = ""
    reason: str = ""
    message: str = ""

    def to_wire(self) -> dict[str, Any]:
        """The condition as it goes into ``status.conditions``."""
        return self.model_dump(by_alias=True)


class OutcomeKind(StrEnum):
    """How a reconcile pass ended."""

    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    PROGRESSING = "Progressing"
    SUSPENDED = "Suspended"
    DELETING = "Deleting"


class Outcome(BaseModel):
    """The result of one pass, as the conditions need it (built by the handlers from apply's result).

    ``retryable`` only matters for FAILED: False means Stalled. ``drift_found`` is the number of
    differences found (None: not checked this pass, the Drifted condition is left alone);
    ``drift_remaining`` is the number still not corrected (Report / Observe). ``observing`` marks
    managementPolicy Observe.
    """

    model_config = ConfigDict(frozen=True)

    kind: OutcomeKind
    reason: str = ""
    message: str = ""
    retryable: bool = True
    drift_found: int | None = None
    drift_remaining: int = 0
    observing: bool = False


def format_time(now: datetime) -> str:
    """RFC 3339 with seconds precision in UTC, as metav1.Time serialises."""
    return now.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_conditions(raw: Sequence[Mapping[str, Any]] | None) -> list[Condition]:
    """Read ``status.conditions`` as found on the object; malformed entries are dropped."""
    result: list[Condition] = []
    for item in raw or ():
        try:
            result.append(Condition.model_validate(dict(item)))
        except ValueError:
            continue
    return result


def set_condition(
    conditions: Sequence[Condition],
    *,
    type: str,
    status: ConditionStatus,
    reason: str,
    message: str,
    observed_generation: int,
    now: datetime,
) -> list[Condition]:
    """Return a new list with one condition set; ``lastTransitionTime`` moves only when ``status`` changes."""
    result: list[Condition] = []
    found = False
    for cond in conditions:
        if cond.type != type:
            result.append(cond)
            continue
        found = True
        changed = cond.status != status or not cond.last_transition_time
        result.append(
            Condition(
                type=type,
                status=status,
                observed_generation=observed_generation,
                last_transition_time=format_time(now) if changed else cond.last_transition_time,
                reason=reason,
                message=message,
            )
        )
    if not found:
        result.append(
            Condition(
                type=type,
                status=status,
                observed_generation=observed_generation,
                last_transition_time=format_time(now),
                reason=reason,
                message=message,
            )
        )
    return result


def find_condition(conditions: Sequence[Condition], type: str) -> Condition | None:
    """The condition of that type, or None."""
    return next((c for c in conditions if c.type == type), None)


def is_ready(conditions: Sequence[Condition], generation: int) -> bool:
    """True when Ready=True was computed for this generation."""
    ready = find_condition(conditions, ConditionType.READY)
    return ready is not None and ready.status == "True" and ready.observed_generation == generation


_Triple = tuple[ConditionStatus, str, str]


def _targets(outcome: Outcome) -> dict[ConditionType, _Triple]:
    """The Ready/Reconciling/Stalled/Synced values for an outcome (Drifted is handled apart)."""
    msg = outcome.message
    kind = outcome.kind
    if kind is OutcomeKind.FAILED:
        reason = outcome.reason or Reason.GUARDRAILS_UNAVAILABLE
        return {
            ConditionType.READY: ("False", reason, msg),
            ConditionType.SYNCED: ("False", reason, msg),
            ConditionType.RECONCILING: ("True", reason, msg) if outcome.retryable else ("False", reason, msg),
            ConditionType.STALLED: ("False", reason, msg) if outcome.retryable else ("True", reason, msg),
        }
    if kind is OutcomeKind.PROGRESSING or kind is OutcomeKind.DELETING:
        reason = outcome.reason or (Reason.DELETING if kind is OutcomeKind.DELETING else Reason.PROGRESSING)
        return {
            ConditionType.READY: ("False", reason, msg),
            ConditionType.RECONCILING: ("True", reason, msg),
            ConditionType.STALLED: ("False", reason, msg),
        }
    if kind is OutcomeKind.SUSPENDED:
        msg = msg or "reconciliation is suspended (spec.suspend)"
        return {
            ConditionType.READY: ("False", Reason.SUSPENDED, msg),
            ConditionType.RECONCILING: ("False", Reason.SUSPENDED, msg),
            ConditionType.STALLED: ("False", Reason.SUSPENDED, msg),
        }
    # SUCCEEDED
    if outcome.drift_remaining:
        reason = outcome.reason or Reason.DRIFT_DETECTED
        msg = (
            msg or f"{outcome.drift_remaining} difference(s) between the spec and Guardrails left uncorrected"
        )
        return {
            ConditionType.READY: ("False", reason, msg),
            ConditionType.SYNCED: ("False", reason, msg),
            ConditionType.RECONCILING: ("False", reason, msg),
            ConditionType.STALLED: ("False", reason, msg),
        }
    reason = outcome.reason or (Reason.OBSERVING if outcome.observing else Reason.RECONCILE_SUCCEEDED)
    msg = msg or (
        "Guardrails matches the spec (observe only)" if outcome.observing else "Guardrails matches the spec"
    )
    return {
        ConditionType.READY: ("True", reason, msg),
        ConditionType.SYNCED: ("True", Reason.SYNCED, msg),
        ConditionType.RECONCILING: ("False", reason, msg),
        ConditionType.STALLED: ("False", reason, msg),
    }


def _drifted(outcome: Outcome) -> _Triple | None:
    found = outcome.drift_found
    if found is None:
        return None
    if found == 0:
        return ("False", Reason.NO_DRIFT, "Guardrails has no changes made outside the operator")
    if outcome.drift_remaining:
        return ("True", Reason.DRIFT_DETECTED, f"{found} difference(s) found; see status.drift")
    return ("True", Reason.DRIFT_CORRECTED, f"{found} difference(s) found and corrected; see status.drift")


def derive_conditions(
    previous: Sequence[Condition], outcome: Outcome, *, observed_generation: int, now: datetime
) -> list[Condition]:
    """Apply an outcome to the previous conditions and return the new list (pure).

    - Succeeded, nothing left: Ready=True, Synced=True, Reconciling=False, Stalled=False.
    - Succeeded with uncorrected drift (Report/Observe): Ready=False and Synced=False (DriftDetected).
    - Failed: Ready=False, Synced=False with the error's reason; Stalled=True if not retryable, else
      Reconciling=True.
    - Progressing / Deleting: Ready=False, Reconciling=True; Synced unchanged.
    - Suspended: Ready=False, Reconciling=False, Stalled=False (Suspended); Synced and Drifted unchanged.
    - Drifted follows ``drift_found`` when it was checked this pass.
    """
    result = list(previous)
    updates: list[tuple[str, _Triple]] = [(str(t), v) for t, v in _targets(outcome).items()]
    drifted = _drifted(outcome)
    if drifted is not None:
        updates.append((ConditionType.DRIFTED, drifted))
    for ctype, (status, reason, message) in updates:
        result = set_condition(
            result,
            type=ctype,
            status=status,
            reason=reason,
            message=message,
            observed_generation=observed_generation,
            now=now,
        )
    return result
