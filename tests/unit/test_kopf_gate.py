"""Kopf's start-up gate (``kopf_gate``): workers waiting for every object to be indexed are woken when the gate
opens, not once per object indexed; and they are still all let through then."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from kopf._cogs.aiokits import aiotoggles

from ecr_privacy_operator import kopf_gate


@pytest.fixture
def installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aiotoggles, "ToggleSet", aiotoggles.ToggleSet)  # undone after the test
    assert kopf_gate.install(), "this Kopf's gate is not the one kopf_gate knows"


def _counting(toggles: Any) -> list[int]:
    """Count how often the set's state is read (each woken waiter reads it once)."""
    reads = [0]
    original = toggles.is_on

    def is_on() -> bool:
        reads[0] += 1
        return bool(original())

    toggles.is_on = is_on
    return reads


async def test_a_burst_of_objects_wakes_the_waiting_workers_once(installed: None) -> None:
    n = 200
    gate = aiotoggles.ToggleSet(all)  # what Kopf's orchestrator builds
    reads = _counting(gate)
    done: list[int] = []

    async def worker(i: int, toggle: Any, indexed: asyncio.Event) -> None:  # Kopf's worker
        await indexed.wait()  # its object's index handlers ran
        await gate.drop_toggle(toggle)
        await gate.wait_for(True)
        done.append(i)

    blocker = await gate.make_toggle(name="a resource kind still listing")
    workers, indexed = [], [asyncio.Event() for _ in range(n)]
    for i in range(n):
        toggle = await gate.make_toggle(name=f"object {i}")
        workers.append(asyncio.create_task(worker(i, toggle, indexed[i])))
    for event in indexed:  # the objects are indexed one after another, as their events arrive
        event.set()
        await asyncio.sleep(0.001)
    assert not done  # nothing runs before every index is filled
    assert gate.is_off()
    await gate.drop_toggle(blocker)
    await asyncio.wait_for(asyncio.gather(*workers), timeout=5)
    assert sorted(done) == list(range(n))
    # Kopf's own set: every drop woke every waiting worker (n²/2 reads, 20,000 here)
    assert reads[0] < 10 * n, f"{reads[0]} reads of the gate for {n} objects"


async def test_a_toggle_turned_by_its_owner_still_wakes_its_waiters(installed: None) -> None:
    paused = aiotoggles.ToggleSet(any)  # Kopf's pause by peering: toggles turned on and off
    toggle = await paused.make_toggle(name="peer")
    waiting = asyncio.create_task(paused.wait_for(True))
    await asyncio.sleep(0.01)
    assert not waiting.done()
    await toggle.turn_to(True)
    await asyncio.wait_for(waiting, timeout=1)
    resumed = asyncio.create_task(paused.wait_for(False))
    await paused.drop_toggle(toggle)  # dropping the only "on" toggle turns the set off
    await asyncio.wait_for(resumed, timeout=1)
