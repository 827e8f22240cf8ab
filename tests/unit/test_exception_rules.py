"""EcrPrivacyException rules, pure: the cluster workspace's allowExceptions and maxExceptionDuration, expiry,
repositories under the policy's attachments by Guardrails path ids, conflicts that name no other tenant's
object, and the note marker that recognises an exception's own setting."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pydantic
import pytest

from ecr_privacy_operator.crd.conditions import Reason
from ecr_privacy_operator.crd.exception import parse_exception_spec
from ecr_privacy_operator.crd.workspace import ClusterGuardrailsWorkspaceSpec
from ecr_privacy_operator.guardrails.models import ResourceInfo
from ecr_privacy_operator.reconcile import exception_rules as rules

pytestmark = pytest.mark.unit

NOW = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
REPO = "arn:aws:ecr-public::123456789012:repository/base-images"


def spec(**fields: Any) -> Any:
    base: dict[str, Any] = {
        "policyRef": {"name": "ecr-private"},
        "repositories": [REPO],
        "reason": "Publishes our base images (SEC-1234)",
        "expires": "2027-03-01T00:00:00Z",
    }
    return parse_exception_spec({**base, **fields})


def scope(**fields: Any) -> ClusterGuardrailsWorkspaceSpec:
    base: dict[str, Any] = {
        "url": "https://acme.cloud.turbot.com",
        "credentialsSecretRef": {"name": "keys"},
        "allowedNamespaces": {"names": ["team-a"]},
        "allowedTargets": ["folder-a"],
    }
    return ClusterGuardrailsWorkspaceSpec.model_validate({**base, **fields})


def test_spec_defaults_and_validation() -> None:
    parsed = spec()
    assert parsed.deletion_policy == "Delete"
    assert parsed.expires_iso == "2027-03-01T00:00:00.000Z"
    with pytest.raises(pydantic.ValidationError):
        spec(repositories=[REPO, REPO])
    with pytest.raises(pydantic.ValidationError):
        spec(repositories=[])
    with pytest.raises(pydantic.ValidationError):
        parse_exception_spec({"policyRef": {"name": "p"}, "repositories": [REPO], "reason": "r"})


@pytest.mark.parametrize(
    ("fields", "expires", "reason"),
    [
        ({}, "2027-03-01T00:00:00Z", Reason.EXCEPTIONS_NOT_ALLOWED),
        ({"allowExceptions": True}, "2099-03-01T00:00:00Z", None),
        ({"allowExceptions": True, "maxExceptionDuration": "90d"}, "2027-03-31T00:00:00Z", None),
        (
            {"allowExceptions": True, "maxExceptionDuration": "90d"},
            "2027-04-02T00:00:00Z",
            Reason.EXPIRY_TOO_FAR,
        ),
        (
            {"allowExceptions": True, "maxExceptionDuration": "720h"},
            "2027-02-01T00:00:00Z",
            Reason.EXPIRY_TOO_FAR,
        ),
    ],
)
def test_cluster_workspace_allows_and_caps(
    fields: dict[str, Any], expires: str, reason: Reason | None
) -> None:
    refusal = rules.workspace_refusal(scope(**fields), "prod", spec(expires=expires), NOW)
    assert (refusal.reason if refusal else None) == reason
    if refusal is not None:
        assert "prod" in refusal.message
        assert not refusal.retryable


def test_namespaced_workspace_needs_no_permission() -> None:
    assert rules.workspace_refusal(None, "own", spec(expires="2099-01-01T00:00:00Z"), NOW) is None


def test_expiry() -> None:
    assert rules.expiry_refusal(spec(), NOW) is None
    past = rules.expiry_refusal(spec(expires="2026-12-31T23:59:59Z"), NOW)
    assert past is not None
    assert past.reason is Reason.EXPIRED
    assert rules.expiry_refusal(spec(expires="2027-01-01T00:00:00Z"), NOW) is not None


def info(rid: str, path: str) -> ResourceInfo:
    return ResourceInfo(id=rid, path=path)


def test_repositories_must_lie_under_an_attachment_by_path() -> None:
    targets = {"arn:aws:::123456789012": info("30", "1.20.30")}
    inside = {REPO: info("50", "1.20.30.40.50")}
    assert rules.placement_refusal(inside, targets, "ecr-private") is None
    # same account number in a string, but another branch of the tree
    outside = {REPO: info("51", "1.21.31.41.51")}
    refusal = rules.placement_refusal(outside, targets, "ecr-private")
    assert refusal is not None
    assert refusal.reason is Reason.REPOSITORY_NOT_UNDER_POLICY
    # an ARN that does not exist yet is pending (the policy's calculated Usage approves it); an id must exist
    assert rules.placement_refusal({REPO: None}, targets, "ecr-private") is None
    missing = rules.placement_refusal({"500000000000001": None}, targets, "ecr-private")
    assert missing is not None
    assert (missing.reason, missing.retryable) == (Reason.REPOSITORY_NOT_FOUND, True)
    assert rules.placement_refusal(inside, {"gone": None}, "ecr-private") is not None


def test_note_marker_round_trip_and_conflicts_name_no_other_tenant() -> None:
    own = rules.ExceptionMarker("team-a", "base-images", "uid-1")
    note = rules.note_for("Publishes our base images [SEC-1234]", own)
    assert rules.marker_of(note) == own
    assert rules.marker_of("made in the console") is None
    assert rules.conflict_refusal(REPO, own, own, has_setting=True) is None
    assert rules.conflict_refusal(REPO, None, own, has_setting=False) is None
    same_ns = rules.conflict_refusal(REPO, rules.ExceptionMarker("team-a", "other", "uid-2"), own, True)
    assert same_ns is not None
    assert "other" in same_ns.message
    other_ns = rules.conflict_refusal(
        REPO, rules.ExceptionMarker("team-b", "secret-name", "uid-3"), own, True
    )
    assert other_ns is not None
    assert other_ns.reason is Reason.REPOSITORY_CONFLICT
    assert "secret-name" not in other_ns.message
    assert "team-b" not in other_ns.message
    console = rules.conflict_refusal(REPO, None, own, True)
    assert console is not None
    assert "outside the operator" in console.message
