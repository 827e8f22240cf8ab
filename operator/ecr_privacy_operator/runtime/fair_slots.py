"""The process-wide limit on passes and deletions, shared fairly between tenants.

Whoever needs a slot waits under a key, a tuple read coarsest first: ``(namespace, workspace)`` for a policy's
pass (another kind of object can use the same slots with keys of its own). When a slot frees, it goes to the
waiter whose namespace holds the fewest slots, then, within the namespace, whose workspace holds the fewest;
the oldest waiter of a key goes first, and a deletion goes before the passes of its key (it keeps its
progress). No namespace holds more than ``slots - reserve``, so a newcomer finds a slot at once even while one
namespace's passes hang on a host that does not answer; while others wait, a namespace above its share gets
no more. A pass waits as an entry (no task) until it is granted a slot: ``submit``; a deletion waits in its
handler: ``slot``. ``sleep`` gives the slot back while a request retry waits, and waits its turn again.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import Counter, deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field

Key = tuple[str, ...]


@dataclass
class _Hold:
    """One granted slot; ``held`` is False while its owner sleeps between request retries."""

    key: Key
    held: bool = True


@dataclass
class _Waiter:
    seq: int
    grant: Callable[[_Hold], None]


_CURRENT: ContextVar[tuple[FairSlots, _Hold] | None] = ContextVar("fair_slot", default=None)


@dataclass
class FairSlots:
    """``slots`` at once in all; ``reserve`` of them never go to one namespace (default: a quarter)."""

    slots: int
    reserve: int | None = None
    _waiting: dict[Key, deque[_Waiter]] = field(default_factory=dict)
    _held: Counter[Key] = field(default_factory=Counter)  # per key prefix: (ns,) and (ns, workspace)
    _total: int = 0
    _seq: itertools.count[int] = field(default_factory=itertools.count)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def cap(self) -> int:
        """The most slots one namespace may hold."""
        reserve = self.slots // 4 if self.reserve is None else self.reserve
        return max(1, self.slots - reserve)

    @property
    def in_use(self) -> int:
        return self._total

    def holding(self) -> bool:
        """True inside a slot of these slots (a pass started by ``submit``, or ``slot``)."""
        current = _CURRENT.get()
        return current is not None and current[0] is self and current[1].held

    def waiting(self) -> int:
        return sum(len(q) for q in self._waiting.values())

    # -- granting ------------------------------------------------------------------------------------------
    def _pick(self) -> Key | None:
        """The key whose first waiter gets the next slot (None: nobody may have one now)."""
        best: tuple[tuple[int, ...], Key] | None = None
        for key, queue in self._waiting.items():
            if not queue or self._held[key[:1]] >= self.cap:
                continue
            rank = (*(self._held[key[: n + 1]] for n in range(len(key))), queue[0].seq)
            if best is None or rank < best[0]:
                best = (rank, key)
        return None if best is None else best[1]

    def _dispatch(self) -> None:
        while self._total < self.slots:
            key = self._pick()
            if key is None:
                return
            queue = self._waiting[key]
            waiter = queue.popleft()
            if not queue:
                del self._waiting[key]
            self._take(key)
            waiter.grant(_Hold(key))

    def _take(self, key: Key) -> None:
        self._total += 1
        for n in range(len(key)):
            self._held[key[: n + 1]] += 1

    def _give_back(self, hold: _Hold) -> None:
        if not hold.held:
            return
        hold.held = False
        self._total -= 1
        for n in range(len(hold.key)):
            prefix = hold.key[: n + 1]
            self._held[prefix] -= 1
            if not self._held[prefix]:
                del self._held[prefix]
        self._dispatch()

    def _enqueue(self, key: Key, grant: Callable[[_Hold], None], first: bool = False) -> None:
        waiter = _Waiter(-next(self._seq) if first else next(self._seq), grant)
        queue = self._waiting.setdefault(key, deque())
        queue.appendleft(waiter) if first else queue.append(waiter)
        self._dispatch()

    async def _wait(self, key: Key, first: bool = False) -> _Hold:
        granted: asyncio.Future[_Hold] = asyncio.get_running_loop().create_future()

        def grant(hold: _Hold) -> None:
            if granted.cancelled():  # the waiter went away meanwhile: pass the slot on
                self._give_back(hold)
            else:
                granted.set_result(hold)

        self._enqueue(key, grant, first)
        try:
            return await granted
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():
                self._give_back(granted.result())
            raise

    # -- the three ways in ---------------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def slot(self, key: Key, first: bool = False) -> AsyncIterator[None]:
        """Wait for a slot under ``key`` (``first``: ahead of the key's other waiters), hold it inside."""
        hold = await self._wait(key, first)
        token = _CURRENT.set((self, hold))
        try:
            yield
        finally:
            _CURRENT.reset(token)
            self._give_back(hold)

    def submit(self, key: Key, start: Callable[[], Awaitable[None]]) -> None:
        """Run ``start()`` in a task once a slot under ``key`` is granted; the slot goes back when it ends."""

        def grant(hold: _Hold) -> None:
            async def run() -> None:
                _CURRENT.set((self, hold))
                try:
                    await start()
                finally:
                    self._give_back(hold)

            task = asyncio.create_task(run(), name=f"pass {'/'.join(key)}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        self._enqueue(key, grant)

    async def sleep(self, delay: float) -> None:
        """Sleep without holding the caller's slot (a request retry's wait), then wait for one again, ahead of
        the key's other waiters. Outside a slot: a plain sleep."""
        current = _CURRENT.get()
        if current is None or not current[1].held:
            await asyncio.sleep(delay)
            return
        fair, hold = current
        fair._give_back(hold)
        await asyncio.sleep(delay)
        again = await fair._wait(hold.key, first=True)
        again.held, hold.held = False, True  # the caller's hold owns the fresh grant

    async def cancel_all(self) -> None:
        """Cancel the passes started by ``submit`` and forget who waits (the runtime is stopping)."""
        self._waiting.clear()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
