"""Reading the activity feed (contract §4.11): one page of one view, or everything since a watermark.

:meth:`FeedOperations.read_activities` reads the first page of every view in ONE request (the views are
batched under aliases ``q0``, ``q1``… of ``queries/ReadActivities.graphql``), then follows further pages one
request each, and returns the activities oldest first, once each. A feed the caller may not read raises
:class:`~.errors.ForbiddenError`; a workspace without the feed raises :class:`~.errors.NotSupportedError`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from .activities import Activity, ActivityPage, ActivityQuery
from .base import ClientBase
from .batch import BatchPart, compose_batch
from .filters import LIMIT

__all__ = ["FeedOperations"]

_PAGE = "ReadActivities"


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
        """Every activity matching any of ``queries`` at or after ``since`` (inclusive: overlap the window
        and deduplicate by id), oldest first, once each. One request for all first pages, one per further
        page. No queries, no request."""
        if not queries:
            return []
        operation = "ReadActivityFeeds"
        parts = [
            BatchPart(_PAGE, f"q{i}", {"filter": q.filters(since, limit), "paging": None})
            for i, q in enumerate(queries)
        ]
        batch = compose_batch(operation, parts)
        reply = await self._transport.execute(batch.text, batch.name, batch.variables)
        found: dict[str, Activity] = {}
        for query, part in zip(queries, parts, strict=True):
            node = self._required(operation, reply.data, part.alias)
            page = self._parse(operation, lambda: ActivityPage.from_wire(node))  # noqa: B023
            while True:
                found.update((a.id, a) for a in page.activities)
                if page.next is None:
                    break
                page = await self.read_activity_page(query, since=since, paging=page.next, limit=limit)
        return sorted(found.values(), key=lambda a: (a.timestamp, int(a.id) if a.id.isdigit() else 0))
