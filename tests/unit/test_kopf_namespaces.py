"""Kopf's namespace scan (``kopf_namespaces``): a namespace that appears only in the namespace watch's listing
(created between Kopf's first listing and its watch) is served, a terminating one too (its objects' finalizers
must still run); a namespace that does not match is not."""

from __future__ import annotations

from typing import Any

import pytest
from kopf._cogs.structs import references
from kopf._core.reactor import observation

from ecr_privacy_operator import kopf_namespaces

PATTERNS = ["team-*"]


@pytest.fixture
def installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(  # undone after the test
        observation, "process_discovered_namespace_event", observation.process_discovered_namespace_event
    )
    assert kopf_namespaces.install(), "this Kopf's namespace scan is not the one kopf_namespaces knows"


def _listed(name: str, **metadata: Any) -> dict[str, Any]:
    """A namespace as the watch's listing yields it: an event without a type."""
    return {"type": None, "object": {"metadata": {"name": name, **metadata}}}


async def _deliver(insights: references.Insights, raw_event: dict[str, Any]) -> None:
    """What Kopf's namespace watcher does with each event: call the module's handler by its name."""
    await observation.process_discovered_namespace_event(
        raw_event=raw_event, namespaces=PATTERNS, insights=insights
    )


async def test_a_namespace_only_in_the_watch_listing_is_served(installed: None) -> None:
    insights = references.Insights()
    insights.namespaces.add(references.NamespaceName("team-a"))  # Kopf's first listing
    await _deliver(insights, _listed("team-a"))
    await _deliver(insights, _listed("team-b"))  # created between the two listings
    await _deliver(insights, _listed("other"))
    await _deliver(insights, _listed("team-ending", deletionTimestamp="2026-12-07T00:00:00Z"))
    assert insights.namespaces == {"team-a", "team-b", "team-ending"}


async def test_added_and_deleted_events_are_kopfs_as_before(installed: None) -> None:
    insights = references.Insights()
    await _deliver(insights, {"type": "ADDED", "object": {"metadata": {"name": "team-c"}}})
    assert insights.namespaces == {"team-c"}
    await _deliver(
        insights, {"type": "DELETED", "object": {"metadata": {"name": "team-c", "deletionTimestamp": "x"}}}
    )
    assert insights.namespaces == set()


def test_install_is_idempotent(installed: None) -> None:
    patched = observation.process_discovered_namespace_event
    assert kopf_namespaces.install()
    assert observation.process_discovered_namespace_event is patched
