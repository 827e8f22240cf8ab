"""Contract tests: the client's activity feed reads (``notifications``, contract §4.11) against the emulator over
HTTP — the views the operator follows, the watermark, paging, echo recognition and the errors it falls back on."""

from __future__ import annotations

from typing import Any

import pytest

from ecr_privacy_operator.guardrails import (
    ActivityQuery,
    ForbiddenError,
    GuardrailsClient,
    NotSupportedError,
    SettingInput,
    policy_feed,
)
from tests.emulator.gql import UPDATE_SETTING
from tests.fixtures.emulator import ACCOUNT_AKA, ADMIN_KEY, EmulatorProcess

from .test_guardrails_client import APPROVED, CONTROL, SEED, USAGE, make_pack

pytestmark = pytest.mark.contract

RENAME = """mutation Rename($input: UpdateSmartFolderInput!) { updateSmartFolder(input: $input) { turbot { id } } }"""


def requests(emulator: EmulatorProcess) -> dict[str, int]:
    counts: dict[str, int] = emulator.requests()["byOperation"]
    emulator.requests(clear=True)
    return counts


async def test_policy_feed_since_a_watermark_in_one_request(
    gclient: GuardrailsClient, emulator: EmulatorProcess
) -> None:
    pack = await make_pack(gclient)
    other = await gclient.create_pack(SEED.model_copy(update={"akas": ["someone-elses-pack"]}))
    await gclient.attach_packs(ACCOUNT_AKA, [pack])  # 3 controls appear (alarm)
    watermark = emulator.advance_clock("1m")
    usage = next(s for s in await gclient.list_settings(pack) if s.type_uri == USAGE)
    emulator.console(
        UPDATE_SETTING, {"input": {"id": usage.id, "value": "Approved"}}
    )  # console edit: alarm -> ok
    emulator.console(RENAME, {"input": {"id": pack, "title": "Renamed in the console"}})
    await gclient.create_setting(other.id, APPROVED, SettingInput(value="Skip"))  # not our pack
    requests(emulator)
    found = await gclient.read_activities(policy_feed([pack], [ACCOUNT_AKA]), since=watermark)
    assert requests(emulator) == {"ReadActivityFeeds": 1}
    assert [a.type for a in found] == ["policy_setting_updated", *["control_updated"] * 3, "resource_updated"]
    setting = found[0]
    assert (setting.resource_id, setting.setting_id) == (pack, usage.id)
    assert setting.old_setting_version_id == usage.version_id  # what our last write returned
    assert setting.setting is None  # nested settings are not read: they fail once deleted (§4.11)
    controls = found[1:4]
    assert {(c.control_type_uri, c.old_control_state, c.control_state) for c in controls} == {
        (CONTROL, "alarm", "ok")
    }
    renamed = found[4]
    assert renamed.resource is not None
    assert renamed.resource.path is not None
    assert renamed.resource.path.endswith(f".{pack}")
    assert renamed.timestamp >= watermark
    assert await gclient.read_activities(policy_feed([], [])) == []
    assert requests(emulator) == {}


async def test_own_writes_carry_the_version_ids_the_feed_names(gclient: GuardrailsClient) -> None:
    pack = await gclient.create_pack(SEED)
    setting = await gclient.create_setting(pack.id, APPROVED, SettingInput(value="Check: Approved"))
    updated = await gclient.update_setting(setting.id, SettingInput(value="Skip"))
    await gclient.delete_setting(setting.id)
    await gclient.delete_pack(pack.id)
    found = await gclient.read_activities(policy_feed([pack.id]))
    assert [(a.type, a.setting_version_id, a.old_setting_version_id) for a in found] == [
        ("policy_setting_created", setting.version_id, None),
        ("policy_setting_updated", updated.version_id, setting.version_id),
        ("policy_setting_deleted", None, updated.version_id),
        ("resource_deleted", None, None),
    ]
    (created,) = await gclient.read_activities(
        [ActivityQuery(types=("resourceCreated",), resources=(pack.id,))]
    )
    deleted = found[-1]
    assert (created.type, created.resource_version_id) == ("resource_created", pack.version_id)
    assert deleted.resource is None
    assert deleted.old_resource is not None
    assert deleted.old_resource.id == pack.id  # a deleted pack is still named by the feed


async def test_pages_are_followed_and_activities_come_once(
    gclient: GuardrailsClient, emulator: EmulatorProcess
) -> None:
    pack = await make_pack(gclient)
    for value in ("Skip", "Check: Approved", "Skip"):
        usage = next(s for s in await gclient.list_settings(pack) if s.type_uri == APPROVED)
        await gclient.update_setting(usage.id, SettingInput(value=value))
    settings = ActivityQuery(types=("policySetting",), resources=(pack,))
    overlapping = ActivityQuery(types=("policySettingUpdated",), resources=(pack,))
    requests(emulator)
    found = await gclient.read_activities([settings, overlapping], limit=2)
    # 5 setting activities: 3 pages for the first view, 2 for the second; the first pages in one request
    assert requests(emulator) == {"ReadActivityFeeds": 1, "ReadActivities": 3}
    assert [a.type for a in found] == ["policy_setting_created"] * 2 + ["policy_setting_updated"] * 3
    assert len({a.id for a in found}) == 5
    first = await gclient.read_activity_page(settings, limit=2)
    assert [a.type for a in first.activities] == ["policy_setting_updated"] * 2  # newest first
    assert first.next is not None
    second = await gclient.read_activity_page(settings, limit=2, paging=first.next)
    assert {a.id for a in second.activities}.isdisjoint(a.id for a in first.activities)


async def test_a_forbidden_or_missing_feed_is_a_distinct_error(
    gclient: GuardrailsClient, emulator: EmulatorProcess, calls: dict[str, list[Any]]
) -> None:
    pack = await make_pack(gclient)
    feed = policy_feed([pack], [ACCOUNT_AKA])
    emulator.set_permissions(forbidden={ADMIN_KEY[0]: ["notifications"]})
    with pytest.raises(ForbiddenError) as forbidden:
        await gclient.read_activities(feed)
    assert forbidden.value.operation == "ReadActivityFeeds"
    assert await gclient.read_pack(pack) is not None  # the rest of the API still answers
    emulator.set_permissions(unsupported=["notifications"])
    with pytest.raises(NotSupportedError) as unsupported:
        await gclient.read_activity_page(feed[0])
    assert unsupported.value.status == 400
    assert not isinstance(unsupported.value, ForbiddenError)
    emulator.set_permissions()
    emulator.set_faults(nextN=1, statuses=[503], operations=["ReadActivityFeeds"])
    assert len(await gclient.read_activities(feed)) == 2  # a transient failure is retried like any read
    assert calls["retries"] == ["ReadActivityFeeds"]
