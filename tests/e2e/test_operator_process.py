"""The operator process itself, each test with a dedicated operator: crash safety under kill -9 in the middle
of a first sync, the cost of an idle resync (one Guardrails request, no Kubernetes write), and namespaces
created while it starts."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from kubernetes import client as k8s
from tests.fixtures.emulator import ACCOUNT_AKA, EmulatorProcess
from tests.fixtures.kube import wait_for
from tests.fixtures.operator import OperatorIdentity, OperatorProcess
from tests.fixtures.policies import Guardrails, Policies, condition, ownership_aka

REQUESTS = "ecrprivacy_guardrails_requests_total"
RECONCILES = "ecrprivacy_reconcile_total"


def _delayed(emulator: EmulatorProcess) -> int:
    """GraphQL requests the emulator has received since latency was switched on."""
    return int(emulator.faults()["counts"].get("delayed", 0))


def _ready(policies: Policies, ns: str, name: str) -> bool:
    obj = policies.must_get(ns, name)
    ready = condition(obj, "Ready")
    return ready is not None and ready["status"] == "True"


def test_kill9_during_first_sync_never_duplicates_the_pack(
    operator_factory: Callable[..., OperatorProcess],
    emulator: EmulatorProcess,
    operator_identity: OperatorIdentity,
    policies: Policies,
    solo_ns: str,
) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    operator_identity.emulator_credentials(solo_ns, emulator)
    emulator.set_faults(latencyMs=[100, 300])  # every request in flight for a while
    operator = operator_factory(solo_ns)
    created = policies.create(solo_ns, "crashy", resyncInterval="10s")
    uid = created["metadata"]["uid"]

    # crash 1: right after the pack appeared in Guardrails, before its settings, attachment and status
    wait_for(lambda: Guardrails.of(emulator).packs_owned(uid), timeout=30, interval=0.05, what="pack created")
    operator.kill9()
    assert not (policies.must_get(solo_ns, "crashy").get("status") or {}).get("policyPack"), (
        "too late a crash"
    )

    # crashes 2-4: after a random number (1-4) of further requests reached Guardrails, i.e. mid-request (or
    # once the sync has finished, if it needed fewer requests than that)
    for _ in range(3):
        operator.start()
        start, k = _delayed(emulator), rng.randint(1, 4)
        wait_for(
            lambda start=start, k=k: _delayed(emulator) >= start + k or _ready(policies, solo_ns, "crashy"),
            timeout=30,
            interval=0.02,
            what=f"{k} more Guardrails requests (seed {seed})",
        )
        operator.kill9()
        assert len(Guardrails.of(emulator).packs_owned(uid)) == 1, f"seed {seed}"

    operator.start()
    wait_for(
        lambda: _ready(policies, solo_ns, "crashy"), timeout=45, what=f"Ready after crashes (seed {seed})"
    )
    emulator.clear_faults()
    gr = Guardrails.of(emulator)
    packs = gr.packs_owned(uid)
    assert len(packs) == 1, f"seed {seed}: {packs}"
    pack_id = packs[0]["id"]
    assert len([s for s in gr.state["settings"] if s["resource_id"] == pack_id]) == 2
    assert gr.state["attachments"][gr.resource_id(ACCOUNT_AKA)].count(pack_id) == 1
    status = policies.must_get(solo_ns, "crashy")["status"]
    assert status["policyPack"]["id"] == pack_id
    assert status["ownershipAka"] == ownership_aka(policies.api, created)
    assert operator.starts == 5


def _snapshot(operator: OperatorProcess, policies: Policies, ns: str, name: str) -> dict[str, Any]:
    requests: dict[str, float] = {}
    for (metric, labels), value in operator.metrics().items():
        if metric == REQUESTS:
            operation = dict(labels)["operation"]
            requests[operation] = requests.get(operation, 0) + value
    return {
        "requests": requests,
        "resyncs": operator.metric(RECONCILES, trigger="resync"),
        "resourceVersion": policies.must_get(ns, name)["metadata"]["resourceVersion"],
        "events": len(policies.events(ns, name)),
    }


def test_idle_resync_costs_one_request_and_no_kubernetes_write(
    operator_factory: Callable[..., OperatorProcess],
    emulator: EmulatorProcess,
    operator_identity: OperatorIdentity,
    policies: Policies,
    solo_ns: str,
) -> None:
    operator_identity.emulator_credentials(solo_ns, emulator)
    operator = operator_factory(solo_ns, env={"ECR_PRIVACY_FEED_INTERVAL": "0"})  # resyncs alone
    policies.create(solo_ns, "idle", resyncInterval="10s")
    policies.wait_ready(solo_ns, "idle")

    def resyncs() -> float:
        return operator.metric(RECONCILES, trigger="resync")

    # anchor right after a resync finished (the next one is at least 9 s away), then let two more run
    wait_for(lambda: resyncs() >= 1, timeout=20, what="first resync")
    before = _snapshot(operator, policies, solo_ns, "idle")
    wait_for(lambda: resyncs() >= before["resyncs"] + 2, timeout=30, what="two more resyncs")
    after = _snapshot(operator, policies, solo_ns, "idle")

    ran = after["resyncs"] - before["resyncs"]
    assert ran == 2
    spent = {op: after["requests"][op] - before["requests"].get(op, 0) for op in after["requests"]}
    assert {op: n for op, n in spent.items() if n} == {"ObservePolicy": ran}, spent
    assert after["resourceVersion"] == before["resourceVersion"]
    assert after["events"] == before["events"]
    assert operator.metric(RECONCILES, trigger="resync", result="Succeeded") == after["resyncs"]


def test_namespaces_created_while_the_operator_starts_are_all_served(
    operator_factory: Callable[..., OperatorProcess], api_client: k8s.ApiClient, policies: Policies
) -> None:
    """With a namespace pattern, Kopf lists the namespaces, then starts a watch that lists them again; one
    created between the two listings used to be skipped until a restart (its objects never got a status)."""
    prefix = f"glob-{uuid.uuid4().hex[:6]}"
    core = k8s.CoreV1Api(api_client)
    created: list[str] = []
    started = threading.Event()

    def create_namespaces() -> None:  # back to back, from before the start until a second after it
        deadline = None
        while deadline is None or time.monotonic() < deadline:
            name = f"{prefix}-{len(created):03d}"
            core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name)))
            created.append(name)
            if deadline is None and started.is_set():
                deadline = time.monotonic() + 1.0
            time.sleep(0.01)

    creator = threading.Thread(target=create_namespaces, daemon=True)
    creator.start()
    try:
        operator_factory(f"{prefix}-*")
    finally:
        started.set()
        creator.join(timeout=60)
    assert not creator.is_alive()
    for name in created:  # no credentials Secret: a status saying so is enough to show it is served
        policies.create(name, "probe")

    def unserved() -> list[str]:
        return [name for name in created if condition(policies.must_get(name, "probe"), "Ready") is None]

    try:
        wait_for(lambda: not unserved(), timeout=60, interval=1, what="every namespace's object has a status")
    except AssertionError as exc:
        raise AssertionError(f"never served, of {len(created)}: {unserved()}") from exc
    assert len(created) > 20, f"only {len(created)} namespaces were created during the start-up"
