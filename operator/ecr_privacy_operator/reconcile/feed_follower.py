"""Follow the activity feed of every workspace in use: one poll per pooled client every few seconds.

Each tick asks ``scopes()`` which clients are in use and what their feeds cover (``feed.FeedScope``), starts a
poll for each client that is due and not already polling, and forgets the clients no longer in use. A poll
reads every view since the client's watermark (overlapped), routes the new activities (``feed.route``), asks
``recheck`` for passes, and refreshes compliance counts itself: ONE control-summary read for all the
objects the poll concerns, then ``compliance(uid, counts)`` per object (cheaper than a pass per object when
many objects share a target, and no settings or packs are read).

A feed that cannot be read falls back, once per change of state, through ``availability``: Forbidden and
not-supported at once; other errors after ``FAILURES_BEFORE_FALLBACK`` polls in a row. A feed in fallback is
tried again every ``retry`` seconds. Nothing here fails a policy. Kopf and Kubernetes stay in the handlers;
everything reaches them through the injected callables.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from ecr_privacy_operator.crd.conditions import Reason
from ecr_privacy_operator.guardrails.activities import Activity
from ecr_privacy_operator.guardrails.client import GuardrailsClient
from ecr_privacy_operator.guardrails.errors import ForbiddenError, GuardrailsError, NotSupportedError
from ecr_privacy_operator.reconcile.apply import Change
from ecr_privacy_operator.reconcile.feed import EchoLog, FeedScope, Watermark, parse_timestamp, route
from ecr_privacy_operator.reconcile.observe import observe_compliance
from ecr_privacy_operator.reconcile.observed import ComplianceCounts

FAILURES_BEFORE_FALLBACK = 3
OVERLAP_SECONDS = 30.0  # the window re-read on each poll: activities recorded late are still found


@dataclass(frozen=True)
class FeedState:
    """Whether a client's feed is followed; ``reason``/``message`` say why not (or that it is)."""

    available: bool
    reason: str
    message: str


class FeedMetrics(Protocol):
    """What the follower reports (``metrics.Metrics`` implements it; the reconcile layer does not import it)."""

    def feed_polled(self, outcome: str) -> None: ...
    def feed_handled(self, handling: str, count: int) -> None: ...
    def feed_acted(self, lag_seconds: float) -> None: ...
    def feed_fell_back(self, reason: str) -> None: ...
    def feeds_lost(self, count: int) -> None: ...


Client = GuardrailsClient  # for the runtime, which does not import the client module
Scopes = Callable[[], Awaitable[Mapping[GuardrailsClient, FeedScope]]]
Recheck = Callable[[set[str]], None]
Refresh = Callable[[str, dict[str, ComplianceCounts]], Awaitable[None]]
Busy = Callable[[str], bool]
Announce = Callable[[GuardrailsClient, FeedState, FeedState | None], Awaitable[None]]  # (new, previous)


@dataclass
class _Feed:
    """One client's feed: watermark, own writes, failures, state, and when to poll next."""

    watermark: Watermark
    echoes: EchoLog = field(default_factory=EchoLog)
    failures: int = 0
    state: FeedState | None = None
    due: float = 0.0
    task: asyncio.Task[None] | None = None
    deferred: list[Activity] = field(default_factory=list)  # about objects that were in a pass


def _unavailable(exc: GuardrailsError) -> FeedState:
    if isinstance(exc, ForbiddenError):
        reason = Reason.FEED_FORBIDDEN
        message = "the workspace's key may not read the activity feed (notifications)"
    elif isinstance(exc, NotSupportedError):
        reason = Reason.FEED_NOT_SUPPORTED
        message = "the workspace does not offer the activity feed (notifications)"
    else:
        reason = Reason.FEED_UNAVAILABLE
        message = f"the activity feed could not be read {FAILURES_BEFORE_FALLBACK} times in a row ({exc})"
    return FeedState(False, reason, f"{message}: falling back to periodic resyncs")


FOLLOWING = FeedState(True, Reason.FEED_FOLLOWED, "following the activity feed")


@dataclass
class FeedFollower:
    """The feeds of all clients in use; ``run`` polls them until cancelled."""

    interval: float
    retry: float
    scopes: Scopes
    recheck: Recheck
    compliance: Refresh
    announce: Announce
    busy: Busy
    metrics: FeedMetrics
    clock: Callable[[], float] = time.monotonic
    _feeds: dict[GuardrailsClient, _Feed] = field(default_factory=dict)
    _in_use: set[GuardrailsClient] = field(default_factory=set)

    # -- what the runtime tells the feeds ------------------------------------------------------------------
    def record(self, client: GuardrailsClient, changes: Iterable[Change]) -> None:
        """The writes a pass made through ``client``: their echoes in the feed cause nothing."""
        self._feed(client).echoes.record(changes)

    def followed(self, client: GuardrailsClient) -> bool:
        """False while the client's feed is in fallback (its objects resync more often)."""
        feed = self._feeds.get(client)
        return feed is None or feed.state is None or feed.state.available

    def _feed(self, client: GuardrailsClient) -> _Feed:
        feed = self._feeds.get(client)
        if feed is None:
            feed = self._feeds[client] = _Feed(Watermark(OVERLAP_SECONDS))
        return feed

    # -- the loop ------------------------------------------------------------------------------------------
    async def run(self) -> None:
        try:
            while True:
                await self.tick()
                await asyncio.sleep(self.interval)
        finally:
            tasks = [f.task for f in self._feeds.values() if f.task is not None]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def tick(self) -> None:
        """Start the polls that are due (one per client at a time). A client no longer in use keeps its
        watermark and own writes (pooled clients live as long as the process) but is not polled."""
        scopes = await self.scopes()
        self._in_use = set(scopes)
        self.metrics.feeds_lost(self.unavailable())
        now = self.clock()
        for client, scope in scopes.items():
            feed = self._feed(client)
            if not scope or now < feed.due or (feed.task is not None and not feed.task.done()):
                continue
            feed.due = now + self.interval  # polls start every interval, however long each takes
            feed.task = asyncio.create_task(self.poll(client, feed, scope), name="feed poll")

    async def poll(self, client: GuardrailsClient, feed: _Feed, scope: FeedScope) -> None:
        """One read of the client's feed and what it asks for."""
        since = feed.watermark.since(datetime.now(UTC))
        try:
            activities = await client.read_activities(scope.queries(), since=since)
        except GuardrailsError as exc:
            await self._failed(client, feed, exc)
            return
        feed.failures = 0
        self.metrics.feed_polled("ok")
        if feed.state != FOLLOWING:
            previous, feed.state = feed.state, FOLLOWING
            self.metrics.feeds_lost(self.unavailable())
            await self.announce(client, FOLLOWING, previous)
        fresh = feed.watermark.fresh(activities)
        routing = route([*feed.deferred, *fresh], scope, feed.echoes, self.busy)
        feed.deferred = routing.deferred
        for handling, count in routing.handled.items():
            self.metrics.feed_handled(handling, count)
        if routing.passes:
            self.recheck(routing.passes)
        if routing.compliance:
            await self._refresh(client, scope, routing.compliance)
        newest = parse_timestamp(routing.newest) if routing.newest else None
        if newest is not None:
            self.metrics.feed_acted(max(0.0, (datetime.now(UTC) - newest).total_seconds()))

    async def _refresh(self, client: GuardrailsClient, scope: FeedScope, uids: set[str]) -> None:
        """One control-summary read for all ``uids``' targets, then each object's counts."""
        try:
            counts = await observe_compliance(client, scope.targets(uids))
        except GuardrailsError:
            self.recheck(uids)  # the passes read it (and report what fails)
            return
        for uid in sorted(uids):
            mine = {t: counts[t] for t in scope.targets_of.get(uid, ()) if t in counts}
            await self.compliance(uid, mine)

    async def _failed(self, client: GuardrailsClient, feed: _Feed, exc: GuardrailsError) -> None:
        final = isinstance(exc, ForbiddenError | NotSupportedError)
        outcome = "forbidden" if isinstance(exc, ForbiddenError) else "error"
        self.metrics.feed_polled("not_supported" if isinstance(exc, NotSupportedError) else outcome)
        feed.failures += 1
        if not final and feed.failures < FAILURES_BEFORE_FALLBACK:
            return
        feed.due = self.clock() + self.retry
        state = _unavailable(exc)
        if feed.state is None or feed.state.available or feed.state.reason != state.reason:
            previous, feed.state = feed.state, state
            self.metrics.feed_fell_back(state.reason)
            self.metrics.feeds_lost(self.unavailable())
            await self.announce(client, state, previous)

    def unavailable(self) -> int:
        """Feeds in fallback now (for the gauge)."""
        states = [self._feeds[c].state for c in self._in_use if c in self._feeds]
        return sum(1 for state in states if state is not None and not state.available)


__all__ = ["FOLLOWING", "Client", "FeedFollower", "FeedMetrics", "FeedState"]
