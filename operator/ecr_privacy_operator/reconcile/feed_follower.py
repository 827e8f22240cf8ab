"""Follow the activity feed of every workspace in use: one poll per pooled client every few seconds.

Each tick asks ``scopes()`` which clients are in use and what their feeds cover (``feed.FeedScope``), starts a
poll for each client that is due and not already polling, and forgets the clients no longer in use. A poll
reads every view since the client's watermark (overlapped by minutes: an activity listed late is still read),
routes the new activities (``feed.route``), asks ``recheck`` for passes (``recheck_exceptions`` for the checks of
exceptions whose settings someone else wrote or deleted), and refreshes compliance counts
itself: ONE control-summary read for all the objects the poll concerns, then ``compliance(uid, counts)`` per
object (cheaper than a pass per object when many objects share a target, and no settings or packs are read).

A reply that carries items and GraphQL errors is kept (its errors and null items counted); ids Guardrails
answers "Not Found" for, and packs whose deletion was read, leave the filters. A feed proves that it sees
(``feed_proof.FeedProof``): only then is it followed; a feed that is read but does not list the operator's own
writes (or a known activity) is blind, and falls back like one that cannot be read.

A feed that cannot be read falls back, once per change of state, through ``availability``: Forbidden and
not-supported at once; other errors after ``FAILURES_BEFORE_FALLBACK`` polls in a row. A feed in fallback is
tried again every ``retry`` seconds. Each client's poll fails alone: whatever it raises is its own feed's
failure, never another's. Nothing here fails a policy. Kopf and Kubernetes stay in the handlers; everything
reaches them through the injected callables.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from ecr_privacy_operator.crd.conditions import Reason
from ecr_privacy_operator.guardrails.activities import Activity, proof_query
from ecr_privacy_operator.guardrails.client import GuardrailsClient
from ecr_privacy_operator.guardrails.errors import ForbiddenError, GuardrailsError, NotSupportedError
from ecr_privacy_operator.guardrails.feed import FeedRead
from ecr_privacy_operator.reconcile.apply import Change
from ecr_privacy_operator.reconcile.feed import EchoLog, FeedScope, Watermark, parse_timestamp, route
from ecr_privacy_operator.reconcile.feed_proof import FeedProof
from ecr_privacy_operator.reconcile.observe import observe_compliance
from ecr_privacy_operator.reconcile.observed import ComplianceCounts

FAILURES_BEFORE_FALLBACK = 3
OVERLAP_SECONDS = 120.0  # the window re-read on each poll: activities listed late are still found
logger = logging.getLogger(__name__)


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
    def feed_items_skipped(self, why: str, count: int) -> None: ...


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
    proof: FeedProof = field(default_factory=FeedProof)
    gone: set[str] = field(default_factory=set)  # ids left out of the filters (deleted, or "Not Found")


def _unavailable(exc: Exception) -> FeedState:
    if isinstance(exc, ForbiddenError):
        reason = Reason.FEED_FORBIDDEN
        message = "the workspace's key may not read the activity feed (notifications)"
    elif isinstance(exc, NotSupportedError):
        reason = Reason.FEED_NOT_SUPPORTED
        message = "the workspace does not offer the activity feed (notifications)"
    else:
        said = exc if isinstance(exc, GuardrailsError) else type(exc).__name__  # never a foreign error's text
        reason = Reason.FEED_UNAVAILABLE
        message = f"the activity feed could not be read {FAILURES_BEFORE_FALLBACK} times in a row ({said})"
    return FeedState(False, reason, f"{message}: falling back to periodic resyncs")


FOLLOWING = FeedState(
    True, Reason.FEED_FOLLOWED, "following the activity feed (it lists the operator's writes)"
)
BLIND = FeedState(
    False,
    Reason.FEED_BLIND,
    "the activity feed is read but does not list the operator's own writes (does the key lack metadata "
    "permission?): falling back to periodic resyncs",
)


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
    recheck_exceptions: Recheck = lambda uids: None
    _feeds: dict[GuardrailsClient, _Feed] = field(default_factory=dict)
    _in_use: set[GuardrailsClient] = field(default_factory=set)

    # -- what the runtime tells the feeds ------------------------------------------------------------------
    def record(self, client: GuardrailsClient, changes: Iterable[Change], pack_id: str | None = None) -> None:
        """The writes a pass made through ``client`` to ``pack_id``'s pack: their echoes in the feed cause
        nothing, and prove that the feed sees."""
        feed = self._feed(client)
        changes = list(changes)
        feed.echoes.record(changes)
        feed.proof.expect(changes, pack_id, self.clock())

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
        """Tick every interval until cancelled; a tick that fails is logged and the next one runs."""
        try:
            while True:
                try:
                    await self.tick()
                except Exception:
                    logger.exception("activity feeds: a tick failed")
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
        """One read of the client's feed and what it asks for; whatever fails is this feed's failure."""
        try:
            await self._poll(client, feed, scope)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not isinstance(exc, GuardrailsError):
                logger.warning(
                    "activity feed of %s: the poll failed (%s)", client.endpoint, type(exc).__name__
                )
            await self._failed(client, feed, exc)

    async def _read(self, client: GuardrailsClient, feed: _Feed, scope: FeedScope) -> FeedRead:
        """Read the views (and a proof view when one is due); ids answered "Not Found" leave the filters and
        the read is made again without them (once)."""
        since = feed.watermark.since(datetime.now(UTC))
        feed.gone &= scope.followed()  # forget ids no longer followed
        packs = [p for p in scope.by_pack if p not in feed.gone]
        probe = feed.proof.probe(packs, self.clock())
        for attempt in range(2):
            read = await client.read_feed(
                scope.queries(feed.gone), since=since, proof=proof_query(probe) if probe else None
            )
            if not read.missing or attempt:
                return read
            logger.info(
                "activity feed of %s: ids not found, left out: %s", client.endpoint, sorted(read.missing)
            )
            feed.gone |= read.missing
            probe = None if probe in read.missing else probe
        return read

    async def _poll(self, client: GuardrailsClient, feed: _Feed, scope: FeedScope) -> None:
        read = await self._read(client, feed, scope)
        feed.failures = 0
        self.metrics.feed_polled("ok")
        if read.errors or read.skipped:
            logger.info(
                "activity feed of %s: %d GraphQL errors and %d null items in the reply (kept the rest)",
                client.endpoint,
                read.errors,
                read.skipped,
            )
            self.metrics.feed_items_skipped("error", read.errors)
            self.metrics.feed_items_skipped("null", read.skipped)
        fresh = feed.watermark.fresh(read.activities)
        now = self.clock()
        feed.proof.observe(fresh, now)
        feed.proof.probed(read.proof, now)
        verdict = feed.proof.verdict(scope.by_pack, now)
        if verdict is not None:
            await self._set_state(client, feed, FOLLOWING if verdict else BLIND)
        elif feed.state is not None and feed.state.reason != Reason.FEED_BLIND:
            await self._set_state(client, feed, FOLLOWING)  # read again after an error: not blind so far
        routing = route([*feed.deferred, *fresh], scope, feed.echoes, self.busy, read.under)
        feed.deferred = routing.deferred
        feed.gone |= routing.gone
        for handling, count in routing.handled.items():
            self.metrics.feed_handled(handling, count)
        if routing.passes:
            self.recheck(routing.passes)
        if routing.exceptions:
            self.recheck_exceptions(routing.exceptions)
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

    async def _set_state(self, client: GuardrailsClient, feed: _Feed, state: FeedState) -> None:
        """Announce a change of the feed's state (once); a lost feed counts as a fallback."""
        if feed.state == state:
            return
        previous, feed.state = feed.state, state
        if not state.available:
            self.metrics.feed_fell_back(state.reason)
        self.metrics.feeds_lost(self.unavailable())
        await self.announce(client, state, previous)

    async def _failed(self, client: GuardrailsClient, feed: _Feed, exc: Exception) -> None:
        final = isinstance(exc, ForbiddenError | NotSupportedError)
        outcome = "forbidden" if isinstance(exc, ForbiddenError) else "error"
        self.metrics.feed_polled("not_supported" if isinstance(exc, NotSupportedError) else outcome)
        feed.failures += 1
        if not final and feed.failures < FAILURES_BEFORE_FALLBACK:
            return
        feed.due = self.clock() + self.retry
        state = _unavailable(exc)
        if feed.state is None or feed.state.available or feed.state.reason != state.reason:
            await self._set_state(client, feed, state)

    def unavailable(self) -> int:
        """Feeds in fallback now (for the gauge)."""
        states = [self._feeds[c].state for c in self._in_use if c in self._feeds]
        return sum(1 for state in states if state is not None and not state.available)


__all__ = ["BLIND", "FOLLOWING", "Client", "FeedFollower", "FeedMetrics", "FeedState"]
