"""Fair slots: passes and deletions share the process-wide limit fairly between namespaces and workspaces. A
namespace with a backlog cannot keep a newcomer waiting, one namespace never holds the reserve, a deletion goes
ahead of its key's passes, and a request retry's wait gives the slot back."""

from __future__ import annotations

import asyncio

import pytest

from ecr_privacy_operator.config import OperatorConfig
from ecr_privacy_operator.crd.spec import parse_spec
from ecr_privacy_operator.metrics import Metrics
from ecr_privacy_operator.reconcile.clients import ClientPool
from ecr_privacy_operator.runtime.fair_slots import FairSlots
from ecr_privacy_operator.runtime.passes import Runtime
from tests.fixtures.ownership import ownership
from tests.fixtures.runtime import CachingKube

pytestmark = pytest.mark.unit


class Passes:
    """Passes that run until released, recording the order they started in."""

    def __init__(self, slots: FairSlots) -> None:
        self.slots = slots
        self.started: list[str] = []
        self.release: dict[str, asyncio.Event] = {}

    def submit(self, namespace: str, name: str, workspace: str = "w") -> None:
        self.release[name] = asyncio.Event()

        async def run() -> None:
            self.started.append(name)
            await self.release[name].wait()

        self.slots.submit((namespace, workspace), run)

    async def finish(self, *names: str) -> None:
        for name in names:
            self.release[name].set()
        await asyncio.sleep(0.01)


async def test_a_newcomer_does_not_wait_behind_a_namespaces_backlog() -> None:
    slots = FairSlots(4, reserve=1)
    passes = Passes(slots)
    for n in range(200):
        passes.submit("a", f"a{n}")
    await asyncio.sleep(0.01)
    assert passes.started == ["a0", "a1", "a2"], "one namespace takes at most slots - reserve"
    for n in range(3):
        passes.submit("b", f"b{n}")
    await asyncio.sleep(0.01)
    assert passes.started[3:] == ["b0"], "the reserved slot goes to the newcomer at once"
    await passes.finish("a0")
    assert passes.started[4:] == ["b1"], "a freed slot goes to the namespace holding fewer"
    await passes.finish("b0")
    assert passes.started[5:] == ["b2"]
    await passes.finish("b1", "b2")
    assert passes.started[6:] == ["a3"], "alone again, a takes slots up to its cap (3), no more"
    assert slots.in_use == 3
    await slots.cancel_all()


async def test_within_a_namespace_workspaces_take_turns() -> None:
    slots = FairSlots(2, reserve=0)
    passes = Passes(slots)
    for n in range(5):
        passes.submit("a", f"x{n}", workspace="x")
    passes.submit("a", "y0", workspace="y")
    await asyncio.sleep(0.01)
    assert passes.started == ["x0", "x1"]
    await passes.finish("x0")
    assert passes.started[2:] == ["y0"], "the workspace holding fewer slots goes first"
    await slots.cancel_all()


async def test_a_deletion_goes_ahead_of_its_keys_passes() -> None:
    slots = FairSlots(1)
    passes = Passes(slots)
    passes.submit("a", "first")
    passes.submit("a", "queued")
    await asyncio.sleep(0.01)
    order: list[str] = []

    async def deletion() -> None:
        async with slots.slot(("a", "w"), first=True):
            order.append("deletion")

    task = asyncio.create_task(deletion())
    await asyncio.sleep(0.01)
    await passes.finish("first")
    await task
    assert order == ["deletion"]
    assert passes.started == ["first", "queued"]
    assert slots.in_use == 1  # "queued" runs after the deletion
    await slots.cancel_all()


async def test_a_retry_wait_gives_the_slot_back_and_takes_one_again() -> None:
    slots = FairSlots(1)
    passes = Passes(slots)
    sleeping = asyncio.Event()
    done = asyncio.Event()

    async def retrying() -> None:
        assert slots.holding()
        sleeping.set()
        await slots.sleep(0.1)  # a request retry's backoff
        assert slots.holding()
        done.set()

    slots.submit(("a", "w"), retrying)
    await sleeping.wait()
    passes.submit("b", "other")
    await asyncio.sleep(0.02)
    assert passes.started == ["other"], "the sleeping pass's slot went to another namespace"
    assert not done.is_set()
    await passes.finish("other")
    await asyncio.wait_for(done.wait(), 2)
    await asyncio.sleep(0.01)
    assert slots.in_use == 0
    assert not slots.holding()


async def test_a_cancelled_waiter_passes_its_slot_on() -> None:
    slots = FairSlots(1)
    passes = Passes(slots)
    passes.submit("a", "holder")
    await asyncio.sleep(0.01)

    async def waiting() -> None:
        async with slots.slot(("b", "w")):
            raise AssertionError("never granted: cancelled first")

    waiter = asyncio.create_task(waiting())
    await asyncio.sleep(0.01)
    waiter.cancel()
    passes.submit("c", "next")
    await passes.finish("holder")
    assert passes.started == ["holder", "next"]
    await slots.cancel_all()


def test_cluster_workspace_policies_resync_no_more_often_than_the_admins_floor() -> None:

    runtime = Runtime.build(
        config=OperatorConfig(cluster_min_resync=120),
        kube=CachingKube({}),
        pool=ClientPool(),
        metrics=Metrics(),
        ownership=ownership(),
    )
    cluster = parse_spec(
        {"workspaceRef": {"kind": "ClusterGuardrailsWorkspace", "name": "org"}, "resyncInterval": "10s"}
    )
    own = parse_spec({"workspaceRef": {"name": "team"}, "resyncInterval": "10s"})
    assert runtime._resync_of(cluster) == 120
    assert runtime._resync_of(own) == 10  # a team's own workspace: its own keys, its own rate limit
