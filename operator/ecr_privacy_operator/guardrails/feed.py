"""Reading the activity feed (contract §4.11): one page of one view, or everything since a watermark.

:meth:`FeedOperations.read_feed` reads the first page of every view in ONE request (the views are batched
under aliases ``q0``, ``q1``… of ``queries/ReadActivities.graphql``, and an optional proof view under ``proof``),
then follows further pages one request each, and returns the activities oldest first, once each.

Real Guardrails may answer with the items AND GraphQL errors (a nested field of an item whose object was
deleted): the reply's data is kept, its errors counted (:class:`FeedRead`); the read fails only when no view
came back. A view answered "Not Found" names an id that is gone: its ids are reported in ``missing`` (the caller
reads again without them). A feed the caller may not read raises :class:`~.errors.ForbiddenError`; a workspace
without the feed raises :class:`~.errors.NotSupportedError`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .activities import Activity, ActivityPage, ActivityQuery
from .base import ClientBase, field_of
from .batch import BatchPart, compose_batch
from .errors import classify
from .filters import LIMIT

__all__ = ["FeedOperations", "FeedRead"]

_PAGE = "ReadActivities"
_OPERATION = "ReadActivityFeeds"
_PROOF = "proof"
_IDS = re.compile(r"[0-9]{1,24}")


@dataclass
class FeedRead:
    """What one read of the feed brought back: the activities (oldest first, once each), the ids named by the
    subtree views each was found through (``under``), the GraphQL errors that came with data (``errors``), the
    items skipped as null or malformed (``skipped``), the ids a view was answered "Not Found" for
    (``missing``), and whether the proof view found an activity (``None``: no proof view was read, or it
    failed)."""

    activities: list[Activity] = field(default_factory=list)
    under: dict[str, tuple[str, ...]] = field(default_factory=dict)  # activity id -> its subtree view's ids
    errors: int = 0
    skipped: int = 0
    missing: set[str] = field(default_factory=set)
    proof: bool | None = None


def _alias_errors(errors: Sequence[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    by_alias: dict[str, list[Mapping[str, Any]]] = {}
    for error in errors:
        path = error.get("path")
        if isinstance(path, list) and path and isinstance(path[0], str):
            by_alias.setdefault(path[0], []).append(error)
    return by_alias


def _missing_ids(query: ActivityQuery, errors: Sequence[Mapping[str, Any]]) -> set[str]:
    """The ids of ``query`` that errors on its root field answer "Not Found" for."""
    ids: set[str] = set()
    for error in errors:
        message = str(error.get("message", ""))
        if len(error.get("path") or []) == 1 and message.lower().startswith("not found"):
            ids |= set(_IDS.findall(message)) & set(query.resources)
    return ids


class FeedOperations(ClientBase):
    """Activity feed reads of the client."""

    async def read_activity_page(
        self,
        query: ActivityQuery,
        *,
        since: dt.datetime | str | None = None,
        paging: str | None = None,
        limit: int = LIMIT,
    ) -> ActivityPage:
        """One page (newest first) of the activities matching ``query`` at or after ``since``."""
        data = await self._run(_PAGE, {"filter": query.filters(since, limit), "paging": paging})
        node = self._required(_PAGE, data, "notifications")
        return self._parse(_PAGE, lambda: ActivityPage.from_wire(node))

    async def read_activities(
        self,
        queries: Sequence[ActivityQuery],
        *,
        since: dt.datetime | str | None = None,
        limit: int = LIMIT,
    ) -> list[Activity]:
        """Every activity matching any of ``queries`` at or after ``since``, oldest first, once each."""
        return (await self.read_feed(queries, since=since, limit=limit)).activities

    async def read_feed(
        self,
        queries: Sequence[ActivityQuery],
        *,
        since: dt.datetime | str | None = None,
        proof: ActivityQuery | None = None,
        limit: int = LIMIT,
    ) -> FeedRead:
        """Every activity matching any of ``queries`` at or after ``since`` (inclusive: overlap the window
        and deduplicate by id), and, with ``proof``, whether that view holds any activity at all (read in
        the same request, one item). One request for all first pages, one per further page. Raises the
        classified error when no view came back. No views, no request."""
        parts = [
            BatchPart(_PAGE, f"q{i}", {"filter": q.filters(since, limit), "paging": None})
            for i, q in enumerate(queries)
        ]
        if proof is not None:
            parts.append(BatchPart(_PAGE, _PROOF, {"filter": proof.filters(None, 1), "paging": None}))
        if not parts:
            return FeedRead()
        batch = compose_batch(_OPERATION, parts)
        reply = await self._transport.execute(batch.text, batch.name, batch.variables, allow_partial=True)
        nodes = {part.alias: field_of(reply.data, part.alias) for part in parts}
        by_alias = _alias_errors(reply.errors)
        read = FeedRead(errors=len(reply.errors))
        for index, query in enumerate(queries):
            if nodes[f"q{index}"] is None:
                read.missing |= _missing_ids(query, by_alias.get(f"q{index}", []))
        if proof is not None and nodes[_PROOF] is None:
            read.missing |= _missing_ids(proof, by_alias.get(_PROOF, []))
        if reply.errors and not read.missing and all(node is None for node in nodes.values()):
            raise classify(operation=_OPERATION, status=reply.status, errors=reply.errors)
        found: dict[str, Activity] = {}
        for index, query in enumerate(queries):
            node = nodes[f"q{index}"]
            if node is None:
                continue
            page = self._parse(_OPERATION, lambda: ActivityPage.from_wire(node))  # noqa: B023
            while True:
                found.update((a.id, a) for a in page.activities)
                if "descendant" in query.level:  # which subtrees it was found under, should its path fail
                    read.under.update(
                        (a.id, read.under.get(a.id, ()) + query.resources) for a in page.activities
                    )
                read.skipped += page.skipped
                if page.next is None:
                    break
                page = await self.read_activity_page(query, since=since, paging=page.next, limit=limit)
        proof_node = nodes.get(_PROOF)
        if proof_node is not None:
            items = proof_node.get("items")
            read.proof = isinstance(items, list) and len(items) > 0
        read.activities = sorted(
            found.values(), key=lambda a: (a.timestamp, int(a.id) if a.id.isdigit() else 0)
        )
        return read
