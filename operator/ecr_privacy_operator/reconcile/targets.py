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
from collections import defaultdict
from collections.abc import Sequence
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

    Targets are keyed by numeric id. A first sync that has not read a target yet addresses it as the spec
    gives it (an AKA); once a read-back has shown that AKA's id (``learn``), the AKA maps to the id's lock.
    """

    def __init__(self) -> None:
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._ids: dict[str, str] = {}
        self._waiting: defaultdict[tuple[Write, str], list[_Waiting]] = defaultdict(list)

    def _key(self, target: str) -> str:
        return self._ids.get(target, target)

    def __call__(self, target: str) -> asyncio.Lock:
        return self._locks[self._key(target)]

    def waiting(self, target: str, write: Write = "attach") -> int:
        """How many attaches (detaches) are queued for ``target``, not yet taken into a request."""
        return len(self._waiting.get((write, self._key(target)), ()))

    def learn(self, ref: str, target_id: str) -> None:
        """Remember that ``ref`` (an AKA) names the target ``target_id``."""
        if ref != target_id:
            self._ids[ref] = target_id

    async def attach(
        self, client: GuardrailsClient, target: str, pack_id: str, summarise: Sequence[str] = ()
    ) -> Attached:
        """Attach ``pack_id`` to ``target`` and verify it, together with the packs other passes are waiting
        to attach there; with ``summarise``, the read-back also carries the control summaries under those
        targets. Raises the Guardrails error of this pack's attach."""
        attached = await self._queued("attach", client, target, pack_id, tuple(summarise))
        assert attached is not None
        return attached

    async def detach(self, client: GuardrailsClient, target: str, pack_id: str) -> None:
        """Detach ``pack_id`` from ``target`` and verify it is gone (a vanished target counts as detached),
        together with the packs other passes are waiting to detach there."""
        await self._queued("detach", client, target, pack_id, ())

    async def _queued(
        self, write: Write, client: GuardrailsClient, target: str, pack_id: str, summarise: tuple[str, ...]
    ) -> Attached | None:
        key = (write, self._key(target))
        me = _Waiting(client, pack_id, summarise, asyncio.get_running_loop().create_future())
        waiting = self._waiting[key]
        waiting.append(me)
        try:
            async with self._locks[key[1]]:
                if not me.done.done():  # nobody took this pack along: write it, and whatever waits here
                    batch = [me, *[w for w in waiting if w is not me and w.client is client][: MAX_BATCH - 1]]
                    waiting[:] = [w for w in waiting if w not in batch]
                    await self._together(write, client, target, batch)
        finally:
            if not me.done.done():  # this pass ends unanswered (cancelled, or an unexpected error): settle it
                me.done.cancel()
            if me in waiting:
                waiting.remove(me)
            if not waiting and self._waiting.get(key) is waiting:  # not a newer queue for this target
                del self._waiting[key]
        return me.done.result()

    async def _together(
        self, write: Write, client: GuardrailsClient, target: str, batch: list[_Waiting]
    ) -> None:
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
                await self._together(write, client, target, [w])
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
