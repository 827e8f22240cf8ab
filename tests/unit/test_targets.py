"""reconcile.targets when passes are cancelled (the operator stops, or an object is deleted mid-pass): an
attach that another pass had taken along is made by its own pass, and a cancelled pass leaves no
unretrieved result behind. With a client stand-in that records its attach requests."""

from __future__ import annotations

import asyncio
from typing import cast

import pytest

from ecr_privacy_operator.guardrails import GuardrailsClient
from ecr_privacy_operator.guardrails.models import ResourceRef, TargetAttachments
from ecr_privacy_operator.reconcile.targets import TargetLocks
from tests.fixtures.polling import until

pytestmark = pytest.mark.unit

TARGET = "arn:aws:::123456789012"


class Client:
    """``attach_and_verify`` that records each request and waits for ``release`` on the first one."""

    def __init__(self) -> None:
        self.requests: list[list[str]] = []
        self.release = asyncio.Event()
        self.attached: list[str] = []

    async def attach_and_verify(self, target: str, pack_ids: list[str]) -> TargetAttachments:
        self.requests.append(list(pack_ids))
        if len(self.requests) == 1:
            await self.release.wait()
        self.attached += [p for p in pack_ids if p not in self.attached]
        return TargetAttachments(id="42", packs=[ResourceRef(id=p) for p in self.attached])


async def test_an_attach_taken_along_by_a_cancelled_pass_is_made_by_its_own_pass() -> None:
    locks, client = TargetLocks(), Client()
    gclient = cast(GuardrailsClient, client)
    async with locks(TARGET):
        first = asyncio.create_task(locks.attach(gclient, TARGET, "1"))
        second = asyncio.create_task(locks.attach(gclient, TARGET, "2"))
        await until(lambda: locks.waiting(TARGET) == 2)
    await until(lambda: client.requests == [["1", "2"]])  # the first pass took the second along...
    first.cancel()  # ...and was cancelled mid-request
    with pytest.raises(asyncio.CancelledError):
        await first
    attached = await asyncio.wait_for(second, 5)
    assert client.requests == [["1", "2"], ["2"]]
    assert "2" in [p.id for p in attached.target.packs]
    assert locks.waiting(TARGET) == 0


async def test_a_pass_cancelled_while_queued_is_dropped_quietly() -> None:
    locks, client = TargetLocks(), Client()
    client.release.set()
    gclient = cast(GuardrailsClient, client)
    async with locks(TARGET):
        queued = asyncio.create_task(locks.attach(gclient, TARGET, "1"))
        staying = asyncio.create_task(locks.attach(gclient, TARGET, "2"))
        await until(lambda: locks.waiting(TARGET) == 2)
        queued.cancel()
        with pytest.raises(asyncio.CancelledError):
            await queued
        assert locks.waiting(TARGET) == 1
    assert [p.id for p in (await staying).target.packs] == ["2"]
    assert client.requests == [["2"]]


async def test_one_lock_per_target_whatever_name_it_is_reached_by() -> None:
    """A first sync holds the target by its AKA; meanwhile another pass observes the target (learning its id)
    and attaches by id: it waits for the first, it does not take a second lock on the same target."""
    locks, client = TargetLocks(), Client()
    client.release.set()
    gclient = cast(GuardrailsClient, client)
    async with locks(TARGET):
        locks.learn(TARGET, "42")
        by_id = asyncio.create_task(locks.attach(gclient, "42", "2"))
        await until(lambda: locks.waiting("42") == 1)
        await asyncio.sleep(0.05)
        assert client.requests == []  # still waiting for the holder of the AKA
    await asyncio.wait_for(by_id, 5)
    assert client.requests == [["2"]]
