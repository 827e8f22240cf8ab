"""What a pass raised, as the outcome its conditions report: a bad spec, a refused workspace, a Secret that
cannot be read, Kubernetes or Guardrails unavailable, a pass that ran past its deadline.

Errors that are none of these are bugs and propagate.
"""

from __future__ import annotations

import pydantic

from ecr_privacy_operator.crd.conditions import Outcome, OutcomeKind, Reason
from ecr_privacy_operator.kube import InvalidNameError, KubernetesUnavailableError, SecretNotFoundError
from ecr_privacy_operator.reconcile import pass_result
from ecr_privacy_operator.reconcile.clients import CredentialsError
from ecr_privacy_operator.reconcile.workspaces import WorkspaceRefusedError


def _failed(reason: str, message: str, retryable: bool) -> Outcome:
    return Outcome(kind=OutcomeKind.FAILED, reason=reason, message=message, retryable=retryable)


def outcome_of(exc: Exception, deadline: float) -> Outcome | None:
    """The outcome of a pass that raised ``exc``; None for an error none of these explain (a bug)."""
    if isinstance(exc, pydantic.ValidationError):
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'spec'}: {e['msg']}"
            for e in exc.errors(include_url=False)
        )
        return _failed(Reason.INVALID_SPEC, problems, retryable=False)
    if isinstance(exc, WorkspaceRefusedError):
        return exc.refusal.outcome()
    if isinstance(exc, InvalidNameError):  # a name no schema checked reached a Kubernetes path: nothing sent
        return _failed(Reason.INVALID_SPEC, str(exc), retryable=False)
    if isinstance(exc, SecretNotFoundError | CredentialsError):
        return _failed(Reason.CREDENTIALS_NOT_FOUND, str(exc), retryable=False)
    if isinstance(exc, KubernetesUnavailableError):
        return _failed(Reason.KUBERNETES_UNAVAILABLE, str(exc), retryable=True)
    if isinstance(exc, TimeoutError):
        return _failed(
            Reason.PASS_DEADLINE_EXCEEDED,
            f"the pass did not finish within {deadline:.0f}s (ECR_PRIVACY_PASS_DEADLINE) and was stopped; it is "
            "retried with backoff",
            retryable=True,
        )
    if pass_result.guardrails_error(exc):
        return pass_result.failure_outcome(exc)
    return None
