"""The activity feed's filter strings and time format (contract §4.11), as sent to Guardrails."""

from __future__ import annotations

import datetime as dt

import pytest

from ecr_privacy_operator.guardrails import ActivityQuery, feed_timestamp, policy_feed
from ecr_privacy_operator.guardrails.activities import MAX_FILTER_IDS

pytestmark = pytest.mark.unit

CONTROL = "tmod:@turbot/aws-ecr#/control/types/publicRepositoryApproved"


def test_policy_feed_filters() -> None:
    since = dt.datetime(2026, 12, 3, 6, 0, 0, 123456, tzinfo=dt.UTC)
    assert [q.filters(since) for q in policy_feed(["101", "102"], ["arn:aws:::1"])] == [
        ["notificationType:policySetting resource:'101','102' level:self "
         "createTimestamp:>='2026-12-03T06:00:00.123Z' sort:-createTimestamp limit:5000"],
        ["notificationType:resourceUpdated,resourceDeleted resource:'101','102' level:self "
         "createTimestamp:>='2026-12-03T06:00:00.123Z' sort:-createTimestamp limit:5000"],
        [f"notificationType:control resource:'arn:aws:::1' level:self,descendant controlTypeId:'{CONTROL}' "
         "controlTypeLevel:self createTimestamp:>='2026-12-03T06:00:00.123Z' sort:-createTimestamp limit:5000"],
    ]  # fmt: skip
    assert [q.types for q in policy_feed([], ["t"])] == [("control",)]
    assert policy_feed([], []) == []


def test_no_view_names_more_than_the_bound() -> None:
    packs = [str(1000 + i) for i in range(1000)]
    views = policy_feed(packs, packs[:120])
    assert all(len(v.resources) <= MAX_FILTER_IDS for v in views)
    assert len(views) == 2 * 20 + 3  # 20 chunks of packs (two views each), 3 of targets
    assert {p for v in views[:40] for p in v.resources} == set(packs)


def test_query_without_resources_or_time() -> None:
    query = ActivityQuery(types=("policySettingUpdated",), policy_types=("tmod:x#/policy/types/y",))
    assert query.filters(limit=10) == [
        "notificationType:policySettingUpdated policyTypeId:'tmod:x#/policy/types/y' policyTypeLevel:self "
        "sort:-createTimestamp limit:10"
    ]
    with pytest.raises(ValueError, match="cannot be used"):
        ActivityQuery(types=("control",), resources=("it's",)).filters()


def test_feed_timestamp() -> None:
    offset = dt.timezone(dt.timedelta(hours=2))
    assert (
        feed_timestamp(dt.datetime(2026, 12, 3, 8, 0, 1, 5000, tzinfo=offset)) == "2026-12-03T06:00:01.005Z"
    )
    assert feed_timestamp("2026-12-03T06:00:00.000Z") == "2026-12-03T06:00:00.000Z"
    with pytest.raises(ValueError, match="timezone"):
        feed_timestamp(dt.datetime(2026, 12, 3))
