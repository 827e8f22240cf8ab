"""Attachment writes to Guardrails targets for every object of the process: serialised per target, and the
attaches (or detaches) that queue up behind one another sent together.

A target's attached list is read-modify-write on the server, so two writes to one target must not overlap.
Objects that attach to one shared target (many policies, one account or folder) would then wait in line for
an attach and a read-back each, and so would their deletions. Instead, the pass that gets a target's lock
attaches (detaches) every pack then waiting to be attached to (detached from) that target through the same
client in one request, and verifies them all with one read-back. When such a shared write fails for a reason
other than an outage, each pack is tried on its own, so every object gets its own answer.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Literal

from ecr_privacy_operator.crd.spec import SEED_CONTROL_TYPE
from ecr_privacy_operator.guardrails.client import GuardrailsClient
from ecr_privacy_operator.guardrails.errors import GuardrailsError, TransientError
from ecr_privacy_operator.guardrails.models import ControlSummary, TargetAttachments

MAX_BATCH = 50  # packs in one attach or detach request

Write = Literal["attach", "detach"]


@dataclass(frozen=True)
class Attached:
    """An attach as read back: the target's id and packs, and (when asked) the control summaries read with
    it (they may cover more targets than asked: those of every pack in the same request)."""

    target: TargetAttachments
    summaries: list[ControlSummary] | None


@dataclass(eq=False)
class _Waiting:
    client: GuardrailsClient
    pack_id: str
    summarise: tuple[str, ...]
    done: asyncio.Future[Attached | None]


class TargetLocks:
    """One asyncio lock per Guardrails target, shared by every object in the process, and the attaches
    waiting for each.

    A target has several names: its numeric id and its AKAs. A first sync that has not read a target yet
    addresses it as the spec gives it (an AKA); an observed pass addresses it by id. Whatever is learned about
    a target's names (``learn``: from observes and read-backs) joins them in one group, and a write holds the
    lock of every name in its target's group (taken in sorted order, so two writers never deadlock). Two writes
    to one target therefore never overlap, whichever name each reached it by: they share at least the name
    the other one used, once either has seen the target.
    """

    def __init__(self) -> None:
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._groups: dict[str, frozenset[str]] = {}  # name -> every name known for the same target
        self._waiting: defaultdict[tuple[Write, str], list[_Waiting]] = defaultdict(list)

    def _names(self, target: str) -> frozenset[str]:
        return self._groups.get(target, frozenset({target}))

    def _key(self, target: str) -> str:
        """One name per target for the queue of waiting writes: the least of its known names."""
        return min(self._names(target))

    def __call__(self, target: str) -> AbstractAsyncContextManager[None]:
        """Hold ``target`` (every name it is known by) for one write."""
        return self._holding(target)

    @contextlib.asynccontextmanager
    async def _holding(self, target: str) -> AsyncIterator[None]:
        while True:
            names = sorted(self._names(target))
            async with contextlib.AsyncExitStack() as held:
                for name in names:
                    await held.enter_async_context(self._locks[name])
                if sorted(self._names(target)) == names:  # no name learned while waiting: it is ours
                    yield
                    return
            # the target got another name meanwhile: let go and take the whole group again, in order

    def waiting(self, target: str, write: Write = "attach") -> int:
        """How many attaches (detaches) are queued for ``target``, not yet taken into a request."""
        return len(self._waiting.get((write, self._key(target)), ()))

    def learn(self, *names: str) -> None:
        """Remember that ``names`` (ids and AKAs, as read from Guardrails) name one target."""
        group = frozenset().union(*(self._names(n) for n in names if n))
        if len(group) < 2:
            return
        for name in group:
            self._groups[name] = group

    async def attach(
        self, client: GuardrailsClient, target: str, pack_id: str, summarise: Sequence[str] = ()
    ) -> Attached:
        """Attach ``pack_id`` to ``target`` and verify it, together with the packs other passes are waiting
        to attach there; with ``summarise``, the read-back also carries the control summaries under those
        targets. Raises the Guardrails error of this pack's attach."""
        attached = await self._write_in_turn("attach", client, target, pack_id, tuple(summarise))
        assert attached is not None
        return attached

    async def detach(self, client: GuardrailsClient, target: str, pack_id: str) -> None:
        """Detach ``pack_id`` from ``target`` and verify it is gone (a vanished target counts as detached),
        together with the packs other passes are waiting to detach there."""
        await self._write_in_turn("detach", client, target, pack_id, ())

    async def _write_in_turn(
        self, write: Write, client: GuardrailsClient, target: str, pack_id: str, summarise: tuple[str, ...]
    ) -> Attached | None:
        """Queue this pack's write for ``target``; when the target is ours, write it with every pack queued
        there through the same client (unless a pass before took it along), and return its answer."""
        key = (write, self._key(target))
        me = _Waiting(client, pack_id, summarise, asyncio.get_running_loop().create_future())
        waiting = self._waiting[key]
        waiting.append(me)
        try:
            async with self._holding(target):
                if not me.done.done():  # nobody took this pack along: write it, and whatever waits here
                    batch = [me, *[w for w in waiting if w is not me and w.client is client][: MAX_BATCH - 1]]
                    waiting[:] = [w for w in waiting if w not in batch]
                    await self._write_batch(write, client, target, batch)
        finally:
            if not me.done.done():  # this pass ends unanswered (cancelled, or an unexpected error): settle it
                me.done.cancel()
            if me in waiting:
                waiting.remove(me)
            if not waiting and self._waiting.get(key) is waiting:  # not a newer queue for this target
                del self._waiting[key]
        return me.done.result()

    async def _write_batch(
        self, write: Write, client: GuardrailsClient, target: str, batch: list[_Waiting]
    ) -> None:
        """One request (and one read-back) for every pack of ``batch``; on a failure other than an outage,
        each pack again on its own."""
        packs = [w.pack_id for w in batch]
        summarise = list(dict.fromkeys(t for w in batch for t in w.summarise))
        attached: Attached | None = None
        try:
            if write == "detach":
                await client.detach_and_verify(target, packs)
            elif summarise:
                found, summaries = await client.attach_verify_and_summarise(
                    target, packs, SEED_CONTROL_TYPE, summarise
                )
                attached = Attached(found, summaries)
            else:
                attached = Attached(await client.attach_and_verify(target, packs), None)
        except GuardrailsError as exc:
            if len(batch) == 1 or isinstance(exc, TransientError):
                for w in batch:
                    _settle(w, error=exc)
                return
            for w in batch:  # a shared request failed: each pack on its own says whose problem it is
                await self._write_batch(write, client, target, [w])
            return
        for w in batch:
            _settle(w, result=attached)


def _settle(waiting: _Waiting, *, result: Attached | None = None, error: BaseException | None = None) -> None:
    if waiting.done.done():  # its pass was cancelled meanwhile
        return
    if error is not None:
        waiting.done.set_exception(error)
    else:
        waiting.done.set_result(result)  # None for a detach
