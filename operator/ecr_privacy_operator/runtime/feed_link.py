"""The Kubernetes side of the activity feeds (``reconcile.feed_follower`` polls them).

- ``scopes``: which pooled clients are in use and what each feed must watch, from Kopf's indices (the
  ``feed_subjects`` of ``handlers/indices.py``) and the workspace resolver (a workspace that cannot be used is left
  out: its policies report why on their own passes);
- ``announce``: a feed's change of state, said once: the ``FeedAvailable`` condition of every workspace object
  on that client (``WorkspaceKeeper``), an Event on each when the feed is lost or comes back, a log line, and,
  when it is lost, the fallback of those workspaces' policies to periodic resyncs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

import kopf

from ecr_privacy_operator.crd.spec import API_GROUP, API_VERSION, WorkspaceKind
from ecr_privacy_operator.kube import KubernetesError, KubernetesUnavailableError, SecretNotFoundError
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


@dataclass
class FeedLink:
    """Shared through the runtime; its two methods are the follower's ``scopes`` and ``announce``."""

    directory: Directory
    resolver: WorkspaceResolver
    keeper: WorkspaceKeeper
    fall_back: Callable[[set[str]], None]  # the runtime's: resync these objects as often as without a feed
    _keys: dict[Client, set[WorkspaceKey]] = field(default_factory=dict)
    _uids: dict[Client, set[str]] = field(default_factory=dict)

    async def scopes(self) -> dict[Client, FeedScope]:
        groups: dict[Client, list[Subject]] = {}
        keys: dict[Client, set[WorkspaceKey]] = {}
        for key, subjects in self.directory.feed_subjects().items():
            kind, namespace, name = key
            workspace = self.directory.find(WorkspaceKind(kind), namespace, name)
            if workspace is None or workspace.deleting:
                continue
            try:
                client = await self.resolver.connect(
                    workspace, self.resolver.parse(workspace), user=f"feed of {workspace.label}"
                )
            except _UNUSABLE:
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
