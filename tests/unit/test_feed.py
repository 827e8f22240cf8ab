"""The activity feed's mapping (reconcile/feed.py): activities to objects, echoes, the overlapped window."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from ecr_privacy_operator.guardrails.activities import Activity
from ecr_privacy_operator.guardrails.models import ResourceInfo
from ecr_privacy_operator.reconcile.apply import Change
from ecr_privacy_operator.reconcile.feed import EchoLog, FeedScope, Subject, Watermark, guardrails_ids, route

pytestmark = pytest.mark.unit

SCOPE = FeedScope.of(
    [
        Subject("uid-a", "101", ("900",)),
        Subject("uid-b", "102", ("900", "901")),
        Subject("uid-c", None, ("902",)),
    ]
)


def activity(n: int, kind: str, **fields: Any) -> Activity:
    return Activity(id=str(n), type=kind, timestamp=f"2026-12-03T06:00:{n:02d}.000Z", **fields)


def test_setting_and_pack_activities_ask_for_a_pass_of_their_pack_only() -> None:
    routing = route(
        [
            activity(1, "policy_setting_updated", resource_id="101", setting_id="7", setting_version_id="v1"),
            activity(2, "resource_updated", resource_id="102", resource_version_id="v2"),
            activity(3, "policy_setting_deleted", resource_id="555", setting_id="8"),  # not ours
        ],
        SCOPE,
        EchoLog(),
    )
    assert routing.passes == {"uid-a", "uid-b"}
    assert routing.compliance == set()
    assert routing.handled == {"pass": 2, "unmatched": 1}
    assert routing.newest == "2026-12-03T06:00:02.000Z"


def test_own_writes_are_echoes_by_version_id_and_deleted_id() -> None:
    echoes = EchoLog()
    echoes.record(
        [
            Change("SettingUpdated", "updated", "7", "v-own"),
            Change("PackUpdated", "renamed", "101", "v-pack"),
            Change("SettingDeleted", "deleted", "8"),
            Change("Attached", "attached", "101"),  # no version: nothing to match
        ]
    )
    own = [
        activity(1, "policy_setting_updated", resource_id="101", setting_id="7", setting_version_id="v-own"),
        activity(2, "resource_updated", resource_id="101", resource_version_id="v-pack"),
        activity(3, "policy_setting_deleted", resource_id="102", setting_id="8"),
    ]
    routing = route(own, SCOPE, echoes)
    assert routing.passes == set()
    assert routing.handled == {"echo": 3}
    # the same setting written later by someone else is no echo
    console = activity(
        4, "policy_setting_updated", resource_id="101", setting_id="7", setting_version_id="v-9"
    )
    assert route([console], SCOPE, echoes).passes == {"uid-a"}


def test_control_changes_refresh_compliance_of_the_objects_on_the_resource_path() -> None:
    repo = ResourceInfo(id="5000", akas=[], path="1>900>5000")
    other = ResourceInfo(id="6000", akas=[], path="1>777>6000")
    routing = route(
        [
            activity(1, "control_updated", resource_id="5000", resource=repo, control_state="alarm"),
            activity(2, "control_deleted", resource_id="6000", old_resource=other),
            activity(3, "control_created", resource_id="902"),  # on the target itself, no path read
        ],
        SCOPE,
        EchoLog(),
    )
    assert routing.compliance == {"uid-a", "uid-b", "uid-c"}
    assert routing.passes == set()
    assert routing.handled == {"compliance": 2, "unmatched": 1}
    assert SCOPE.targets(["uid-b", "uid-a"]) == ("900", "901")


def test_a_pass_covers_the_compliance_refresh() -> None:
    repo = ResourceInfo(id="5000", akas=[], path="1>900>5000")
    routing = route(
        [
            activity(1, "control_updated", resource_id="5000", resource=repo),
            activity(2, "resource_updated", resource_id="101", resource_version_id="x"),
        ],
        SCOPE,
        EchoLog(),
    )
    assert routing.passes == {"uid-a"}
    assert routing.compliance == {"uid-b"}


def test_activities_about_an_object_in_a_pass_wait_for_it() -> None:
    edit = activity(1, "policy_setting_updated", resource_id="101", setting_id="7", setting_version_id="v1")
    routing = route([edit], SCOPE, EchoLog(), busy=lambda uid: uid == "uid-a")
    assert routing.passes == set()
    assert routing.deferred == [edit]
    assert routing.handled == {}


def test_only_guardrails_ids_reach_the_filters() -> None:
    scope = FeedScope.of([Subject("evil", "1' OR '1", ("2','3", "44")), Subject("ok", "12", ())])
    assert sorted(scope.by_pack) == ["12"]
    assert sorted(scope.by_target) == ["44"]
    assert guardrails_ids(["1", "x", "1", None, "", "2"]) == ("1", "2")
    assert [q.filters()[0].split(" ")[1] for q in scope.queries()] == [
        "resource:'12'",
        "resource:'12'",
        "resource:'44'",
    ]
    assert not FeedScope.of([Subject("none", None, ())])


def test_watermark_overlaps_the_window_and_sees_each_activity_once() -> None:
    mark = Watermark(overlap=30)
    now = datetime(2026, 12, 3, 6, 5, 0, tzinfo=UTC)
    assert mark.since(now) == "2026-12-03T06:04:30.000Z"
    first = [activity(1, "resource_updated"), activity(2, "resource_updated")]
    assert mark.fresh(first) == first
    since = mark.since(now)
    assert since == "2026-12-03T05:59:32.000Z"
    again = [*first, activity(3, "resource_updated")]
    assert [a.id for a in mark.fresh(again)] == ["3"]
    assert mark.newest == "2026-12-03T06:00:03.000Z"
    later = activity(59, "resource_updated")  # 06:00:59: the window moves past 1, 2 and 3
    assert mark.fresh([later]) == [later]
    assert mark.fresh([activity(1, "resource_updated")]) != []  # forgotten, so handled again if ever re-read


def test_a_control_whose_resource_failed_concerns_the_targets_of_its_view() -> None:
    routing = route(
        [activity(1, "control_updated", resource_id="5000", control_state="alarm")],  # no path: it failed
        SCOPE,
        EchoLog(),
        under={"1": ("900", "777")},
    )
    assert routing.compliance == {"uid-a", "uid-b"}  # the objects on 900 (777 is nobody's)
