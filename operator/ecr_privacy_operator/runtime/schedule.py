"""The resync schedule: one task starts each object's next pass when it is due.

Replaces one Kopf daemon per object (a task, its coroutine stack and Kopf's live copy of the whole object per
object) with a heap of due times. Every pass re-plans its object (``at``); a deleted object is dropped
(``cancel``); ``run`` hands each due object to the runtime, which queues its pass fairly (``fair_slots``).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import time
from collections.abc import Callable


class ResyncSchedule:
    """Due times per object UID; ``run(dispatch)`` calls ``dispatch(uid)`` for each one when it is due."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._due: dict[str, float] = {}
        self._heap: list[tuple[float, str]] = []
        self._changed = asyncio.Event()

    def at(self, uid: str, delay: float) -> None:
        """(Re)plan the object's next pass ``delay`` seconds from now; an earlier plan is replaced."""
        due = self._clock() + delay
        self._due[uid] = due
        heapq.heappush(self._heap, (due, uid))
        if self._heap[0] == (due, uid):
            self._changed.set()  # sooner than what run() sleeps for

    def cancel(self, uid: str) -> None:
        """Plan nothing more for this object (it is gone or being deleted)."""
        self._due.pop(uid, None)

    def due_in(self, uid: str) -> float | None:
        """Seconds until the object's next pass (None: none planned)."""
        due = self._due.get(uid)
        return None if due is None else due - self._clock()

    def __len__(self) -> int:
        return len(self._due)

    def take_due(self) -> list[str]:
        """Remove and return the objects whose pass is due now (stale heap entries are skipped)."""
        now = self._clock()
        due: list[str] = []
        while self._heap and self._heap[0][0] <= now:
            when, uid = heapq.heappop(self._heap)
            if self._due.get(uid) == when:
                del self._due[uid]
                due.append(uid)
        if len(self._heap) > 2 * len(self._due) + 64:  # many re-plans: drop the stale entries
            self._heap = [(when, uid) for uid, when in self._due.items()]
            heapq.heapify(self._heap)
        return due

    async def run(self, dispatch: Callable[[str], None]) -> None:
        """Hand each due object to ``dispatch`` (which queues its pass, no task per waiting object), forever;
        cancel to stop."""
        while True:
            self._changed.clear()
            for uid in self.take_due():
                dispatch(uid)
            wait = self._heap[0][0] - self._clock() if self._heap else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout=wait)
