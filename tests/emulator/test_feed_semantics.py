"""The emulator's feed as real Guardrails' reference describes it (contract §4.11), over real HTTP: newest first
unless ``sort:`` says otherwise, AKA values that match by "contains" (ids exactly), a key without metadata
permission answered with no items and no error, and activities listed late with their original timestamp."""

from __future__ import annotations

import pytest

from tests.emulator.gql import APPROVED, create_pack, set_policy
from tests.emulator.test_activity_feed import feed
from tests.fixtures.emulator import ADMIN_KEY, EmulatorProcess

pytestmark = pytest.mark.contract


def ids(emulator: EmulatorProcess, *filters: str) -> list[str]:
    return [i["turbot"]["id"] for i in feed(emulator, *filters)["items"]]


def test_default_order_is_newest_first_and_sort_overrides_it(emulator: EmulatorProcess) -> None:
    pack = create_pack(emulator, ["feed:order"])
    set_policy(emulator, pack, APPROVED, "Skip")
    newest_first = ids(emulator, f"resource:{pack} level:self")
    assert len(newest_first) == 2
    assert [int(i) for i in newest_first] == sorted((int(i) for i in newest_first), reverse=True)
    assert ids(emulator, f"resource:{pack} level:self sort:createTimestamp") == newest_first[::-1]
    assert ids(emulator, f"resource:{pack} level:self sort:-createTimestamp") == newest_first


def test_an_aka_matches_by_contains_and_an_id_exactly(emulator: EmulatorProcess) -> None:
    first = create_pack(emulator, ["feed:contains:one"])
    second = create_pack(emulator, ["feed:contains:two"])
    found = {
        i["turbot"]["resourceId"] for i in feed(emulator, "resource:'feed:contains' level:self")["items"]
    }
    assert found == {first, second}
    assert {i["turbot"]["resourceId"] for i in feed(emulator, f"resource:{first} level:self")["items"]} == {
        first
    }
    assert feed(emulator, f"resource:{first[:-1]} level:self")["items"] == []


def test_a_key_without_metadata_permission_gets_no_items_and_no_error(emulator: EmulatorProcess) -> None:
    pack = create_pack(emulator, ["feed:filtered"])
    emulator.set_permissions(filtered={ADMIN_KEY[0]: ["notifications"]})
    assert feed(emulator, f"resource:{pack} level:self")["items"] == []
    emulator.set_permissions()
    assert len(feed(emulator, f"resource:{pack} level:self")["items"]) == 1


def test_an_activity_listed_late_keeps_its_timestamp(emulator: EmulatorProcess) -> None:
    emulator.set_faults(feedLateMs=60_000, feedLateTypes=["policy_setting_created"])
    pack = create_pack(emulator, ["feed:late"])
    set_policy(emulator, pack, APPROVED, "Skip")
    assert [i["notificationType"] for i in feed(emulator, f"resource:{pack} level:self")["items"]] == [
        "resource_created"
    ]
    emulator.advance_clock("61s")
    items = feed(emulator, f"resource:{pack} level:self")["items"]
    assert [i["notificationType"] for i in items] == ["policy_setting_created", "resource_created"]
    assert items[0]["turbot"]["createTimestamp"] >= items[1]["turbot"]["createTimestamp"]
