"""Contract tests: the Guardrails client against the real emulator over HTTP, per operation family."""

from __future__ import annotations

from typing import Any

import pytest

from ecr_privacy_operator.guardrails import (
    ConflictError,
    ForbiddenError,
    GuardrailsClient,
    NotFoundError,
    PackInput,
    PolicyTypeNotFoundError,
    SettingInput,
    SettingWrite,
    UnauthorizedError,
    ValidationError,
)
from tests.fixtures.emulator import ACCOUNT_AKA, READ_ONLY_KEY, REGION_AKA, EmulatorProcess

from .conftest import FAST_RETRY, credentials

pytestmark = pytest.mark.contract

OWNER = "ecrprivacy.dev/owner/0b6f9d7e-contract"
APPROVED = "tmod:@turbot/aws-ecr#/policy/types/publicRepositoryApproved"
USAGE = "tmod:@turbot/aws-ecr#/policy/types/publicRepositoryApprovedUsage"
CONTROL = "tmod:@turbot/aws-ecr#/control/types/publicRepositoryApproved"
UNKNOWN_TYPE = "tmod:@turbot/aws-ecr#/policy/types/doesNotExist"
REPO = "arn:aws:ecr-public::123456789012:repository/legacy"
SEED = PackInput(
    title="Enforce AWS ECR Repositories Are Private",
    description="Ensures that AWS ECR repositories are not publicly accessible.",
    akas=[OWNER],
)


async def make_pack(client: GuardrailsClient, check: str = "Check: Approved") -> str:
    pack = await client.create_pack(SEED)
    await client.create_setting(pack.id, APPROVED, SettingInput(value=check))
    await client.create_setting(pack.id, USAGE, SettingInput(value="Not approved"))
    return pack.id


async def test_credentials_and_health(gclient: GuardrailsClient, emulator: EmulatorProcess) -> None:
    await gclient.validate_credentials()
    assert await gclient.health() is True
    async with GuardrailsClient(credentials(emulator, ("wrong", "keys")), retry=FAST_RETRY) as bad:
        with pytest.raises(UnauthorizedError) as info:
            await bad.validate_credentials()
        assert info.value.status == 401
        with pytest.raises(UnauthorizedError):
            await bad.read_resource(ACCOUNT_AKA)


async def test_pack_lifecycle(gclient: GuardrailsClient) -> None:
    created = await gclient.create_pack(SEED)
    assert created.id.isdigit()
    assert created.akas == [OWNER]
    found = await gclient.find_pack(OWNER)
    assert found is not None
    assert found.id == created.id
    pack = await gclient.read_pack(OWNER)
    assert pack is not None
    assert (pack.title, pack.description) == (SEED.title, SEED.description)
    root = await gclient.read_resource("tmod:@turbot/turbot#/")
    assert root is not None
    assert pack.parent_id == root.id
    await gclient.update_pack(created.id, description="changed", tags={"team": "platform"})
    pack = await gclient.read_pack(created.id)
    assert pack is not None
    assert pack.description == "changed"
    assert pack.tags == {"team": "platform"}
    assert await gclient.delete_pack(created.id) is True
    assert await gclient.delete_pack(created.id) is False
    assert await gclient.find_pack(OWNER) is None
    assert await gclient.read_pack(OWNER) is None


async def test_pack_errors(gclient: GuardrailsClient) -> None:
    await gclient.create_pack(SEED)
    with pytest.raises(ConflictError) as conflict:
        await gclient.create_pack(SEED)
    assert conflict.value.operation == "CreateSmartFolder"
    assert conflict.value.errors
    with pytest.raises(NotFoundError):
        await gclient.create_pack(PackInput(title="x", parent="no-such-parent"))
    with pytest.raises(ValidationError, match="not a policy pack"):
        await gclient.read_pack(ACCOUNT_AKA)
    assert await gclient.find_pack(ACCOUNT_AKA) is None


async def test_read_resource(gclient: GuardrailsClient) -> None:
    account = await gclient.read_resource(ACCOUNT_AKA)
    assert account is not None
    assert account.type_uri == "tmod:@turbot/aws#/resource/types/account"
    by_id = await gclient.read_resource(account.id)
    assert by_id == account
    assert await gclient.read_resource("arn:aws:::999999999999") is None


async def test_forbidden_for_read_only_identity(emulator: EmulatorProcess) -> None:
    async with GuardrailsClient(credentials(emulator, READ_ONLY_KEY), retry=FAST_RETRY) as reader:
        assert await reader.read_resource(ACCOUNT_AKA) is not None
        with pytest.raises(ForbiddenError):
            await reader.create_pack(SEED)


async def test_settings(gclient: GuardrailsClient, calls: dict[str, list[Any]]) -> None:
    pack_id = (await gclient.create_pack(SEED)).id
    created = await gclient.create_setting(pack_id, APPROVED, SettingInput(value="Check: Approved", note="n"))
    assert (created.value, created.precedence, created.value_source_used) == (
        "Check: Approved",
        "REQUIRED",
        False,
    )
    assert created.type_uri == APPROVED
    assert created.resource_id == pack_id
    found = await gclient.find_setting(APPROVED, OWNER)
    assert found is not None
    assert found.id == created.id
    assert await gclient.find_setting(USAGE, pack_id) is None
    updated = await gclient.update_setting(
        created.id, SettingInput(value="Enforce: Delete unapproved if new")
    )
    assert updated.value == "Enforce: Delete unapproved if new"
    read = await gclient.read_setting(created.id)
    assert read is not None
    assert read.value == updated.value
    assert read.note == "n"
    via_source = await gclient.create_setting(pack_id, USAGE, SettingInput(value_source="Not approved"))
    assert via_source.value == "Not approved"
    assert via_source.value_source == "Not approved"
    listed = await gclient.list_settings(pack_id)
    assert sorted(s.id for s in listed) == sorted([created.id, via_source.id])
    with pytest.raises(ConflictError):
        await gclient.create_setting(pack_id, APPROVED, SettingInput(value="Skip"))
    calls["requests"].clear()
    with pytest.raises(ValidationError, match=r"(?i)data validation failed"):
        await gclient.update_setting(created.id, SettingInput(value="Bogus"))
    # The string value was retried once as valueSource (contract §2.5), then the rejection surfaced.
    assert calls["requests"] == [("UpdatePolicySetting", "validation")] * 2
    with pytest.raises(NotFoundError):
        await gclient.create_setting(pack_id, UNKNOWN_TYPE, SettingInput(value="x"))
    assert await gclient.delete_setting(created.id) is True
    assert await gclient.delete_setting(created.id) is False
    assert await gclient.read_setting(created.id) is None


async def test_write_settings_batch(gclient: GuardrailsClient, calls: dict[str, list[Any]]) -> None:
    pack_id = (await gclient.create_pack(SEED)).id
    existing = await gclient.create_setting(pack_id, APPROVED, SettingInput(value="Skip"))
    calls["requests"].clear()
    results = await gclient.write_settings(
        [
            SettingWrite(
                action="update", setting_id=existing.id, setting=SettingInput(value="Check: Approved")
            ),
            SettingWrite(
                action="create", resource=pack_id, type_uri=USAGE, setting=SettingInput(value="Approved")
            ),
            SettingWrite(
                action="create", resource=pack_id, type_uri=APPROVED, setting=SettingInput(value="Skip")
            ),
            SettingWrite(action="delete", setting_id="999999999999999"),
        ]
    )
    assert calls["requests"] == [("WritePolicySettings", "ok")]
    assert [r.ok for r in results] == [True, True, False, True]
    assert results[0].setting is not None
    assert results[0].setting.value == "Check: Approved"
    assert isinstance(results[2].error, ConflictError)
    assert results[3].gone
    assert {s.value for s in await gclient.list_settings(pack_id)} == {"Check: Approved", "Approved"}


async def test_attachments(gclient: GuardrailsClient) -> None:
    pack_id = await make_pack(gclient)
    attached = await gclient.attach_and_verify(ACCOUNT_AKA, [pack_id])
    account = await gclient.read_resource(ACCOUNT_AKA)
    assert account is not None
    assert attached.id == account.id  # the read-back names the target by its numeric id
    assert [p.id for p in attached.packs] == [pack_id]
    assert (
        attached.packs[0].akas == []
    )  # ids only: a target may hold thousands of packs, and no caller reads AKAs
    again = await gclient.attach_and_verify(ACCOUNT_AKA, [pack_id])  # idempotent
    assert [p.id for p in again.packs] == [pack_id]
    with pytest.raises(ConflictError, match="attached"):
        await gclient.delete_pack(pack_id)
    with pytest.raises(NotFoundError):
        await gclient.attach_packs("arn:aws:::999999999999", [pack_id])
    with pytest.raises(ValidationError):
        await gclient.attach_packs(ACCOUNT_AKA, ["100000000000001"])  # the root is no pack
    assert await gclient.list_attached_packs("arn:aws:::999999999999") is None
    assert await gclient.detach_and_verify(ACCOUNT_AKA, [pack_id]) == []
    assert await gclient.list_attached_packs(ACCOUNT_AKA) == []
    assert await gclient.delete_pack(pack_id) is True


async def test_policy_types(gclient: GuardrailsClient) -> None:
    found = await gclient.get_policy_types([APPROVED, USAGE, UNKNOWN_TYPE])
    assert set(found) == {APPROVED, USAGE}
    assert found[APPROVED].id.isdigit()
    assert found[APPROVED].mod_uri == "tmod:@turbot/aws-ecr"
    with pytest.raises(PolicyTypeNotFoundError) as info:
        await gclient.require_policy_types([APPROVED, UNKNOWN_TYPE])
    assert info.value.missing == (UNKNOWN_TYPE,)


async def test_policy_value_and_control_summary(gclient: GuardrailsClient) -> None:
    assert await gclient.read_policy_value(APPROVED, REPO) is None  # not materialized yet
    pack_id = await make_pack(gclient)
    await gclient.attach_and_verify(ACCOUNT_AKA, [pack_id])
    value = await gclient.read_policy_value(APPROVED, REPO)
    assert value is not None
    assert (value.value, value.precedence, value.setting_resource_id) == (
        "Check: Approved",
        "REQUIRED",
        pack_id,
    )
    version = await gclient.read_policy_value(
        "tmod:@turbot/turbot#/policy/types/workspaceVersion", "tmod:@turbot/turbot#/"
    )
    assert version is not None
    assert isinstance(version.value, str)
    [summary] = await gclient.control_summaries(CONTROL, [ACCOUNT_AKA])
    assert summary.resource.matches(ACCOUNT_AKA)
    assert summary.counts.alarm == summary.counts.total == 3
    assert await gclient.control_summaries(CONTROL, ["arn:aws:::999999999999"]) == []


async def test_observe(gclient: GuardrailsClient, calls: dict[str, list[Any]]) -> None:
    empty = await gclient.observe(OWNER)
    assert empty.pack is None
    assert empty.targets == []
    assert empty.policy_types == {}
    pack_id = await make_pack(gclient)
    await gclient.attach_and_verify(REGION_AKA, [pack_id])
    account = await gclient.read_resource(ACCOUNT_AKA)
    assert account is not None
    calls["requests"].clear()
    result = await gclient.observe(
        OWNER,
        targets=[REGION_AKA, account.id, "arn:aws:::999999999999"],
        policy_type_uris=[APPROVED, USAGE, UNKNOWN_TYPE],
        control_type_uri=CONTROL,
    )
    assert calls["requests"] == [("ObservePolicy", "ok")]
    pack = result.pack
    assert pack is not None
    assert pack.id == pack_id
    assert pack.title == SEED.title
    assert pack.description == SEED.description
    assert {(s.type_uri, s.value) for s in pack.settings} == {
        (APPROVED, "Check: Approved"),
        (USAGE, "Not approved"),
    }
    assert [r.matches(REGION_AKA) for r in pack.attached_to] == [True]
    region = result.target(REGION_AKA)
    assert region is not None
    assert region.attached_pack_ids == (pack_id,)
    acct = result.target(account.id)
    assert acct is not None
    assert acct.attached_pack_ids == ()
    assert result.target("arn:aws:::999999999999") is None
    assert set(result.policy_types) == {APPROVED, USAGE}
    by_target = {s.resource.id: s.counts for s in result.summaries}
    assert by_target[region.id].alarm == 3
    assert by_target[account.id].alarm == 3
