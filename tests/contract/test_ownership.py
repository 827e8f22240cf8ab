"""Pack ownership through the engine against the emulator: a pack with a live owner is never taken, a pack whose
owner in this cluster is gone is taken back with ``adopt``, and a pack made under the legacy ownership AKA is
found by its owner (no second pack) and given the current AKA."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ecr_privacy_operator.crd.spec import parse_spec
from ecr_privacy_operator.crd.status import EcrPrivacyPolicyStatus, PolicyPackStatus
from ecr_privacy_operator.guardrails import GuardrailsClient
from ecr_privacy_operator.reconcile import engine, pass_result
from ecr_privacy_operator.reconcile.ownership import Claim, Ownership
from ecr_privacy_operator.reconcile.targets import TargetLocks
from tests.fixtures.emulator import ACCOUNT_AKA
from tests.fixtures.ownership import claim

from .test_guardrails_client import APPROVED, SEED

pytestmark = pytest.mark.contract

AKA = "ownership:ecr-private"
FIRST, SECOND = "11111111-first", "22222222-second"


async def sync(
    gclient: GuardrailsClient, who: Claim, status: EcrPrivacyPolicyStatus | None = None, **spec: object
) -> pass_result.PassResult:
    body = {"policyPack": {"akas": [AKA]}, "attachments": [{"resource": ACCOUNT_AKA}], **spec}
    return await engine.sync(
        gclient,
        TargetLocks(),
        parse_spec(body),
        who,
        1,
        status or EcrPrivacyPolicyStatus(),
        datetime.now(UTC),
    )


async def test_adopt_never_takes_a_pack_whose_owner_exists(gclient: GuardrailsClient) -> None:
    first = await sync(gclient, claim(FIRST, name="first"))
    assert first.outcome.kind.value == "Succeeded", first.outcome
    assert first.pack_id is not None
    before = await gclient.read_pack(first.pack_id)

    second = await sync(
        gclient,
        claim(SECOND, name="second", live={FIRST, SECOND}),
        policyPack={"akas": [AKA], "adopt": True},
        enforcement="Skip",
    )
    assert second.outcome.reason == "PackConflict"
    assert f"owned by EcrPrivacyPolicy tests/first (UID {FIRST}) in this cluster" in second.outcome.message
    assert second.pack_id is None
    assert await gclient.read_pack(first.pack_id) == before  # its AKAs (ownership) untouched
    settings = {s.type_uri: s.value for s in await gclient.list_settings(first.pack_id)}
    assert settings[APPROVED] == "Check: Approved"  # not rewritten to Skip


async def test_adopt_takes_back_a_pack_whose_owner_in_this_cluster_is_gone(gclient: GuardrailsClient) -> None:
    first = await sync(gclient, claim(FIRST))
    assert first.pack_id is not None
    # the cluster is rebuilt from Git: the same object, a new UID, the old one gone
    again = await sync(gclient, claim(SECOND, live={SECOND}), policyPack={"akas": [AKA], "adopt": True})
    assert again.outcome.kind.value == "Succeeded", again.outcome
    assert again.pack_id == first.pack_id
    pack = await gclient.read_pack(first.pack_id)
    assert pack is not None
    assert set(pack.akas) == {AKA, claim(SECOND).owner.aka}


@pytest.mark.parametrize("user_akas", [[AKA], []])
async def test_a_legacy_pack_is_found_by_its_owner_and_given_the_current_aka(
    gclient: GuardrailsClient, user_akas: list[str]
) -> None:
    me = claim(FIRST)
    legacy = await gclient.create_pack(
        SEED.model_copy(update={"akas": [*user_akas, me.owner.legacy_aka]})
    )  # as an earlier version made it
    upgraded = EcrPrivacyPolicyStatus(policy_pack=PolicyPackStatus(id=legacy.id), applied_generation=1)
    result = await sync(gclient, me, upgraded, policyPack={"akas": user_akas})
    assert result.outcome.kind.value == "Succeeded", result.outcome
    assert result.pack_id == legacy.id  # no second pack
    pack = await gclient.read_pack(legacy.id)
    assert pack is not None
    assert set(pack.akas) == {*user_akas, me.owner.aka}
    assert result.status is not None
    assert result.status.drift == (), result.status.drift


async def test_a_changed_cluster_id_keeps_the_pack(gclient: GuardrailsClient) -> None:
    """ECR_PRIVACY_CLUSTER_ID set on a running cluster: the pack (no user AKA to find it by) carries the
    old cluster's AKA, which the status recorded; the object finds it there and rewrites the AKA."""
    before = Ownership("old-cluster-id", claim(FIRST).owner_exists).claim(FIRST, "tests", "ecr-private")
    first = await sync(gclient, before, policyPack={"akas": []})
    assert first.status is not None
    assert first.status.ownership_aka == before.owner.aka
    after = claim(FIRST)
    result = await sync(gclient, after, first.status, policyPack={"akas": []})
    assert result.outcome.kind.value == "Succeeded", result.outcome
    assert result.pack_id == first.pack_id  # no second pack
    assert first.pack_id is not None
    pack = await gclient.read_pack(first.pack_id)
    assert pack is not None
    assert pack.akas == [after.owner.aka]
