"""Client operations against a fake GraphQL server (httpx.MockTransport): variables sent, replies parsed."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from ecr_privacy_operator.guardrails import (
    AttachmentNotVerifiedError,
    ConflictError,
    GuardrailsClient,
    NotFoundError,
    PackInput,
    PolicyTypeNotFoundError,
    SettingInput,
    SettingWrite,
    TransientError,
    UnauthorizedError,
    ValidationError,
)

from .conftest import FakeGraphQL, SleepRecorder, gql_error

pytestmark = pytest.mark.unit

PACK_ID = "300000000000001"
OWNER = "ecrprivacy.dev/owner/uid-1"
APPROVED = "tmod:@turbot/aws-ecr#/policy/types/publicRepositoryApproved"
USAGE = "tmod:@turbot/aws-ecr#/policy/types/publicRepositoryApprovedUsage"
CONTROL = "tmod:@turbot/aws-ecr#/control/types/publicRepositoryApproved"
ACCOUNT = "arn:aws:::123456789012"


def variables(fake: FakeGraphQL, index: int = -1) -> Any:
    return fake.bodies[index]["variables"]


def setting_node(sid: str = "400000000000001", **extra: Any) -> dict[str, Any]:
    node = {
        "turbot": {"id": sid, "resourceId": PACK_ID, "policyTypeId": "2"},
        "type": {"uri": APPROVED},
        "value": "Check: Approved",
        "valueSource": "Check: Approved\n",
        "precedence": "REQUIRED",
    }
    return {**node, **extra}


TARGET_ID = "191000000000001"


def attached(*ids: str) -> dict[str, Any]:
    items = [{"turbot": {"id": i, "akas": None}} for i in ids]
    resource = {
        "turbot": {"id": TARGET_ID},
        "attachedSmartFolders": {"paging": {"next": None}, "items": items},
    }
    return {"data": {"resource": resource}}


async def test_validate_credentials(client: GuardrailsClient, fake: FakeGraphQL) -> None:
    fake.add("ValidateCredentials", {"data": {"schema": {"queryType": {"name": "Query"}}}})
    await client.validate_credentials()


@pytest.mark.parametrize(
    "reply",
    [
        httpx.Response(401, json={"errors": [{"message": "Unauthorized"}]}),
        gql_error("Forbidden: Insufficient permissions"),
        httpx.Response(200, json={"data": {"schema": {"queryType": {"name": "Other"}}}}),
        httpx.Response(404, text="no such path"),
    ],
)
async def test_validate_credentials_failures_are_unauthorized(
    client: GuardrailsClient, fake: FakeGraphQL, reply: httpx.Response
) -> None:
    fake.add("ValidateCredentials", reply)
    with pytest.raises(UnauthorizedError, match="authorisation failed"):
        await client.validate_credentials()


async def test_validate_credentials_keeps_transient(client: GuardrailsClient, fake: FakeGraphQL) -> None:
    fake.add("ValidateCredentials", httpx.Response(503, text="down"))
    with pytest.raises(TransientError):
        await client.validate_credentials()


async def test_health(client: GuardrailsClient, fake: FakeGraphQL) -> None:
    fake.add("Health", httpx.Response(200, json={"status": "ok"}))
    assert await client.health() is True
    assert str(fake.requests[0].url) == "http://guardrails.test/api/latest/turbot/health"
    assert "Authorization" not in fake.requests[0].headers


async def test_create_pack_sends_only_set_fields(client: GuardrailsClient, fake: FakeGraphQL) -> None:
    fake.add("CreateSmartFolder", {"data": {"smartFolder": {"turbot": {"id": PACK_ID, "akas": [OWNER]}}}})
    pack = await client.create_pack(PackInput(title="T", akas=[OWNER]))
    assert variables(fake) == {"input": {"title": "T", "akas": [OWNER], "parent": "tmod:@turbot/turbot#/"}}
    assert (pack.id, pack.akas) == (PACK_ID, [OWNER])


async def test_read_pack(client: GuardrailsClient, fake: FakeGraphQL) -> None:
    node = {
        "type": {"uri": "tmod:@turbot/turbot#/resource/types/smartFolder"},
        "title": "T",
        "description": "D",
        "filters": None,
        "turbot": {"id": PACK_ID, "parentId": "1", "akas": [OWNER], "title": "T", "tags": {"a": "b"}},
    }
    fake.add("ReadSmartFolder", {"data": {"smartFolder": node}}, {"data": {"smartFolder": None}})
    pack = await client.read_pack(OWNER)
    assert pack is not None
    assert (pack.title, pack.description, pack.parent_id, pack.tags) == ("T", "D", "1", {"a": "b"})
    assert await client.read_pack(OWNER) is None


async def test_read_pack_rejects_other_resources(client: GuardrailsClient, fake: FakeGraphQL) -> None:
    node = {"type": {"uri": "tmod:@turbot/aws#/resource/types/account"}, "turbot": {"id": "5"}}
    fake.add("ReadSmartFolder", {"data": {"smartFolder": node}})
    with pytest.raises(ValidationError, match="not a policy pack"):
        await client.read_pack("5")


async def test_update_pack(client: GuardrailsClient, fake: FakeGraphQL) -> None:
    fake.add("UpdateSmartFolder", {"data": {"smartFolder": {"turbot": {"id": PACK_ID, "akas": []}}}})
    await client.update_pack(PACK_ID, title="New", description=None, akas=[OWNER])
    assert variables(fake) == {"input": {"id": PACK_ID, "title": "New", "akas": [OWNER]}}
    with pytest.raises(TypeError):
        await client.update_pack(PACK_ID, parent="x")


async def test_delete_pack(client: GuardrailsClient, fake: FakeGraphQL) -> None:
    fake.add(
        "DeleteSmartFolder",
        {"data": {"smartFolder": {"turbot": {"id": PACK_ID}}}},
        gql_error("Not Found: Resource not found or not accessible"),
        gql_error("Conflict: Policy pack is attached to 1 resource(s); detach it before deleting"),
    )
    assert await client.delete_pack(PACK_ID) is True
    assert variables(fake) == {"id": PACK_ID}
    assert await client.delete_pack(PACK_ID) is False
    with pytest.raises(ConflictError) as info:
        await client.delete_pack(PACK_ID)
    assert info.value.operation == "DeleteSmartFolder"


async def test_find_pack(client: GuardrailsClient, fake: FakeGraphQL) -> None:
    fake.add(
        "ReadPolicyPackIdentity",
        {"data": {"policyPack": {"turbot": {"id": PACK_ID, "akas": [OWNER]}}}},
        gql_error("Not Found: Policy pack not found or not accessible"),
    )
    found = await client.find_pack(OWNER)
    assert found is not None
    assert found.matches(OWNER)
    assert found.matches(PACK_ID)
    assert await client.find_pack(OWNER) is None


async def test_attach_and_verify_polls(
    client: GuardrailsClient, fake: FakeGraphQL, sleeps: SleepRecorder
) -> None:
    fake.add("AttachSmartFolders", {"data": {"attachSmartFolders": {"turbot": {"id": PACK_ID}}}})
    fake.add("ReadAttachedPolicyPacks", attached("9"), attached("9", PACK_ID))
    result = await client.attach_and_verify(ACCOUNT, [PACK_ID])
    assert [p.id for p in result.packs] == ["9", PACK_ID]
    assert result.id == TARGET_ID
    assert fake.bodies[0]["variables"] == {"input": {"resource": ACCOUNT, "smartFolders": [PACK_ID]}}
    assert sleeps.delays == [0.25]


async def test_attach_not_verified(
    client: GuardrailsClient, fake: FakeGraphQL, sleeps: SleepRecorder
) -> None:
    fake.add("AttachSmartFolders", {"data": {"attachSmartFolders": None}})
    fake.add("ReadAttachedPolicyPacks", attached())
    with pytest.raises(AttachmentNotVerifiedError):
        await client.attach_and_verify(ACCOUNT, [PACK_ID])
    assert sleeps.delays == [0.25, 0.5, 1.0, 2.0]


async def test_detach_and_verify_target_gone(client: GuardrailsClient, fake: FakeGraphQL) -> None:
    fake.add("DetachSmartFolders", {"data": {"detachSmartFolders": None}})
    fake.add("ReadAttachedPolicyPacks", {"data": {"resource": None}})
    assert await client.detach_and_verify(ACCOUNT, [PACK_ID]) == []
    assert await client.list_attached_packs(ACCOUNT) is None


async def test_attach_needs_numeric_ids(client: GuardrailsClient) -> None:
    with pytest.raises(ValueError, match="numeric"):
        await client.attach_packs(ACCOUNT, [OWNER])


async def test_policy_types(client: GuardrailsClient, fake: FakeGraphQL) -> None:
    item = {"uri": APPROVED, "modUri": "tmod:@turbot/aws-ecr", "turbot": {"id": "2", "akas": [APPROVED]}}
    fake.add("FindPolicyTypes", {"data": {"policyTypes": {"items": [item], "paging": {"next": None}}}})
    found = await client.get_policy_types([APPROVED, USAGE])
    assert list(found) == [APPROVED]
    assert variables(fake)["filter"] == [f"policyTypeId:'{APPROVED}','{USAGE}' level:self limit:5000"]
    with pytest.raises(PolicyTypeNotFoundError) as info:
        await client.require_policy_types([APPROVED, USAGE])
    assert info.value.missing == (USAGE,)


async def test_create_setting_falls_back_to_value_source(client: GuardrailsClient, fake: FakeGraphQL) -> None:
    fake.add(
        "CreatePolicySetting",
        gql_error('Bad Request: Data validation failed: "true" is not boolean'),
        {"data": {"policySetting": setting_node(value=True, valueSource="true")}},
    )
    setting = await client.create_setting(PACK_ID, APPROVED, SettingInput(value="true", note="n"))
    assert setting.value_source_used is True
    first, second = variables(fake, 0)["input"], variables(fake, 1)["input"]
    assert first == {
        "resource": PACK_ID,
        "type": APPROVED,
        "value": "true",
        "precedence": "REQUIRED",
        "note": "n",
    }
    assert second == {**{k: v for k, v in first.items() if k != "value"}, "valueSource": "true"}


async def test_no_fallback_for_other_validation_errors(client: GuardrailsClient, fake: FakeGraphQL) -> None:
    fake.add("UpdatePolicySetting", gql_error("Bad Request: both value and valueSource"))
    with pytest.raises(ValidationError):
        await client.update_setting("4", SettingInput(value="x"))
    assert len(fake.requests) == 1


async def test_read_find_list_delete_setting(client: GuardrailsClient, fake: FakeGraphQL) -> None:
    fake.add("ReadPolicySetting", gql_error("Not Found: Policy setting not found or not accessible"))
    assert await client.read_setting("4") is None
    fake.add(
        "ListPolicySettings",
        {"data": {"policySettings": {"items": [setting_node("1")], "paging": {"next": "tok"}}}},
        {
            "data": {
                "policySettings": {
                    "items": [setting_node("2", precedence="should")],
                    "paging": {"next": None},
                }
            }
        },
    )
    settings = await client.list_settings(OWNER)
    assert [(s.id, s.precedence) for s in settings] == [("1", "REQUIRED"), ("2", "RECOMMENDED")]
    assert variables(fake, -2) == {"filter": [f"resource:'{OWNER}' level:self limit:5000"], "paging": None}
    assert variables(fake, -1)["paging"] == "tok"
    fake.add("DeletePolicySetting", gql_error("Not Found: Policy setting not found or not accessible"))
    assert await client.delete_setting("4") is False


async def test_policy_value(client: GuardrailsClient, fake: FakeGraphQL) -> None:
    node = {
        "value": "Check: Approved",
        "precedence": "must",
        "state": "ok",
        "default": False,
        "setting": {"valueSource": "x", "turbot": {"id": "4", "resourceId": PACK_ID}},
        "turbot": {"id": "7", "resourceId": "5"},
    }
    fake.add(
        "ReadPolicyValue", {"data": {"policyValue": node}}, gql_error("Not Found: Policy value not found")
    )
    value = await client.read_policy_value(APPROVED, "5")
    assert value is not None
    assert (value.precedence, value.setting_resource_id, value.value) == (
        "REQUIRED",
        PACK_ID,
        "Check: Approved",
    )
    assert await client.read_policy_value(APPROVED, "5") is None


async def test_control_summaries(client: GuardrailsClient, fake: FakeGraphQL) -> None:
    item = {
        "resource": {"turbot": {"id": "5", "akas": [ACCOUNT], "title": "acct"}},
        "summary": {"control": {"total": 3, "ok": 1, "alarm": 2, "error": 0}},
    }
    fake.add("ControlSummariesByResource", {"data": {"controlSummariesByResource": {"items": [item]}}})
    [summary] = await client.control_summaries(CONTROL, [ACCOUNT])
    assert (summary.counts.total, summary.counts.alarm, summary.resource.id) == (3, 2, "5")
    assert variables(fake)["filter"] == [
        f"controlTypeId:'{CONTROL}' controlTypeLevel:self resource:'{ACCOUNT}'"
    ]
    assert await client.control_summaries(CONTROL, []) == []


def observe_reply(next_page: str | None = None) -> dict[str, Any]:
    pack = {
        "type": {"uri": "tmod:@turbot/turbot#/resource/types/smartFolder"},
        "title": "T",
        "description": "D",
        "filters": None,
        "turbot": {"id": PACK_ID, "parentId": "1", "akas": [OWNER], "title": "T"},
        "policySettings": {"items": [setting_node("41")], "paging": {"next": next_page}},
        "attachedResources": {"items": [{"turbot": {"id": "5", "akas": [ACCOUNT]}}]},
    }
    target = {
        "turbot": {"id": "5", "akas": [ACCOUNT]},
        "attachedSmartFolders": {"items": [{"turbot": {"id": PACK_ID, "akas": [OWNER]}}]},
    }
    summary = {"resource": {"turbot": {"id": "5"}}, "summary": {"control": {"total": 2, "alarm": 2}}}
    policy_type = {"uri": APPROVED, "turbot": {"id": "2"}}
    return {
        "data": {
            "pack": pack,
            "targets": {"items": [target]},
            "policyTypes": {"items": [policy_type]},
            "summaries": {"items": [summary, summary]},
        }
    }


async def test_observe_one_round_trip(client: GuardrailsClient, fake: FakeGraphQL) -> None:
    fake.add("ObservePolicy", observe_reply())
    result = await client.observe(
        OWNER, targets=[ACCOUNT, "missing"], policy_type_uris=[APPROVED, USAGE], control_type_uri=CONTROL
    )
    assert fake.operations() == ["ObservePolicy"]
    sent = variables(fake)
    assert sent["packAka"] == OWNER
    assert sent["packSettingsFilter"] == [f"resource:'{OWNER}' level:self limit:5000"]
    assert sent["hasTargets"]
    assert sent["hasPolicyTypes"]
    assert sent["hasSummary"]
    assert sent["targetsFilter"] == [f"resource:'{ACCOUNT}','missing' level:self limit:5000"]
    assert result.pack is not None
    assert result.pack.id == PACK_ID
    assert [s.id for s in result.pack.settings] == ["41"]
    assert result.pack.attached_to[0].matches(ACCOUNT)
    target = result.target(ACCOUNT)
    assert target is not None
    assert target.attached_pack_ids[0] == PACK_ID
    assert result.target("missing") is None
    assert list(result.policy_types) == [APPROVED]
    assert result.compliance().alarm == 4


async def test_observe_without_targets_or_pack(client: GuardrailsClient, fake: FakeGraphQL) -> None:
    fake.add("ObservePolicy", {"data": {"pack": None}})
    result = await client.observe(OWNER)
    sent = variables(fake)
    assert (sent["hasTargets"], sent["hasPolicyTypes"], sent["hasSummary"]) == (False, False, False)
    assert sent["targetsFilter"] is None
    assert sent["summaryFilter"] is None
    assert result.pack is None
    assert result.targets == []
    assert result.summaries == []


async def test_observe_follows_settings_paging(client: GuardrailsClient, fake: FakeGraphQL) -> None:
    fake.add("ObservePolicy", observe_reply(next_page="p2"))
    fake.add(
        "ListPolicySettings", {"data": {"policySettings": {"items": [setting_node("42")], "paging": {}}}}
    )
    result = await client.observe(OWNER, targets=[ACCOUNT])
    assert result.pack is not None
    assert [s.id for s in result.pack.settings] == ["41", "42"]
    assert variables(fake)["paging"] == "p2"


async def test_write_settings_batch(client: GuardrailsClient, fake: FakeGraphQL) -> None:
    first = {
        "data": {"s0": setting_node("1"), "s1": None, "s2": None, "s3": None},
        "errors": [
            {"message": "Bad Request: Data validation failed: x", "path": ["s1"]},
            {"message": "Not Found: Policy setting not found", "path": ["s2"]},
            {"message": "Conflict. A matching item already exists.", "path": ["s3"]},
        ],
    }
    second = {"data": {"s0": setting_node("2", valueSource="42")}}
    fake.add("WritePolicySettings", first, second)
    writes = [
        SettingWrite(
            action="create", resource=PACK_ID, type_uri=APPROVED, setting=SettingInput(value="Skip")
        ),
        SettingWrite(action="update", setting_id="2", setting=SettingInput(value="42")),
        SettingWrite(action="delete", setting_id="3"),
        SettingWrite(
            action="create", resource=PACK_ID, type_uri=USAGE, setting=SettingInput(value="Approved")
        ),
    ]
    results = await client.write_settings(writes)
    assert [r.ok for r in results] == [True, True, True, False]
    assert results[1].setting is not None
    assert results[1].setting.value_source_used
    assert results[2].gone
    assert isinstance(results[3].error, ConflictError)
    assert "s0: createPolicySetting(input: $s0)" in fake.bodies[0]["query"]
    assert variables(fake, 0)["s2"] == {"id": "3"}
    assert variables(fake, 1) == {"s0": {"id": "2", "valueSource": "42", "precedence": "REQUIRED"}}


async def test_write_settings_global_error_raises(client: GuardrailsClient, fake: FakeGraphQL) -> None:
    fake.add("WritePolicySettings", httpx.Response(502, text="bad gateway"))
    with pytest.raises(TransientError):
        await client.write_settings([SettingWrite(action="delete", setting_id="3")])
    assert len(fake.requests) == 1
    assert isinstance(NotFoundError("x"), Exception)
