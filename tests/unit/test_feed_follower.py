"""The feed follower (reconcile/feed_follower.py) with a scripted client: polls on time, passes and one batched
compliance read, a lost feed said once, transient errors tolerated twice, a feed that comes back said once."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, cast

import pytest

from ecr_privacy_operator.guardrails.activities import Activity, ActivityQuery
from ecr_privacy_operator.guardrails.client import GuardrailsClient
from ecr_privacy_operator.guardrails.errors import ForbiddenError, TransientError
from ecr_privacy_operator.guardrails.feed import FeedRead
from ecr_privacy_operator.guardrails.models import ControlCounts, ControlSummary, ResourceInfo, ResourceRef
from ecr_privacy_operator.metrics import Metrics
from ecr_privacy_operator.reconcile.feed import FeedScope, Subject
from ecr_privacy_operator.reconcile.feed_follower import FeedFollower, FeedState
from ecr_privacy_operator.reconcile.observed import ComplianceCounts

pytestmark = pytest.mark.unit

SCOPE = FeedScope.of([Subject("a", "101", ("900",)), Subject("b", "102", ("900",))])


class ScriptedClient:
    """Answers each read_activities call with the next scripted reply (a list, or an error to raise)."""

    endpoint = "https://example.invalid/api/latest/graphql"

    def __init__(self, replies: list[list[Activity] | FeedRead | Exception], sees: bool = True) -> None:
        self.replies = replies
        self.sees = sees  # what a proof view holds
        self.reads: list[str] = []
        self.queries: list[list[ActivityQuery]] = []
        self.proofs: list[ActivityQuery | None] = []
        self.summaries: list[tuple[str, ...]] = []

    async def read_feed(
        self, queries: Sequence[ActivityQuery], *, since: str, proof: ActivityQuery | None = None
    ) -> FeedRead:
        self.reads.append(since)
        self.queries.append(list(queries))
        self.proofs.append(proof)
        reply = self.replies.pop(0) if self.replies else []
        if isinstance(reply, Exception):
            raise reply
        read = reply if isinstance(reply, FeedRead) else FeedRead(activities=reply)
        if proof is not None and read.proof is None and not read.missing:
            read.proof = self.sees
        return read

    async def control_summaries(self, control_type_uri: str, targets: Sequence[str]) -> list[ControlSummary]:
        self.summaries.append(tuple(targets))
        counts = ControlCounts(total=2, alarm=1, ok=1)
        return [ControlSummary(resource=ResourceRef(id=t, akas=[]), counts=counts) for t in targets]


class Recorder:
    def __init__(self) -> None:
        self.passes: list[set[str]] = []
        self.compliance: dict[str, dict[str, ComplianceCounts]] = {}
        self.states: list[tuple[FeedState, FeedState | None]] = []

    def recheck(self, uids: set[str]) -> None:
        self.passes.append(set(uids))

    async def refresh(self, uid: str, counts: dict[str, ComplianceCounts]) -> None:
        self.compliance[uid] = counts

    async def announce(self, client: GuardrailsClient, state: FeedState, previous: FeedState | None) -> None:
        self.states.append((state, previous))


def follower(client: ScriptedClient, recorder: Recorder, clock: list[float]) -> FeedFollower:
    async def scopes() -> dict[GuardrailsClient, FeedScope]:
        return {cast(GuardrailsClient, client): SCOPE}

    return FeedFollower(
        interval=5,
        retry=60,
        scopes=scopes,
        recheck=recorder.recheck,
        compliance=recorder.refresh,
        announce=recorder.announce,
        busy=lambda uid: False,
        metrics=Metrics(),
        clock=lambda: clock[0],
    )


async def ticks(feeds: FeedFollower, clock: list[float], times: Sequence[float]) -> None:
    for moment in times:
        clock[0] = moment
        await feeds.tick()
        await asyncio.sleep(0)  # let the poll task run
        await asyncio.sleep(0)


def edit(n: int, **fields: Any) -> Activity:
    return Activity(
        id=str(n), type="policy_setting_updated", timestamp=f"2026-12-03T06:00:0{n}.000Z", **fields
    )


async def test_polls_route_activities_to_passes_and_one_compliance_read() -> None:
    repo = ResourceInfo(id="5000", akas=[], path="1>900>5000")
    control = Activity(
        id="9",
        type="control_updated",
        timestamp="2026-12-03T06:00:09.000Z",
        resource_id="5000",
        resource=repo,
    )
    client = ScriptedClient([[edit(1, resource_id="101", setting_version_id="x"), control], []])
    recorder, clock = Recorder(), [0.0]
    feeds = follower(client, recorder, clock)
    await ticks(feeds, clock, [0, 2, 5])
    assert len(client.reads) == 2  # at 0 and at 5, not at 2
    assert client.reads[1] == "2026-12-03T05:58:09.000Z"  # the newest activity minus the overlap (2 min)
    assert recorder.passes == [{"a"}]
    assert client.summaries == [("900",)]  # one read for both objects (a's pass reads its own)
    assert set(recorder.compliance) == {"b"}
    assert [(s.available, previous) for s, previous in recorder.states] == [(True, None)]


async def test_a_lost_feed_is_said_once_and_tried_again_after_the_retry_delay() -> None:
    forbidden = ForbiddenError("Forbidden", operation="ReadActivityFeeds")
    client = ScriptedClient([[], forbidden, forbidden, []])
    recorder, clock = Recorder(), [0.0]
    feeds = follower(client, recorder, clock)
    await ticks(feeds, clock, [0, 5, 10, 30, 65, 126])
    assert len(client.reads) == 4  # 0 ok, 5 forbidden, then only at 65 and 126 (retry delay 60 s)
    assert [(s.available, s.reason) for s, _ in recorder.states] == [
        (True, "FeedFollowed"),
        (False, "FeedForbidden"),
        (True, "FeedFollowed"),
    ]
    assert not recorder.states[2][1].available  # type: ignore[union-attr]  # it came back: said so
    assert feeds.followed(cast(GuardrailsClient, client))


async def test_transient_errors_fall_back_only_after_three_in_a_row() -> None:
    outage = TransientError("HTTP 503", operation="ReadActivityFeeds")
    client = ScriptedClient([outage, outage, [], outage, outage, outage])
    recorder, clock = Recorder(), [0.0]
    feeds = follower(client, recorder, clock)
    await ticks(feeds, clock, [0, 5, 10, 15, 20])
    assert [s.available for s, _ in recorder.states] == [True]
    await ticks(feeds, clock, [25])
    assert [(s.available, s.reason) for s, _ in recorder.states] == [
        (True, "FeedFollowed"),
        (False, "FeedUnavailable"),
    ]
    assert not feeds.followed(cast(GuardrailsClient, client))
