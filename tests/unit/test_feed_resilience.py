"""The feed's resilience in the process (unit): the proof that a feed sees (own writes listed in time, a known
activity when idle), the supervised feed loop (restarted when it ends, readiness and a metric meanwhile), a
workspace that fails to resolve left out alone, and Secrets of which only the used keys are decoded."""

from __future__ import annotations

import asyncio
import base64
from typing import Any, cast

import httpx
import pytest

from ecr_privacy_operator.guardrails.activities import Activity
from ecr_privacy_operator.health import Readiness
from ecr_privacy_operator.kube import SecretInvalidError
from ecr_privacy_operator.metrics import Metrics
from ecr_privacy_operator.reconcile.apply import Change
from ecr_privacy_operator.reconcile.feed import FeedScope, Subject
from ecr_privacy_operator.reconcile.feed_proof import BLIND_AFTER, PROBE_INTERVAL, SETTLE, FeedProof
from ecr_privacy_operator.runtime.feed_link import FEED_LOOP, FeedLink, FeedLoop
from tests.fixtures.runtime import kube_answering

pytestmark = pytest.mark.unit

WRITE = Change("SettingUpdated", "updated", "301", "v-7")


def echo(version: str = "v-7") -> Activity:
    return Activity(
        id="1",
        type="policy_setting_updated",
        timestamp="2026-12-03T06:00:00.000Z",
        resource_id="101",
        setting_id="301",
        setting_version_id=version,
    )


def test_an_own_write_listed_in_time_proves_the_feed_sees() -> None:
    proof = FeedProof()
    proof.expect([WRITE], "101", now=0.0)
    assert proof.verdict({"101": 1}, now=10.0) is None  # not yet: nothing proved either way
    proof.observe([echo()], now=12.0)
    assert proof.verdict({"101": 1}, now=12.0) is True
    assert proof.verdict({"101": 1}, now=BLIND_AFTER + 1) is None  # said once


def test_an_own_write_listed_before_its_pass_ended_proves_it_too() -> None:
    proof = FeedProof()
    proof.observe([echo()], now=1.0)
    proof.expect([WRITE], "101", now=2.0)
    assert proof.verdict({"101": 1}, now=2.0) is True


def test_an_own_write_not_listed_in_time_says_blind_while_its_pack_is_followed() -> None:
    proof = FeedProof()
    proof.expect([WRITE], "101", now=0.0)
    proof.observe([echo("someone-else")], now=5.0)
    assert proof.verdict({"101": 1}, now=BLIND_AFTER - 1) is None
    assert proof.verdict({"101": 1}, now=BLIND_AFTER) is False
    proof.expect([WRITE], "102", now=100.0)
    assert proof.verdict({"101": 1}, now=100.0 + BLIND_AFTER) is None  # 102 is not followed: forgotten


def test_an_idle_feed_reads_a_known_activity_of_a_settled_pack() -> None:
    proof = FeedProof()
    proof.expect([Change("PackUpdated", "renamed", "102", "v-1")], "102", now=0.0)  # not probed until settled
    assert proof.probe(["101", "102"], now=1.0) == "101"
    proof.probed(False, now=1.0)
    assert proof.verdict({"101": 1}, now=1.0) is False  # a pack that exists, and no activity: blind
    assert proof.probe(["101", "102"], now=2.0) is None  # one probe per interval
    assert proof.probe(["101", "102"], now=1.0 + PROBE_INTERVAL) == "101"
    assert proof.probe(["101", "102"], now=SETTLE + PROBE_INTERVAL) is not None
    proof.probed(True, now=SETTLE + PROBE_INTERVAL)
    assert proof.verdict({"101": 1}, now=SETTLE + PROBE_INTERVAL) is True


def samples(metrics: Metrics) -> str:
    return b"".join(metrics.exposition()).decode()


async def test_a_feed_loop_that_ends_is_restarted_and_readiness_says_so_meanwhile() -> None:
    runs: list[int] = []
    release = asyncio.Event()

    async def run() -> None:
        runs.append(1)
        if len(runs) == 1:
            raise RuntimeError("a bug")
        await release.wait()
        await asyncio.sleep(3600)

    readiness, metrics = Readiness(started=True), Metrics()
    loop = FeedLoop(run, readiness, metrics, delays=(0.2,))
    task = asyncio.create_task(loop.supervise())
    await asyncio.sleep(0.05)
    ready, reason = readiness.status()
    assert not ready
    assert reason == f"{FEED_LOOP} is down and restarting: it raised RuntimeError"
    assert "ecrprivacy_feed_loop_up 0.0" in samples(metrics)
    await asyncio.sleep(0.3)
    assert len(runs) == 2
    assert readiness.status()[0]
    assert "ecrprivacy_feed_loop_up 1.0" in samples(metrics)
    loop.kill()  # as SIGUSR2 does: stopped like a crash
    await asyncio.sleep(0.05)
    assert not readiness.status()[0]
    await asyncio.sleep(0.3)
    assert len(runs) == 3
    assert "ecrprivacy_feed_loop_restarts_total 2.0" in samples(metrics)
    task.cancel()  # the operator stopping: no restart
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(runs) == 3


class _Directory:
    def __init__(self) -> None:
        self.subjects = {
            ("GuardrailsWorkspace", "a", "ws"): [Subject("ua", "101")],
            ("GuardrailsWorkspace", "b", "ws"): [Subject("ub", "102")],
        }

    def feed_subjects(self) -> dict[Any, list[Subject]]:
        return self.subjects

    def find(self, kind: Any, namespace: str, name: str) -> Any:
        return type("W", (), {"deleting": False, "label": f"{namespace}/{name}", "namespace": namespace})()


class _Resolver:
    """Tenant a's workspace raises what no handler expects; tenant b's resolves."""

    def parse(self, workspace: Any) -> Any:
        return workspace

    async def connect(self, workspace: Any, spec: Any, user: str) -> Any:
        if workspace.namespace == "a":
            raise TypeError("cadata should be an ASCII string or a bytes-like object")
        return "client-b"


async def test_a_workspace_that_fails_to_resolve_is_left_out_alone() -> None:
    link = FeedLink(
        cast(Any, _Directory()), cast(Any, _Resolver()), cast(Any, None), fall_back=lambda uids: None
    )
    scopes = await link.scopes()
    assert scopes == {"client-b": FeedScope.of([Subject("ub", "102")])}


async def test_only_the_keys_the_operator_uses_are_decoded() -> None:
    def api(request: httpx.Request) -> httpx.Response:
        data = {
            "accessKey": base64.b64encode(b"ak").decode(),
            "secretKey": base64.b64encode(b"sk").decode(),
            "notes": base64.b64encode(b"\xff\xfe binary").decode(),
        }
        return httpx.Response(200, json={"kind": "Secret", "data": data})

    kube = kube_answering(api)
    values = await kube.read_secret("team", "creds")
    assert {k: v.get_secret_value() for k, v in values.items()} == {"accessKey": "ak", "secretKey": "sk"}
    await kube.aclose()


async def test_a_used_key_that_is_not_utf8_is_a_clear_credentials_problem() -> None:
    def api(request: httpx.Request) -> httpx.Response:
        bad = base64.b64encode(b"\xff\xfe").decode()
        return httpx.Response(200, json={"kind": "Secret", "data": {"accessKey": bad, "secretKey": bad}})

    kube = kube_answering(api)
    with pytest.raises(SecretInvalidError, match="team/creds: key accessKey is not UTF-8 text") as raised:
        await kube.read_secret("team", "creds")
    assert "\\xff" not in str(raised.value)
    await kube.aclose()
