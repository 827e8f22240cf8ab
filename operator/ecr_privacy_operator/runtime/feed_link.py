"""The Kubernetes side of the activity feeds (``reconcile.feed_follower`` polls them).

- ``scopes``: which pooled clients are in use and what each feed must watch, from Kopf's indices (the
  ``feed_subjects`` of ``handlers/indices.py``) and the workspace resolver (a workspace that cannot be used is left
  out: its policies report why on their own passes);
- ``announce``: a feed's change of state, said once: the ``FeedAvailable`` condition of every workspace object
  on that client (``WorkspaceKeeper``), an Event on each when the feed is lost or comes back, a log line, and,
  when it is lost, the fallback of those workspaces' policies to periodic resyncs;
- ``ExceptionChecks``: what the feeds ask of the exceptions' runtime (``runtime.exceptions``): check these
  exceptions now (someone else wrote or deleted their settings), and whether one's check is running (an
  activity about it waits for that check's writes to be recorded as echoes);
- ``FeedLoop``: runs the follower's loop supervised: when it ends (a bug, a cancellation it did not ask for),
  ``/readyz`` and ``ecrprivacy_feed_loop_up`` say so and it restarts after a growing delay. ``SIGUSR2`` stops
  the loop as a crash would (a drill: the supervisor must bring it back).

Each workspace is resolved alone (its Secret, CA bundle, URL): one that fails, in any way, or takes longer than
``RESOLVE_SECONDS`` is left out of this tick and never stops or delays another's poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol, cast

import kopf

from ecr_privacy_operator.crd.spec import API_GROUP, API_VERSION, WorkspaceKind
from ecr_privacy_operator.health import Readiness
from ecr_privacy_operator.kube import KubernetesError, KubernetesUnavailableError, SecretNotFoundError
from ecr_privacy_operator.metrics import Metrics
from ecr_privacy_operator.reconcile.clients import CredentialsError
from ecr_privacy_operator.reconcile.feed import FeedScope, Subject
from ecr_privacy_operator.reconcile.feed_follower import Client, FeedState
from ecr_privacy_operator.reconcile.workspaces import (
    WorkspaceObject,
    WorkspaceRefusedError,
    WorkspaceResolver,
)
from ecr_privacy_operator.runtime.directory import Directory, WorkspaceKey
from ecr_privacy_operator.runtime.workspace_keeper import WorkspaceKeeper

logger = logging.getLogger(__name__)
RESOLVE_SECONDS = 5.0  # a workspace whose Secret takes longer to read is left out of this tick
RESTART_DELAYS = (2.0, 5.0, 10.0, 30.0, 60.0)  # before the feed loop's 1st, 2nd… restart in a row
STABLE_SECONDS = 120.0  # a loop that ran this long before it ended restarts after the first delay again
FEED_LOOP = "the activity feed loop"
_UNUSABLE = (
    WorkspaceRefusedError,
    CredentialsError,
    SecretNotFoundError,
    KubernetesError,
    KubernetesUnavailableError,
)


def _event_body(workspace: WorkspaceObject) -> kopf.Body:
    meta = {"name": workspace.name, "uid": workspace.uid}
    if workspace.namespace:
        meta["namespace"] = workspace.namespace
    raw = {"apiVersion": f"{API_GROUP}/{API_VERSION}", "kind": str(workspace.kind), "metadata": meta}
    return kopf.Body(cast(kopf.RawBody, raw))


class ExceptionChecks(Protocol):
    """The exceptions' runtime as the feeds see it."""

    def recheck(self, uids: Iterable[str]) -> None: ...
    def busy(self, uid: str) -> bool: ...
    def fall_back(self, namespace: str, policy: str) -> None: ...


@dataclass
class FeedLink:
    """Shared through the runtime; its two methods are the follower's ``scopes`` and ``announce``."""

    directory: Directory
    resolver: WorkspaceResolver
    keeper: WorkspaceKeeper
    fall_back: Callable[[set[str]], None]  # the runtime's: resync these objects as often as without a feed
    _keys: dict[Client, set[WorkspaceKey]] = field(default_factory=dict)
    _uids: dict[Client, set[str]] = field(default_factory=dict)

    async def _client(self, key: WorkspaceKey) -> Client | None:
        """The client of one workspace, or None when it cannot be used now (its policies say why)."""
        kind, namespace, name = key
        workspace = self.directory.find(WorkspaceKind(kind), namespace, name)
        if workspace is None or workspace.deleting:
            return None
        try:
            async with asyncio.timeout(RESOLVE_SECONDS):
                return await self.resolver.connect(
                    workspace, self.resolver.parse(workspace), user=f"feed of {workspace.label}"
                )
        except _UNUSABLE:
            return None
        except Exception as exc:  # a tenant's input must never stop the other tenants' feeds
            logger.warning("activity feed of %s: left out (%s)", workspace.label, type(exc).__name__)
            return None

    async def scopes(self) -> dict[Client, FeedScope]:
        groups: dict[Client, list[Subject]] = {}
        keys: dict[Client, set[WorkspaceKey]] = {}
        found = self.directory.feed_subjects()
        clients = await asyncio.gather(*(self._client(key) for key in found))
        for (key, subjects), client in zip(found.items(), clients, strict=True):
            if client is None:
                continue
            groups.setdefault(client, []).extend(subjects)
            keys.setdefault(client, set()).add(key)
        self._keys = keys
        self._uids = {client: {s.uid for s in found} for client, found in groups.items()}
        return {client: FeedScope.of(found) for client, found in groups.items()}

    async def announce(self, client: Client, state: FeedState, previous: FeedState | None) -> None:
        """Say once that the client's feed is followed, lost, or back."""
        lost = not state.available
        back = state.available and previous is not None and not previous.available
        for kind, namespace, name in sorted(self._keys.get(client, ())):
            workspace = self.directory.find(WorkspaceKind(kind), namespace, name)
            if workspace is None:
                continue
            await self.keeper.feed_changed(workspace, state)
            if lost or back:
                kopf.event(
                    _event_body(workspace),
                    type="Warning" if lost else "Normal",
                    reason=state.reason,
                    message=state.message,
                )
        if lost:
            logger.warning("activity feed of %s: %s", client.endpoint, state.message)
            self.fall_back(self._uids.get(client, set()))
        elif back:
            logger.info("activity feed of %s: followed again", client.endpoint)


@dataclass
class FeedLoop:
    """Runs ``run`` (the follower's loop) until cancelled, restarting it whenever it ends on its own."""

    run: Callable[[], Awaitable[None]]
    readiness: Readiness
    metrics: Metrics
    delays: tuple[float, ...] = RESTART_DELAYS
    _task: asyncio.Task[None] | None = None

    def kill(self) -> None:
        """Stop the loop as a crash would (the supervisor restarts it)."""
        if self._task is not None:
            self._task.cancel()

    async def supervise(self) -> None:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # not the main thread
            asyncio.get_running_loop().add_signal_handler(signal.SIGUSR2, self.kill)
        restarts = 0
        while True:
            self.metrics.feed_loop(True)
            self.readiness.loop_up(FEED_LOOP)
            started = time.monotonic()
            self._task = asyncio.create_task(self._run(), name="activity feeds")
            try:
                await asyncio.wait({self._task})
            except asyncio.CancelledError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
                raise
            why = "it was cancelled" if self._task.cancelled() else "it ended"
            if not self._task.cancelled() and self._task.exception() is not None:
                why = f"it raised {type(self._task.exception()).__name__}"
            restarts = 0 if time.monotonic() - started >= STABLE_SECONDS else restarts
            delay = self.delays[min(restarts, len(self.delays) - 1)]
            restarts += 1
            logger.error("%s stopped (%s): restarting it in %.0fs", FEED_LOOP, why, delay)
            self.metrics.feed_loop(False)
            self.readiness.loop_down(FEED_LOOP, why)
            await asyncio.sleep(delay)

    async def _run(self) -> None:
        await self.run()
