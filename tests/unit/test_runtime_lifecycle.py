"""The runtime's lifecycle rules: a pass that outlives its object brings nothing back, deletions wait for the
same concurrency limit as passes, a pass past its deadline is a condition, one backoff formula, and the
deadline is validated against the liveness limit."""

from __future__ import annotations

import asyncio
import logging

import kopf
import pytest
from pydantic import SecretStr

from ecr_privacy_operator.config import OperatorConfig
from ecr_privacy_operator.runtime import backoff
from tests.fixtures.runtime import CachingKube, body, queue_kopf_events, runtime_for

pytestmark = pytest.mark.unit

LOGGER = logging.getLogger("test")


class GatedKube(CachingKube):
    """Secret reads wait until ``gate`` is set (a pass held in the middle); ``reads`` counts them."""

    def __init__(self) -> None:
        super().__init__({("team", "creds"): {"accessKey": "a"}})  # no secretKey: CredentialsNotFound
        self.gate = asyncio.Event()
        self.entered = asyncio.Event()

    async def read_secret(self, namespace: str, name: str) -> dict[str, SecretStr]:
        self.entered.set()
        await self.gate.wait()
        return await super().read_secret(namespace, name)


def series_of(runtime_metrics: object, name: str) -> bool:
    text = b"".join(runtime_metrics.exposition()).decode()  # type: ignore[attr-defined]
    return f'name="{name}"' in text


async def test_a_pass_that_outlives_its_object_brings_nothing_back() -> None:
    queue_kopf_events()
    kube = GatedKube()
    runtime = runtime_for(kube)
    pass_ = asyncio.create_task(runtime.sync(body("creds"), "create", LOGGER))
    await asyncio.wait_for(kube.entered.wait(), 2)
    runtime.forget("u-1", "team", "p")  # the gone handler, while the pass waits for the Secret
    kube.gate.set()
    await asyncio.wait_for(pass_, 5)
    assert "u-1" not in runtime.states
    assert runtime.schedule.due_in("u-1") is None, "the pass scheduled a resync for a deleted object"
    assert not series_of(runtime.metrics, "p"), "the pass brought the deleted object's metric series back"
    await runtime.pool.aclose()


async def test_a_deletion_waits_for_the_concurrency_limit() -> None:
    queue_kopf_events()
    kube = GatedKube()
    kube.gate.set()
    runtime = runtime_for(kube, OperatorConfig(max_concurrent_syncs=1))
    held, release = asyncio.Event(), asyncio.Event()

    async def a_pass() -> None:
        async with runtime.slots.slot(("team", "GuardrailsWorkspace/creds")):
            held.set()
            await release.wait()

    holder = asyncio.create_task(a_pass())  # a pass holds the only slot
    await held.wait()
    deletion = asyncio.create_task(runtime.finalize(body("creds"), LOGGER))
    await asyncio.sleep(0.2)
    assert kube.reads == 0, "the deletion went ahead without a slot"
    release.set()
    await holder
    with pytest.raises(kopf.TemporaryError, match="waiting to delete the policy pack"):
        await asyncio.wait_for(deletion, 5)
    assert kube.reads == 1
    condition = kube.patches[-1]["conditions"][0]
    assert condition["reason"] == "CredentialsNotFound"
    assert condition["message"].startswith("waiting to delete the policy pack: ")
    await runtime.pool.aclose()


async def test_a_pass_past_its_deadline_ends_as_a_condition() -> None:
    queue_kopf_events()
    kube = GatedKube()  # the gate never opens: the pass would hang
    runtime = runtime_for(kube, OperatorConfig(pass_deadline=0.3, wedged_after=5))
    await asyncio.wait_for(runtime.sync(body("creds"), "create", LOGGER), 5)
    conditions = {c["type"]: c for c in kube.patches[-1]["conditions"]}
    assert conditions["Ready"]["reason"] == "PassDeadlineExceeded"
    assert conditions["Reconciling"]["status"] == "True"  # retried with backoff, not Stalled
    assert runtime.watchdog.inflight == 0
    await runtime.pool.aclose()


def test_the_deadline_must_be_shorter_than_the_liveness_limit() -> None:
    with pytest.raises(ValueError, match="PASS_DEADLINE must be shorter"):
        OperatorConfig(pass_deadline=600, wedged_after=600)
    assert OperatorConfig().pass_deadline < OperatorConfig().wedged_after


def test_one_backoff_formula() -> None:
    assert [backoff.backoff(n, 300) for n in (1, 2, 5, 8, 40)] == [2, 4, 32, 256, 300]
    for _ in range(50):
        assert 0.8 * 4 <= backoff.retry_after_failure(2, 300) <= 4
        # not capped by a short resync: a failing object does not come back every 10 s and take others' slots
        assert 0.8 * 300 <= backoff.retry_after_failure(9, 300) <= 300
        assert 54 <= backoff.next_resync(60) <= 66
