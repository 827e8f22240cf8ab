"""Kopf's namespace scan without its blind spot: a namespace that matches ``--namespace`` is served even if it
was created while the operator started (or while Kopf's namespace watch was re-listing).

With namespace patterns (``--namespace 'team-*'``), Kopf (1.45) lists the namespaces once, then starts a watch
on them, and that watch begins with a listing of its own (again after a ``410 Gone``). Kopf drops every
namespace in the watch's listing: those events have no type, and it takes them as already known. A namespace
created between the two listings is therefore never watched until the operator restarts, and its objects get
no status at all, silently. On a fresh cluster it is a window of milliseconds at start-up; a test suite that
creates a namespace right after the operator answers ``/healthz`` met it in 2 of 9 runs.

``install`` makes Kopf's handler of namespace events add a listed namespace that it does not know yet (if it
matches, as for any added namespace). A namespace it knows costs nothing. When a Kopf version no longer has the
handler this expects, ``install`` leaves Kopf as it is and says so in a warning.
"""

from __future__ import annotations

import importlib
import inspect
import logging
from collections.abc import Awaitable, Callable
from types import ModuleType
from typing import Any

logger = logging.getLogger(__name__)

_DROPS_LISTED = "if raw_event['type'] is None:"


def _kopf_observation() -> ModuleType | None:
    """Kopf's observation module, if its namespace handler drops listed namespaces as this module expects (or
    was already made to serve them)."""
    try:
        observation = importlib.import_module("kopf._core.reactor.observation")
        if getattr(observation.process_discovered_namespace_event, "serves_listed", False):
            return observation
        handler = inspect.getsource(observation.process_discovered_namespace_event)
        observer = inspect.getsource(observation.namespace_observer)
    except (ImportError, OSError, TypeError, AttributeError):
        return None
    expected = (
        _DROPS_LISTED in handler
        and "process_discovered_namespace_event" in observer
        and callable(getattr(observation, "revise_namespaces", None))
    )
    return observation if expected else None


def serving_listed_namespaces(observation: ModuleType) -> Callable[..., Awaitable[None]]:
    """Kopf's namespace handler, but a namespace in a watch's listing that Kopf does not know yet is revised
    as an added one (Kopf then starts watching it if it matches the patterns)."""
    kopf_handler: Callable[..., Awaitable[None]] = observation.process_discovered_namespace_event

    async def process_discovered_namespace_event(
        *, raw_event: Any, namespaces: Any, insights: Any, **kwargs: Any
    ) -> None:
        if raw_event["type"] is not None:
            await kopf_handler(raw_event=raw_event, namespaces=namespaces, insights=insights, **kwargs)
            return
        name = raw_event["object"]["metadata"]["name"]
        if name in insights.namespaces:
            return
        async with insights.revised:
            observation.revise_namespaces(raw_events=[raw_event], insights=insights, namespaces=namespaces)
            if name in insights.namespaces:
                logger.info("Namespace %s appeared only in the namespace watch's listing: now served", name)
                insights.revised.notify_all()

    process_discovered_namespace_event.serves_listed = True  # type: ignore[attr-defined]
    return process_discovered_namespace_event


def install() -> bool:
    """Make Kopf serve namespaces that appear only in its namespace watch's listing (once, before
    ``kopf.operator`` runs); False if this Kopf is not the one this module knows, and then nothing is changed."""
    observation = _kopf_observation()
    if observation is None:
        logger.warning(
            "Kopf's namespace scan is not the expected one: left as it is (a namespace created while the "
            "operator starts may be served only after a restart)"
        )
        return False
    if getattr(observation.process_discovered_namespace_event, "serves_listed", False):
        return True
    patched = serving_listed_namespaces(observation)
    setattr(observation, "process_discovered_namespace_event", patched)  # noqa: B010 (a module of Kopf)
    return True
