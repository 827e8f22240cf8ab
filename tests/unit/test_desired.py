"""spec -> Desired: value mapping, ownership AKA, setting and target order."""

from __future__ import annotations

from typing import Any

import pytest

from ecr_privacy_operator.crd.spec import SEED_APPROVED_TYPE, SEED_USAGE_TYPE, parse_spec
from ecr_privacy_operator.reconcile.desired import desired_from_spec, ownership_aka

pytestmark = pytest.mark.unit

UID = "0b6d9c1e-1111-2222-3333-444455556666"
OWNER = f"ecrprivacy.dev/owner/{UID}"
ECR_ENABLED = "tmod:@turbot/aws-ecr#/policy/types/ecrEnabled"


@pytest.mark.parametrize(
    ("enforcement", "value"),
    [("Check", "Check: Approved"), ("Enforce", "Enforce: Delete unapproved if new"), ("Skip", "Skip")],
)
def test_enforcement_values(enforcement: str, value: str) -> None:
    d = desired_from_spec(parse_spec({"enforcement": enforcement}), UID)
    assert d.settings[0].type == SEED_APPROVED_TYPE
    assert d.settings[0].value == value


@pytest.mark.parametrize(
    ("usage", "value"),
    [
        ("NotApproved", "Not approved"),
        ("Approved", "Approved"),
        ("ApprovedIfEcrEnabled", "Approved if AWS > ECR > Enabled"),
    ],
)
def test_usage_values(usage: str, value: str) -> None:
    d = desired_from_spec(parse_spec({"usage": usage}), UID)
    assert d.settings[1].type == SEED_USAGE_TYPE
    assert d.settings[1].value == value


@pytest.mark.parametrize(
    ("raw", "akas"),
    [
        ({}, ("aws_ecr_enforce_private_repositories", OWNER)),
        ({"policyPack": {"akas": []}}, (OWNER,)),
        ({"policyPack": {"akas": ["b", "a"]}}, ("b", "a", OWNER)),
    ],
)
def test_pack_akas(raw: dict[str, Any], akas: tuple[str, ...]) -> None:
    d = desired_from_spec(parse_spec(raw), UID)
    assert d.pack.akas == akas
    assert d.pack.ownership_aka == OWNER == ownership_aka(UID)
    assert OWNER not in d.pack.user_akas


def test_defaults_are_the_seed_pack() -> None:
    d = desired_from_spec(parse_spec({}), UID)
    assert d.pack.title == "Enforce AWS ECR Repositories Are Private"
    assert d.pack.description == "Ensures that AWS ECR repositories are not publicly accessible."
    assert d.pack.parent == "tmod:@turbot/turbot#/"
    assert [(s.type, s.value, s.precedence) for s in d.settings] == [
        (SEED_APPROVED_TYPE, "Check: Approved", "REQUIRED"),
        (SEED_USAGE_TYPE, "Not approved", "REQUIRED"),
    ]
    assert d.targets == ()


def test_additional_settings_and_targets_keep_order() -> None:
    d = desired_from_spec(
        parse_spec(
            {
                "precedence": "Recommended",
                "additionalSettings": [
                    {"type": ECR_ENABLED, "value": "Enabled", "note": "n"},
                    {
                        "type": "tmod:@turbot/aws#/policy/types/x",
                        "valueSource": "- a\n",
                        "precedence": "Required",
                    },
                ],
                "attachments": [{"resource": "z"}, {"resource": "a"}],
            }
        ),
        UID,
    )
    assert [s.type for s in d.settings][2:] == [ECR_ENABLED, "tmod:@turbot/aws#/policy/types/x"]
    assert [s.precedence for s in d.settings] == ["RECOMMENDED", "RECOMMENDED", "RECOMMENDED", "REQUIRED"]
    assert d.settings[2].note == "n"
    assert not d.settings[2].via_value_source
    assert d.settings[3].via_value_source
    assert d.settings[3].value is None
    assert d.settings[3].content == "- a\n"
    assert d.targets == ("z", "a")


def test_uid_required() -> None:
    with pytest.raises(ValueError, match="uid"):
        ownership_aka("")
