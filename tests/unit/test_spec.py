"""Spec parsing: defaults, aliases, durations and the rules the models mirror from the CRD."""

from __future__ import annotations

import pydantic
import pytest

from ecr_privacy_operator.crd.spec import (
    SEED_AKA,
    SEED_APPROVED_TYPE,
    DriftPolicy,
    Enforcement,
    WorkspaceKind,
    WorkspaceRef,
    parse_duration,
    parse_spec,
)
from ecr_privacy_operator.crd.status import parse_status

pytestmark = pytest.mark.unit


def test_empty_spec_is_the_seed_pack() -> None:
    spec = parse_spec({})
    assert spec.policy_pack.title == "Enforce AWS ECR Repositories Are Private"
    assert spec.policy_pack.akas == (SEED_AKA,)
    assert spec.policy_pack.parent == "tmod:@turbot/turbot#/"
    assert spec.enforcement is Enforcement.CHECK
    assert spec.resync_seconds == 1800  # 30m: the safety net behind the activity feed
    assert spec.workspace_ref is None  # the CRD requires it; the model tolerates its absence
    assert spec.attachments == ()
    assert not spec.suspend


def test_camel_case_aliases_and_unknown_fields() -> None:
    spec = parse_spec(
        {
            "workspaceRef": {"kind": "ClusterGuardrailsWorkspace", "name": "prod"},
            "workspace": {"url": "https://attacker.example"},  # the removed inline form: ignored
            "policyPack": {"akas": ["a", "b"], "adopt": True},
            "driftPolicy": "Report",
            "attachments": [{"resource": "arn:aws:::1"}, {"resource": "2"}],
            "futureField": 1,
        }
    )
    assert spec.workspace_ref == WorkspaceRef(kind=WorkspaceKind.CLUSTER, name="prod")
    assert not hasattr(spec, "workspace")
    assert spec.policy_pack.adopt
    assert spec.policy_pack.akas == ("a", "b")
    assert spec.drift_policy is DriftPolicy.REPORT
    assert spec.attachment_targets == ("arn:aws:::1", "2")


def test_frozen() -> None:
    spec = parse_spec({})
    with pytest.raises(pydantic.ValidationError):
        spec.suspend = True  # type: ignore[misc]


@pytest.mark.parametrize(("text", "seconds"), [("10s", 10), ("5m", 300), ("1h30m", 5400), ("24h", 86400)])
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "raw",
    [
        {"resyncInterval": "5s"},
        {"resyncInterval": "25h"},
        {"resyncInterval": "5"},
        {"enforcement": "Block"},
        {"additionalSettings": [{"type": "tmod:@turbot/aws-ecr#/policy/types/ecrEnabled"}]},
        {
            "additionalSettings": [
                {
                    "type": "tmod:@turbot/aws-ecr#/policy/types/ecrEnabled",
                    "value": "Enabled",
                    "valueSource": "x",
                }
            ]
        },
        {"additionalSettings": [{"type": SEED_APPROVED_TYPE, "value": "Skip"}]},
    ],
)
def test_invalid(raw: dict[str, object]) -> None:
    with pytest.raises(pydantic.ValidationError):
        parse_spec(raw)


def test_status_parse_is_tolerant() -> None:
    status = parse_status(
        {
            "observedGeneration": 2,
            "policyPack": {"id": "300", "akas": ["a"]},
            "attachments": [{"resource": "arn:aws:::1", "resourceId": "400"}],
            "settings": [{"type": "t", "id": "1", "value": "v"}],
        }
    )
    assert status.applied_targets == ("arn:aws:::1",)
    assert status.applied_setting_types == frozenset({"t"})
    assert status.to_patch()["policyPack"] == {"id": "300", "akas": ["a"]}
    broken = parse_status({"policyPack": "nonsense", "conditions": [{"type": "Ready", "status": "True"}]})
    assert broken.policy_pack is None
    assert broken.conditions[0].type == "Ready"
    assert parse_status(None).observed_generation is None
