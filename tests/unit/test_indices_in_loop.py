"""Every Kopf index of the operator (``handlers/indices.py``, ``handlers/exceptions.py``) runs in the event
loop: Kopf runs a plain function in a thread of its executor, a thread hop per index on every watch event of
every object (about a tenth of the operator's CPU in a first sync of 3000 objects)."""

from __future__ import annotations

import inspect

import kopf

from ecr_privacy_operator.handlers import exceptions, policy  # noqa: F401 (registers every handler)

ON_EVERY_EVENT = {
    "namespaced_workspaces",
    "cluster_workspaces",
    "workspace_users",
    "feed_subjects",
    "namespace_labels",
    "exception_feed_subjects",
    "policies_by_name",
    "pending_approvals",
}


def test_the_indices_on_every_event_are_coroutines() -> None:
    handlers = {h.id: h.fn for h in kopf.get_default_registry()._indexing.get_all_handlers()}
    assert set(handlers) == ON_EVERY_EVENT  # every index the operator registers
    in_threads = sorted(name for name in ON_EVERY_EVENT if not inspect.iscoroutinefunction(handlers[name]))
    assert in_threads == []
