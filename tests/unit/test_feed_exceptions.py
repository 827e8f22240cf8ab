"""The activity feed for exceptions (reconcile/feed.py, the index in handlers/indices.py, the join in
runtime/directory.py): their settings' views, bounded and built from digits only, and setting activities on
their repositories routed to the exception that owns them (own writes are echoes)."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import kopf
import pytest

from ecr_privacy_operator.crd.spec import SEED_USAGE_TYPE
from ecr_privacy_operator.guardrails.activities import MAX_FILTER_IDS, Activity
from ecr_privacy_operator.handlers.indices import exception_feed_subjects
from ecr_privacy_operator.reconcile.apply import Change
from ecr_privacy_operator.reconcile.feed import EchoLog, FeedScope, Subject, route
from ecr_privacy_operator.runtime.directory import Directory, PolicyUse

pytestmark = pytest.mark.unit

SCOPE = FeedScope.of(
    [
        Subject("policy", "101", ("900",)),
        Subject("exc-a", None, repositories=("5000", "5001"), settings=("7000", "7001")),
        Subject("exc-b", None, repositories=("6000",), settings=("8000",)),
    ]
)


def activity(n: int, kind: str, **fields: Any) -> Activity:
    return Activity(id=str(n), type=kind, timestamp=f"2026-12-07T06:00:{n:02d}.000Z", **fields)


def setting(n: int, kind: str, repository: str, setting_id: str, version: str | None = "v") -> Activity:
    """A ``policy_setting_<kind>`` activity on ``repository``, making ``version`` (none for a deletion)."""
    fields = {"setting_version_id": version} if kind != "deleted" else {}
    return activity(n, f"policy_setting_{kind}", resource_id=repository, setting_id=setting_id, **fields)


def test_a_setting_written_or_deleted_on_a_repository_checks_the_exception_that_owns_it() -> None:
    routing = route(
        [
            setting(1, "updated", "5000", "7000", "v1"),
            setting(2, "deleted", "6000", "8000"),
        ],
        SCOPE,
        EchoLog(),
    )
    assert routing.exceptions == {"exc-a", "exc-b"}
    assert (routing.passes, routing.compliance) == (set(), set())
    assert routing.handled == {"exception": 2}
    assert routing.newest == "2026-12-07T06:00:02.000Z"


def test_the_setting_id_decides_before_the_repository() -> None:
    # exc-b's setting listed on exc-a's repository id (whatever the cause): the setting's owner is checked
    moved = setting(1, "updated", "5001", "8000")
    assert route([moved], SCOPE, EchoLog()).exceptions == {"exc-b"}
    # a setting created anew on the repository (an unknown id): the exception holding settings there
    fresh = setting(2, "created", "5001", "9999")
    assert route([fresh], SCOPE, EchoLog()).exceptions == {"exc-a"}


def test_an_exceptions_own_writes_are_echoes_and_cause_nothing() -> None:
    echoes = EchoLog()
    echoes.record(
        [Change("SettingCreated", "legacy", "7000", "v-own"), Change("SettingUpdated", "x", "8000", "v2")]
    )
    own = [
        setting(1, "created", "5000", "7000", "v-own"),
        setting(2, "updated", "6000", "8000", "v2"),
    ]
    routing = route(own, SCOPE, echoes)
    assert routing.exceptions == set()
    assert routing.handled == {"echo": 2}
    console = setting(3, "updated", "5000", "7000", "v9")
    assert route([console], SCOPE, echoes).exceptions == {"exc-a"}


def test_an_activity_about_an_exception_in_its_check_waits_for_it() -> None:
    edit = setting(1, "updated", "5000", "7000")
    routing = route([edit], SCOPE, EchoLog(), busy=lambda uid: uid == "exc-a")
    assert (routing.exceptions, routing.deferred, routing.handled) == (set(), [edit], {})


def test_other_activities_on_a_repository_are_not_the_exceptions() -> None:
    routing = route(
        [
            activity(1, "resource_updated", resource_id="5000", resource_version_id="v"),
            setting(2, "updated", "4444", "4445"),
        ],
        SCOPE,
        EchoLog(),
    )
    assert (routing.exceptions, routing.passes) == (set(), set())
    assert routing.handled == {"unmatched": 2}


def test_the_repositories_views_name_digits_only_at_most_fifty_each_and_the_usage_type() -> None:
    many = tuple(str(10_000 + i) for i in range(120))
    scope = FeedScope.of(
        [Subject("exc", None, repositories=(*many, "1' OR '1", "5000"), settings=("x", "7000"))]
    )
    assert "1' OR '1" not in scope.by_repository
    assert sorted(scope.by_setting) == ["7000"]
    views = [q for q in scope.queries() if q.policy_types]
    assert [len(v.resources) for v in views] == [MAX_FILTER_IDS, MAX_FILTER_IDS, 21]
    assert all(v.types == ("policySetting",) and v.policy_types == (SEED_USAGE_TYPE,) for v in views)
    assert all(v.level == "self" for v in views)
    assert scope
    assert "5000" in scope.followed()
    assert next(q for q in scope.queries(without=set(many)) if q.policy_types).resources == ("5000",)


def test_the_index_keeps_digits_from_the_status_and_skips_odd_shapes() -> None:
    def index(spec: dict[str, Any], status: dict[str, Any]) -> dict[Any, Subject]:
        return asyncio.run(
            exception_feed_subjects(
                namespace="ns", uid="u1", spec=cast(kopf.Spec, spec), status=cast(kopf.Status, status)
            )
        )

    rows = [
        {"resourceId": "5000", "settingId": "7000"},
        {"resourceId": "50'00", "settingId": ["7001"]},
        "not a row",
        {"resourceId": "5002"},
    ]
    found = index({"policyRef": {"name": "ecr-private"}}, {"repositories": rows})
    assert found == {
        ("ns", "ecr-private"): Subject("u1", None, repositories=("5000", "5002"), settings=("7000",))
    }
    assert index({"policyRef": {"name": "p"}}, {"repositories": "5000"}) == {}
    assert index({"policyRef": "p"}, {"repositories": rows}) == {}
    assert index({"policyRef": {"name": "p"}}, {}) == {}


def test_the_directory_gives_each_workspace_its_policies_exceptions() -> None:
    key_a, key_b = ("GuardrailsWorkspace", "a", "ws"), ("GuardrailsWorkspace", "b", "ws")
    exc = Subject("exc", None, repositories=("5000",))
    directory = Directory()
    directory.bind(
        {
            "feed_subjects": {key_a: [Subject("pa", "101")]},
            "workspace_users": {
                key_a: [PolicyUse("a", "ecr-private", "pa")],
                key_b: [PolicyUse("b", "other", "pb")],
            },
            "exception_feed_subjects": {
                ("a", "ecr-private"): [exc],
                ("b", "ecr-private"): [Subject("x", None)],
            },
        }
    )
    assert directory.feed_subjects() == {key_a: [Subject("pa", "101"), exc]}
