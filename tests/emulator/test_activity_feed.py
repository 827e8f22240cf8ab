"""The activity feed (contract §4.11): what each write records, the ``notifications`` filters, order and
paging, and the switches that make the feed Forbidden or unknown — over real HTTP."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.emulator.gql import (
    ACCOUNT,
    APPROVED,
    CONTROL,
    DELETE_PACK,
    DELETE_SETTING,
    DETACH,
    REGION,
    UPDATE_SETTING,
    USAGE,
    attach,
    create_pack,
    errors,
    repo,
    seed_pack,
    set_policy,
)
from tests.fixtures.emulator import ADMIN_KEY, EmulatorProcess

pytestmark = pytest.mark.contract

FEED = """query Feed($filter: [String!], $paging: String) { notifications(filter: $filter, paging: $paging) {
  items { notificationType
    actor { identity { turbot { id title } } }
    turbot { id createTimestamp resourceId policySettingId controlId resourceNewVersionId resourceOldVersionId
             policySettingNewVersionId policySettingOldVersionId controlNewVersionId controlOldVersionId }
    resource { turbot { id akas title } } oldResource { turbot { id akas title } }
    policySetting { type { uri } value } oldPolicySetting { type { uri } value }
    control { state type { uri } } oldControl { state } }
  paging { next } } }"""
UPDATE_PACK = """mutation UpdateSmartFolder($input: UpdateSmartFolderInput!) {
  smartFolder: updateSmartFolder(input: $input) { turbot { id versionId } } }"""
CONSOLE_ID = "900000000000000"
ADMIN_ID = "900000000000001"  # the first key the emulator was started with


def feed(emu: EmulatorProcess, *filters: str, paging: str | None = None) -> dict[str, Any]:
    result: dict[str, Any] = emu.data(FEED, {"filter": list(filters), "paging": paging})["notifications"]
    return result


def kinds(emu: EmulatorProcess, *filters: str) -> list[str]:
    """Activity types matching ``filters``, oldest first."""
    return [i["notificationType"] for i in reversed(feed(emu, *filters, "limit:5000")["items"])]


def test_every_write_and_control_change_is_an_activity_with_its_versions(emulator: EmulatorProcess) -> None:
    pack = seed_pack(emulator)  # pack + 2 settings, by the admin key
    attach(emulator, ACCOUNT, pack)  # no activity of its own; the 3 repositories' controls appear (alarm)
    approved = next(s for s in emulator.state()["settings"] if s["type_uri"] == APPROVED)
    usage = next(s for s in emulator.state()["settings"] if s["type_uri"] == USAGE)
    emulator.console(UPDATE_SETTING, {"input": {"id": usage["id"], "value": "Approved"}})  # alarm -> ok
    emulator.data(UPDATE_PACK, {"input": {"id": pack, "title": "Renamed"}})
    emulator.data(DELETE_SETTING, {"input": {"id": approved["id"]}})  # the controls go
    emulator.add_resource(REGION, "late")  # discovery
    emulator.delete_resource(repo("web"))
    emulator.data(DETACH, {"input": {"resource": ACCOUNT, "smartFolders": [pack]}})
    emulator.data(DELETE_PACK, {"id": pack})  # takes its last setting with it
    assert kinds(emulator) == [
        "resource_created",
        "policy_setting_created",
        "policy_setting_created",
        *["control_created"] * 3,
        "policy_setting_updated",
        *["control_updated"] * 3,
        "resource_updated",
        "policy_setting_deleted",
        *["control_deleted"] * 3,
        "resource_created",
        "resource_deleted",
        "policy_setting_deleted",
        "resource_deleted",
    ]
    items = list(reversed(feed(emulator, "limit:5000")["items"]))
    by_actor = {
        i["notificationType"]: (i["actor"]["identity"] or {}).get("turbot", {}).get("id") for i in items
    }
    assert by_actor["policy_setting_updated"] == CONSOLE_ID
    assert by_actor["resource_updated"] == ADMIN_ID
    assert by_actor["control_updated"] is None  # Guardrails itself
    updated = items[6]
    assert updated["turbot"]["resourceId"] == pack
    assert updated["turbot"]["policySettingId"] == usage["id"]
    assert (updated["oldPolicySetting"]["value"], updated["policySetting"]["value"]) == (
        "Not approved",
        "Approved",
    )
    assert updated["turbot"]["policySettingOldVersionId"] == usage["version_id"]
    assert updated["turbot"]["policySettingNewVersionId"] != usage["version_id"]
    control = items[7]
    assert (control["oldControl"]["state"], control["control"]["state"]) == ("alarm", "ok")
    assert control["control"]["type"]["uri"] == CONTROL
    renamed = items[10]
    assert (renamed["oldResource"]["turbot"]["title"], renamed["resource"]["turbot"]["title"]) == (
        "Pack",
        "Renamed",
    )
    pack_gone = items[-1]
    assert pack_gone["resource"] is None
    assert pack_gone["oldResource"]["turbot"]["id"] == pack
    assert pack_gone["turbot"]["resourceId"] == pack
    setting_gone = items[-2]
    assert setting_gone["policySetting"] is None
    assert setting_gone["oldPolicySetting"]["type"]["uri"] == USAGE


def test_filters_by_type_resource_policy_and_control_type_time_and_actor(emulator: EmulatorProcess) -> None:
    pack = seed_pack(emulator)
    other = seed_pack_other(emulator)
    attach(emulator, ACCOUNT, pack)
    since = emulator.advance_clock("5m")
    setting = next(
        s for s in emulator.state()["settings"] if s["type_uri"] == APPROVED and s["resource_id"] == pack
    )
    emulator.console(UPDATE_SETTING, {"input": {"id": setting["id"], "value": "Skip"}})  # alarm -> skipped
    emulator.data(DELETE_PACK, {"id": other})
    assert kinds(emulator, "notificationType:policySetting", f"resource:{pack} level:self") == [
        "policy_setting_created",
        "policy_setting_created",
        "policy_setting_updated",
    ]
    assert kinds(emulator, "notificationType:resourceUpdated,resource_deleted") == ["resource_deleted"]
    deleted_pack = kinds(emulator, f"resource:{other} level:self notificationType:resource")
    assert deleted_pack == ["resource_created", "resource_deleted"]  # a deleted resource can still be named
    controls = (
        f"notificationType:control controlTypeId:'{CONTROL}' controlTypeLevel:self resource:'{ACCOUNT}'"
    )
    assert kinds(emulator, controls) == ["control_created"] * 3 + ["control_updated"] * 3
    assert kinds(emulator, controls + " level:self") == []  # the controls sit on repositories below it
    assert kinds(emulator, f"policyTypeId:'{USAGE}' policyTypeLevel:self") == ["policy_setting_created"]
    assert len(kinds(emulator, f"policyTypeId:'{APPROVED}'")) == 5  # its sub-policies too, by default
    assert kinds(emulator, f"createTimestamp:>='{since}'") == [
        "policy_setting_updated",
        *["control_updated"] * 3,
        "policy_setting_deleted",
        "resource_deleted",
    ]
    assert kinds(emulator, f"createTimestamp:<'{since}' notificationType:policySettingUpdated") == []
    assert kinds(emulator, "timestamp:>T-1m notificationType:policySetting") == [
        "policy_setting_updated",
        "policy_setting_deleted",
    ]
    assert kinds(emulator, f"actorIdentityId:{CONSOLE_ID}") == ["policy_setting_updated"]
    assert len(kinds(emulator, f"!actorIdentityId:{CONSOLE_ID} notificationType:policySetting")) == 4
    for bad in ("notificationType:bogus", "type:policySetting", "createTimestamp:>=yesterday", "title:x"):
        assert errors(emulator.graphql(FEED, {"filter": [bad]})) == [
            f'Bad Request: Unsupported filter "{bad}"'
        ]


def seed_pack_other(emu: EmulatorProcess) -> str:
    other = create_pack(emu, ["other-pack"], "Other")
    set_policy(emu, other, APPROVED, "Check: Approved")
    return other


def test_newest_first_and_paging_to_the_end(emulator: EmulatorProcess) -> None:
    pack = seed_pack(emulator)
    attach(emulator, ACCOUNT, pack)  # 6 activities in all
    everything = feed(emulator, "limit:5000")["items"]
    ids = [int(i["turbot"]["id"]) for i in everything]
    assert ids == sorted(ids, reverse=True)
    assert len(ids) == 6
    pages, token = [], None
    while True:
        page = feed(emulator, "limit:4", paging=token)
        pages.append([int(i["turbot"]["id"]) for i in page["items"]])
        token = page["paging"]["next"]
        if token is None:
            break
    assert pages == [ids[:4], ids[4:]]
    oldest_first = feed(emulator, "sort:createTimestamp,id limit:5000")["items"]
    assert [int(i["turbot"]["id"]) for i in oldest_first] == sorted(ids)
    assert len(feed(emulator)["items"]) == 6  # default limit 20


def test_forbidden_and_unsupported_feed_and_faults(emulator: EmulatorProcess) -> None:
    seed_pack(emulator)
    emulator.set_permissions(forbidden={ADMIN_KEY[0]: ["notifications"]})
    denied = emulator.graphql(FEED, {"filter": []})
    assert denied.status_code == 200
    assert errors(denied) == ["Forbidden: Insufficient permissions"]
    assert denied.json()["data"] == {"notifications": None}
    assert emulator.data('{ resource(id: "sandbox") { title } }')  # everything else still works
    emulator.set_permissions(unsupported=["notifications"])
    unknown = emulator.graphql(FEED, {"filter": []})
    assert unknown.status_code == 400
    assert errors(unknown) == ["Cannot query field 'notifications' on type 'Query'."]
    emulator.set_permissions()
    emulator.set_faults(nextN=1, statuses=[503], operations=["notifications"])
    assert emulator.data('{ resource(id: "sandbox") { title } }')  # not targeted
    assert emulator.graphql(FEED, {"filter": []}).status_code == 503
    assert len(feed(emulator)["items"]) == 3
    for bad in ({"forbidden": {"*": ["noSuchField"]}}, {"unsupported": ["createSmartFolder"]}, {"other": 1}):
        assert emulator.http.put("/__emulator/permissions", json=bad).status_code == 400
    emulator.set_permissions(forbidden={"*": ["notifications"]})
    emulator.reset()
    assert feed(emulator)["items"] == []  # a reset clears the switches and the log


def test_scoped_identity_sees_its_subtree_and_the_log_survives_a_restart(
    emulator_factory: Callable[..., EmulatorProcess], tmp_path: Path
) -> None:
    emu = emulator_factory(
        state_file=tmp_path / "state.json", extra_args=["--scoped-key", f"scoped:secret:{ACCOUNT}"]
    )
    pack = seed_pack(emu)
    attach(emu, ACCOUNT, pack)
    seen = emu.data(FEED, {"filter": ["limit:5000"]}, auth=("scoped", "secret"))["notifications"]["items"]
    assert {i["notificationType"] for i in seen} == {"control_created"}  # the pack lies outside its subtree
    before = feed(emu, "limit:5000")["items"]
    emu.restart()
    assert feed(emu, "limit:5000")["items"] == before


def test_a_time_window_still_finds_everything_after_the_clock_went_back(emulator: EmulatorProcess) -> None:
    """Polls since a watermark stop scanning at the window's edge, unless the log is out of time order."""
    start = emulator.advance_clock("0s")
    first = create_pack(emulator, ["before"], "Before")
    emulator.set_clock("2020-01-01T00:00:00.000Z")
    create_pack(emulator, ["backdated"], "Backdated")  # appended last, stamped earliest
    found = feed(emulator, f"createTimestamp:>='{start}'", "notificationType:resource")["items"]
    assert [(i["notificationType"], i["turbot"]["resourceId"]) for i in found] == [
        ("resource_created", first)
    ]
    everything = feed(emulator, "createTimestamp:>='2019-12-31T00:00:00.000Z'", "notificationType:resource")
    assert len(everything["items"]) == 2
