"""The resync schedule: one task starts each object's pass when it is due; re-plans replace, cancels drop;
the runtime runs as many passes at once as ``ECR_PRIVACY_MAX_CONCURRENT_SYNCS`` allows."""

from __future__ import annotations

import asyncio

import pytest

from ecr_privacy_operator.config import OperatorConfig
from ecr_privacy_operator.metrics import Metrics
from ecr_privacy_operator.reconcile.clients import ClientPool
from ecr_privacy_operator.runtime.passes import Runtime
from ecr_privacy_operator.runtime.schedule import ResyncSchedule
from tests.fixtures.ownership import ownership
from tests.fixtures.polling import until
from tests.fixtures.runtime import CachingKube, Clock

pytestmark = pytest.mark.unit


def test_due_objects_come_out_in_time_order_and_a_re_plan_replaces_the_old_one() -> None:
    clock = Clock()
    schedule = ResyncSchedule(clock)
    schedule.at("a", 30)
    schedule.at("b", 10)
    schedule.at("c", 20)
    schedule.at("a", 5)  # a handler's pass re-planned it sooner
    assert schedule.take_due() == []
    clock.now += 15
    assert schedule.take_due() == ["a", "b"]
    assert schedule.take_due() == []  # taken once; the stale entry of "a" at +30 is skipped later
    clock.now += 100
    assert schedule.take_due() == ["c"]
    assert len(schedule) == 0


def test_a_cancelled_object_is_never_due() -> None:
    clock = Clock()
    schedule = ResyncSchedule(clock)
    schedule.at("gone", 1)
    schedule.at("kept", 2)
    schedule.cancel("gone")
    assert schedule.due_in("gone") is None
    assert schedule.due_in("kept") == pytest.approx(2)
    clock.now += 10
    assert schedule.take_due() == ["kept"]


def test_stale_heap_entries_are_compacted() -> None:
    clock = Clock()
    schedule = ResyncSchedule(clock)
    for i in range(500):
        schedule.at("one", 100 + i)  # 500 re-plans of one object
    schedule.take_due()
    assert len(schedule._heap) < 100
    clock.now += 1000
    assert schedule.take_due() == ["one"]


async def test_run_hands_due_objects_over_and_wakes_for_a_sooner_plan() -> None:
    schedule = ResyncSchedule()
    started: list[str] = []
    done = asyncio.Event()

    def dispatch(uid: str) -> None:
        started.append(uid)
        if len(started) == 2:
            done.set()

    schedule.at("later", 3600)
    runner = asyncio.create_task(schedule.run(dispatch))
    await asyncio.sleep(0.01)
    schedule.at("soon", 0.05)  # the runner sleeps for an hour: a sooner plan must wake it
    schedule.at("now", 0)
    await asyncio.wait_for(done.wait(), timeout=2)
    assert started == ["now", "soon"]
    runner.cancel()
    with pytest.raises(asyncio.CancelledError):
        await runner


def _runtime(slots: int) -> Runtime:
    return Runtime.build(
        config=OperatorConfig(max_concurrent_syncs=slots),
        kube=CachingKube({}),
        pool=ClientPool(),
        metrics=Metrics(),
        ownership=ownership(),
    )


def _known(runtime: Runtime, uid: str, namespace: str) -> None:
    """The runtime knows the object (as after a create handler), so a due pass of it is queued."""
    runtime.state(uid).body = {
        "metadata": {"uid": uid, "namespace": namespace, "name": uid},
        "spec": {"workspaceRef": {"name": "w"}},
    }


async def test_stopping_the_runtime_cancels_passes_in_flight() -> None:
    runtime = _runtime(2)
    entered = asyncio.Event()
    cancelled = asyncio.Event()

    async def slow(uid: str) -> None:
        entered.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    runtime.resync = slow  # type: ignore[method-assign]
    _known(runtime, "slow", "team-a")
    runtime.schedule.at("slow", 0)
    runtime.start_resyncs()
    await asyncio.wait_for(entered.wait(), timeout=2)
    await runtime.stop_resyncs()
    assert cancelled.is_set()


async def test_the_runtime_runs_as_many_passes_at_once_as_configured() -> None:
    runtime = _runtime(30)
    running: set[str] = set()
    release = asyncio.Event()

    async def hold(uid: str) -> None:
        running.add(uid)
        await release.wait()

    runtime.resync = hold  # type: ignore[method-assign]  # the passes themselves are not under test here
    for n in range(40):
        _known(runtime, f"u-{n}", f"team-{n % 4}")
        runtime.schedule.at(f"u-{n}", 0)
    runtime.start_resyncs()
    try:
        await until(lambda: len(running) == 30, what="30 passes running")
        await asyncio.sleep(0.05)  # and no more than 30
        assert len(running) == 30
        release.set()
        await until(lambda: len(running) == 40 and len(runtime.schedule) == 0, what="the other 10")
    finally:
        await runtime.stop_resyncs()
