"""spec -> Desired: value mapping, ownership AKA, setting and target order."""

from __future__ import annotations

from typing import Any

import pytest

from ecr_privacy_operator.crd.spec import SEED_APPROVED_TYPE, SEED_USAGE_TYPE, parse_spec
from ecr_privacy_operator.reconcile.desired import desired_from_spec
from ecr_privacy_operator.reconcile.ownership import Owner, Ownership

pytestmark = pytest.mark.unit

UID = "0b6d9c1e-1111-2222-3333-444455556666"
ME = Owner(uid=UID, cluster="cluster-1", namespace="team-a", name="ecr-private")
OWNER = f"ecrprivacy.dev/owner/cluster-1/team-a/ecr-private/{UID}"
ECR_ENABLED = "tmod:@turbot/aws-ecr#/policy/types/ecrEnabled"


@pytest.mark.parametrize(
    ("enforcement", "value"),
    [("Check", "Check: Approved"), ("Enforce", "Enforce: Delete unapproved if new"), ("Skip", "Skip")],
)
def test_enforcement_values(enforcement: str, value: str) -> None:
    d = desired_from_spec(parse_spec({"enforcement": enforcement}), ME)
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
    d = desired_from_spec(parse_spec({"usage": usage}), ME)
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
    d = desired_from_spec(parse_spec(raw), ME)
    assert d.pack.akas == akas
    assert d.pack.ownership_aka == OWNER == ME.aka
    assert OWNER not in d.pack.user_akas


def test_defaults_are_the_seed_pack() -> None:
    d = desired_from_spec(parse_spec({}), ME)
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
        ME,
    )
    assert [s.type for s in d.settings][2:] == [ECR_ENABLED, "tmod:@turbot/aws#/policy/types/x"]
    assert [s.precedence for s in d.settings] == ["RECOMMENDED", "RECOMMENDED", "RECOMMENDED", "REQUIRED"]
    assert d.settings[2].note == "n"
    assert not d.settings[2].via_value_source
    assert d.settings[3].via_value_source
    assert d.settings[3].value is None
    assert d.settings[3].content == "- a\n"
    assert d.targets == ("z", "a")


async def _never_asked(owner: Owner) -> bool:
    raise AssertionError(owner)


def test_uid_required() -> None:
    with pytest.raises(ValueError, match="uid"):
        Ownership("cluster-1", _never_asked).claim("", "team-a", "x")


@pytest.mark.parametrize("cluster_id", ["", "a/b", "-x", "x" * 64, "ns uid"])
def test_cluster_id_must_fit_an_aka(cluster_id: str) -> None:
    with pytest.raises(ValueError, match="cluster id"):
        Ownership(cluster_id, _never_asked)


@pytest.mark.parametrize(
    ("aka", "owner"),
    [
        (OWNER, ME),
        (f"ecrprivacy.dev/owner/{UID}", Owner(uid=UID)),  # the legacy form: the UID only
        ("ecrprivacy.dev/owner/a/b/c", None),
        ("ecrprivacy.dev/owner/", None),
        ("aws_ecr_enforce_private_repositories", None),
    ],
)
def test_ownership_aka_round_trip(aka: str, owner: Owner | None) -> None:
    assert Owner.parse(aka) == owner
    if owner is not None:
        assert owner.aka == aka
        assert owner.legacy == (owner.cluster is None)


def test_an_owner_knows_its_aka_in_every_form() -> None:
    assert ME.names_me(f"ecrprivacy.dev/owner/{UID}")
    assert ME.names_me(f"ecrprivacy.dev/owner/old-cluster-id/team-a/ecr-private/{UID}")
    assert not ME.names_me("ecrprivacy.dev/owner/cluster-1/team-a/ecr-private/other-uid")
    assert not ME.names_me(UID)
