"""How a failed pass becomes an outcome: one reason table for Guardrails errors and for plans blocked by a
problem, so an object is Stalled (or retried) for the same reason the same way whoever found the problem."""

from __future__ import annotations

import pytest

from ecr_privacy_operator.crd.conditions import OutcomeKind, Reason
from ecr_privacy_operator.guardrails.errors import (
    ConflictError,
    NotFoundError,
    PolicyTypeNotFoundError,
    TransientError,
    UnauthorizedError,
)
from ecr_privacy_operator.reconcile.actions import DriftItem, Plan, Problem
from ecr_privacy_operator.reconcile.pass_result import blocked_outcome, failure_outcome

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("error", "reason", "retryable"),
    [
        (UnauthorizedError("no"), Reason.UNAUTHORIZED, False),
        (PolicyTypeNotFoundError(["tmod:@x/y#/policy/types/z"]), Reason.POLICY_TYPE_NOT_FOUND, False),
        (NotFoundError("no target"), Reason.TARGET_NOT_FOUND, True),
        (ConflictError("taken"), Reason.PACK_CONFLICT, True),
        (TransientError("503"), Reason.GUARDRAILS_UNAVAILABLE, True),
    ],
)
def test_failure_outcome_maps_errors(error: Exception, reason: str, retryable: bool) -> None:
    outcome = failure_outcome(error)
    assert (outcome.kind, outcome.reason, outcome.retryable) == (OutcomeKind.FAILED, reason, retryable)
    assert outcome.message


@pytest.mark.parametrize(
    ("reason", "retryable"),
    [
        (Reason.TARGET_NOT_FOUND, True),  # an account may still be imported into Guardrails: keep retrying
        (Reason.PACK_CONFLICT, True),
        (Reason.POLICY_TYPE_NOT_FOUND, False),  # the mod must be installed first: Stalled
    ],
)
def test_blocked_plan_is_stalled_like_the_same_error(reason: str, retryable: bool) -> None:
    planned = Plan(
        problems=(
            Problem(reason=reason, message="first"),
            Problem(reason=Reason.INVALID_VALUE, message="second"),
        ),
        drift=(DriftItem(object="policyPack", field="title", desired="a", actual="b"),),
    )
    outcome = blocked_outcome(planned)
    assert (outcome.kind, outcome.reason, outcome.retryable) == (OutcomeKind.FAILED, reason, retryable)
    assert outcome.message == "first; second"
    assert (outcome.drift_found, outcome.drift_remaining) == (1, planned.drift_remaining)
