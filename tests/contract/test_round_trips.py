"""Round trips: the client operations that fold several reads or writes into one request, and what a whole
reconcile pass costs, counted server side by the emulator (``GET /__emulator/requests``).

Budgets (docs/benchmarks.md): a first sync with one attachment costs 3 requests (pack + settings; attach;
verify + compliance: it writes before it reads), an idle resync 1 and writes nothing, a one-field change 3
(observe; settings; compliance). When Guardrails refuses a first sync's blind write, the pass observes and
plans as any other, and says what is wrong as precisely."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ecr_privacy_operator.crd.spec import parse_spec
from ecr_privacy_operator.crd.status import EcrPrivacyPolicyStatus, PolicyPackStatus
from ecr_privacy_operator.guardrails import GuardrailsClient, PackInput, SettingInput, SettingWrite
from ecr_privacy_operator.reconcile import engine, pass_result
from ecr_privacy_operator.reconcile.targets import TargetLocks
from tests.fixtures.emulator import ACCOUNT_AKA, EmulatorProcess
from tests.fixtures.ownership import claim

from .test_guardrails_client import APPROVED, CONTROL, OWNER, SEED, USAGE

pytestmark = pytest.mark.contract

UID = "5e1f0c2a-round-trips"
CLAIM = claim(UID)
OWNER_OF_UID = CLAIM.owner.aka


def requests(emulator: EmulatorProcess) -> dict[str, int]:
    """Requests by operation since the last call (then zeroed)."""
    counts: dict[str, int] = emulator.requests()["byOperation"]
    emulator.requests(clear=True)
    return counts


def first_sync_requests(objects: int) -> dict[str, int]:
    """What the first syncs of ``objects`` objects attached to one target cost, their attaches together."""
    return {"CreatePolicyPack": objects, "AttachSmartFolders": 1, "ReadAttachmentsAndCompliance": 1}


async def test_observe_lists_the_holders_of_claimed_akas(
    gclient: GuardrailsClient, emulator: EmulatorProcess
) -> None:
    holder = await gclient.create_pack(SEED.model_copy(update={"akas": ["team-a:ecr-private"]}))
    requests(emulator)
    result = await gclient.observe(OWNER, claimed_akas=["team-a:ecr-private", "nobody-has-this", ACCOUNT_AKA])
    assert requests(emulator) == {"ObservePolicy": 1}
    assert result.pack is None
    found = result.claimed_pack("team-a:ecr-private")
    assert found is not None
    assert found.id == holder.id
    assert result.claimed_pack("nobody-has-this") is None
    assert result.claimed_pack(ACCOUNT_AKA) is None  # an account holds it, not a pack
    assert (await gclient.observe(OWNER)).claimed == []  # nothing asked, nothing listed


async def test_create_pack_with_settings_is_one_request(
    gclient: GuardrailsClient, emulator: EmulatorProcess
) -> None:
    requests(emulator)
    writes = [
        SettingWrite(action="create", resource=OWNER, type_uri=APPROVED, setting=SettingInput(value="Skip")),
        SettingWrite(
            action="create", resource=OWNER, type_uri=USAGE, setting=SettingInput(value="Not approved")
        ),
    ]
    pack, results = await gclient.create_pack_with_settings(SEED, writes)
    assert requests(emulator) == {"CreatePolicyPack": 1}
    assert pack.matches(OWNER)
    assert [r.ok for r in results] == [True, True]
    on_pack = {s.type_uri: s.value for s in await gclient.list_settings(pack.id)}
    assert on_pack == {APPROVED: "Skip", USAGE: "Not approved"}


async def test_create_pack_with_settings_reports_a_bad_setting_per_write(gclient: GuardrailsClient) -> None:
    writes = [
        SettingWrite(action="create", resource=OWNER, type_uri=APPROVED, setting=SettingInput(value="Nope")),
    ]
    pack, results = await gclient.create_pack_with_settings(SEED, writes)
    assert pack.matches(OWNER)
    assert results[0].error is not None


async def test_create_pack_with_settings_raises_for_the_pack(gclient: GuardrailsClient) -> None:
    await gclient.create_pack(SEED)
    with pytest.raises(Exception, match=r"(?i)aka|exist|conflict"):
        await gclient.create_pack_with_settings(SEED, [])


async def test_attach_verify_and_summarise(gclient: GuardrailsClient, emulator: EmulatorProcess) -> None:
    pack = await gclient.create_pack(SEED)
    requests(emulator)
    attached, summaries = await gclient.attach_verify_and_summarise(
        ACCOUNT_AKA, [pack.id], CONTROL, [ACCOUNT_AKA]
    )
    assert requests(emulator) == {"AttachSmartFolders": 1, "ReadAttachmentsAndCompliance": 1}
    assert [p.id for p in attached.packs] == [pack.id]
    assert attached.id.isdigit()
    assert len(summaries) == 1
    assert summaries[0].resource.matches(ACCOUNT_AKA)
    assert summaries[0].counts.total == 0  # a pack without settings: no Approved controls evaluated


async def test_a_reconcile_pass_costs_what_the_budget_says(
    gclient: GuardrailsClient, emulator: EmulatorProcess
) -> None:
    body = {
        "policyPack": {"akas": ["round-trips:ecr-private"]},
        "attachments": [{"resource": ACCOUNT_AKA}],
    }
    locks = TargetLocks()

    async def sync(
        spec: dict[str, object], status: EcrPrivacyPolicyStatus, generation: int
    ) -> pass_result.PassResult:
        return await engine.sync(
            gclient, locks, parse_spec(spec), CLAIM, generation, status, datetime.now(UTC)
        )

    requests(emulator)
    first = await sync(body, EcrPrivacyPolicyStatus(), 1)
    assert first.outcome.kind.value == "Succeeded", first.outcome
    assert first.status is not None
    assert first.status.compliance is not None
    assert first.status.compliance.total == 3
    # a first sync writes before it reads: three round trips
    assert requests(emulator) == first_sync_requests(objects=1)
    account = await gclient.read_resource(ACCOUNT_AKA)
    assert account is not None
    assert [(a.resource, a.resource_id) for a in first.status.attachments] == [(ACCOUNT_AKA, account.id)]
    requests(emulator)

    idle = await sync(body, first.status, 1)
    assert idle.status is None  # nothing to write to Kubernetes
    assert idle.events == []
    assert requests(emulator) == {"ObservePolicy": 1}

    changed = await sync({**body, "enforcement": "Enforce"}, first.status, 2)
    assert changed.status is not None
    assert requests(emulator) == {
        "ObservePolicy": 1,
        "WritePolicySettings": 1,
        "ControlSummariesByResource": 1,
    }


async def test_adopting_a_pack_found_by_user_aka_reads_it_once_more(
    gclient: GuardrailsClient, emulator: EmulatorProcess
) -> None:
    existing = await gclient.create_pack(PackInput(title="Hand made", akas=["round-trips:adopt"]))
    spec = parse_spec({"policyPack": {"akas": ["round-trips:adopt"], "adopt": True}})
    requests(emulator)
    result = await engine.sync(
        gclient, TargetLocks(), spec, CLAIM, 1, EcrPrivacyPolicyStatus(), datetime.now(UTC)
    )
    assert result.pack_id == existing.id
    counts = requests(emulator)
    assert counts["CreatePolicyPack"] == 1  # the first sync writes first: refused, the AKA is taken
    assert counts["ObservePolicy"] == 2  # ours (absent, with the claimed AKAs), then the holder in full
    assert "ReadPolicyPackIdentity" not in counts


async def sync_new(gclient: GuardrailsClient, body: dict[str, object]) -> pass_result.PassResult:
    """A first pass of a new object (empty status)."""
    spec = parse_spec(body)
    return await engine.sync(
        gclient, TargetLocks(), spec, CLAIM, 1, EcrPrivacyPolicyStatus(), datetime.now(UTC)
    )


async def test_first_sync_to_a_missing_target_names_it_and_leaves_nothing(
    gclient: GuardrailsClient, emulator: EmulatorProcess
) -> None:
    missing = "arn:aws:::999999999999"
    requests(emulator)
    result = await sync_new(gclient, {"attachments": [{"resource": ACCOUNT_AKA}, {"resource": missing}]})
    assert result.outcome.reason == "TargetNotFound"
    assert result.outcome.retryable
    assert result.outcome.message == f"attachment target {missing} not found in Guardrails"
    # the blind write (pack, settings, the attach to the account) is undone: as if it had observed first
    assert await gclient.find_pack(OWNER_OF_UID) is None
    assert await gclient.list_attached_packs(ACCOUNT_AKA) == []
    assert result.status is not None
    assert result.status.policy_pack is None
    assert result.status.attachments == ()
    assert all(e.type == "Warning" for e in result.events)  # no PackCreated for an undone write
    counts = requests(emulator)
    assert counts["CreatePolicyPack"] == 1
    assert counts["ObservePolicy"] == 1  # refused: observed once, then planned
    assert counts["DeleteSmartFolder"] == 1
    # the retry observes first (the status names the problem): no second blind write
    again = await engine.sync(
        gclient,
        TargetLocks(),
        parse_spec({"attachments": [{"resource": missing}]}),
        CLAIM,
        1,
        result.status,
        datetime.now(UTC),
    )
    assert again.outcome.reason == "TargetNotFound"
    assert requests(emulator) == {"ObservePolicy": 1}


async def test_first_sync_with_an_unknown_policy_type_stalls_and_says_so(gclient: GuardrailsClient) -> None:
    unknown = "tmod:@turbot/aws-nothing#/policy/types/notInstalled"
    result = await sync_new(
        gclient,
        {"additionalSettings": [{"type": unknown, "value": "x"}], "attachments": [{"resource": ACCOUNT_AKA}]},
    )
    assert result.outcome.reason == "PolicyTypeNotFound"
    assert not result.outcome.retryable
    assert unknown in result.outcome.message
    assert await gclient.find_pack(OWNER_OF_UID) is None  # the blind write is undone
    assert await gclient.list_attached_packs(ACCOUNT_AKA) == []


@pytest.mark.parametrize("first", [True, False], ids=["first-sync", "recreate"])
async def test_a_rejected_value_undoes_the_pack_the_same_pass_created(
    gclient: GuardrailsClient, first: bool
) -> None:
    body = {
        "additionalSettings": [{"type": "tmod:@turbot/aws-ecr#/policy/types/ecrEnabled", "value": "Nope"}],
        "attachments": [{"resource": ACCOUNT_AKA}],
    }
    # first-sync: a blind first write; recreate: the status knows a pack (deleted in the console since)
    status = (
        EcrPrivacyPolicyStatus()
        if first
        else EcrPrivacyPolicyStatus(policy_pack=PolicyPackStatus(id="100000000000999"), applied_generation=1)
    )
    result = await engine.sync(gclient, TargetLocks(), parse_spec(body), CLAIM, 2, status, datetime.now(UTC))
    assert result.outcome.reason == "InvalidValue"
    assert not result.outcome.retryable
    assert await gclient.find_pack(OWNER_OF_UID) is None  # no half-made pack left behind
    assert await gclient.list_attached_packs(ACCOUNT_AKA) == []
    assert result.status is not None
    assert result.status.policy_pack is None
    assert "PackCreated" not in {e.reason for e in result.events}


async def test_first_sync_takes_over_its_own_pack_from_a_pass_whose_status_was_lost(
    gclient: GuardrailsClient,
) -> None:
    earlier = await gclient.create_pack(
        PackInput(title="Enforce AWS ECR Repositories Are Private", akas=[OWNER_OF_UID])
    )
    result = await sync_new(gclient, {"attachments": [{"resource": ACCOUNT_AKA}]})
    assert result.outcome.kind.value == "Succeeded", result.outcome
    assert result.pack_id == earlier.id
    assert {s.type_uri for s in await gclient.list_settings(earlier.id)} == {APPROVED, USAGE}
    attached = await gclient.list_attached_packs(ACCOUNT_AKA)
    assert attached is not None
    assert [p.id for p in attached] == [earlier.id]
