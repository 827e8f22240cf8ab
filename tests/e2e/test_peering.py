"""Two operator replicas with Kopf's peering against the local kube-apiserver and the emulator: exactly one acts
(the older), the other takes over after kill -9 of the active one (the time to its first reconcile is measured
and printed), objects created around the failover all end Ready with one pack each; and a process started
without peering refuses to run while a peer is alive."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest
from tests.fixtures.emulator import EmulatorProcess
from tests.fixtures.kube import wait_for
from tests.fixtures.operator import OperatorError, OperatorIdentity, OperatorProcess
from tests.fixtures.policies import OWNER_PREFIX, T_PACK, Guardrails, Policies, condition

RECONCILES = "ecrprivacy_reconcile_total"
LIFETIME = 10  # seconds: the smallest keep-alive lifetime the operator accepts, for a quick failover


def _peered(name: str) -> dict[str, str]:
    return {
        "ECR_PRIVACY_PEERING": "true",
        "ECR_PRIVACY_PEERING_NAME": name,
        "ECR_PRIVACY_PEERING_LIFETIME": str(LIFETIME),
    }


def _ready(policies: Policies, ns: str, name: str) -> bool:
    ready = condition(policies.must_get(ns, name), "Ready")
    return ready is not None and ready["status"] == "True"


def _create(policies: Policies, ns: str, names: list[str]) -> dict[str, str]:
    return {name: policies.create(ns, name, resyncInterval="1h")["metadata"]["uid"] for name in names}


def test_one_replica_acts_and_the_standby_takes_over_after_kill9(
    operator_factory: Callable[..., OperatorProcess],
    emulator: EmulatorProcess,
    operator_identity: OperatorIdentity,
    policies: Policies,
    solo_ns: str,
    record_property: Callable[[str, object], None],
) -> None:
    operator_identity.emulator_credentials(solo_ns, emulator)
    peering = f"test-{uuid.uuid4().hex[:8]}"
    older = operator_factory(solo_ns, env=_peered(peering))
    younger = operator_factory(solo_ns, env=_peered(peering))

    # exactly one acts: the older replica reconciles everything, the younger one nothing
    uids = _create(policies, solo_ns, [f"before-{i}" for i in range(10)])
    wait_for(lambda: all(_ready(policies, solo_ns, n) for n in uids), timeout=60, what="10 objects Ready")
    # a pass counts itself just after it writes the status: the last one may count a moment after Ready shows
    wait_for(lambda: older.metric(RECONCILES) >= 10, timeout=10, what="the older replica's 10 passes")
    assert younger.metric(RECONCILES) == 0, younger.tail()

    # five more objects just before the crash (some are still being reconciled), five during the outage
    uids |= _create(policies, solo_ns, [f"around-{i}" for i in range(5)])
    older.kill9()
    killed = time.monotonic()
    uids |= _create(policies, solo_ns, [f"after-{i}" for i in range(5)])

    wait_for(lambda: younger.metric(RECONCILES) > 0, timeout=3 * LIFETIME, interval=0.1, what="takeover")
    failover = time.monotonic() - killed
    record_property("failover_seconds", round(failover, 1))
    print(f"failover: first reconcile by the standby {failover:.1f}s after kill -9 (lifetime {LIFETIME}s)")
    assert failover <= LIFETIME + 5, f"took {failover:.1f}s with a {LIFETIME}s keep-alive lifetime"

    wait_for(lambda: all(_ready(policies, solo_ns, n) for n in uids), timeout=90, what="20 objects Ready")
    state = Guardrails.of(emulator)
    duplicates = {
        n: len(state.packs_owned(uid)) for n, uid in uids.items() if len(state.packs_owned(uid)) != 1
    }
    assert not duplicates, f"objects without exactly one pack: {duplicates}"
    owned = [
        r
        for r in state.resources
        if r["type_uri"] == T_PACK and any(a.startswith(OWNER_PREFIX) for a in r.get("akas") or [])
    ]
    assert len(owned) == 20, [r.get("akas") for r in owned]


def test_a_standalone_process_refuses_to_run_beside_an_active_peer(
    operator_factory: Callable[..., OperatorProcess], solo_ns: str
) -> None:
    peering = f"test-{uuid.uuid4().hex[:8]}"
    active = operator_factory(solo_ns, env=_peered(peering))
    with pytest.raises(OperatorError, match="refusing to run standalone") as refused:
        operator_factory(solo_ns, env={"ECR_PRIVACY_PEERING_NAME": peering})
    assert "exited with" in str(refused.value), "the standalone process should exit, not hang"
    assert active.alive

    # once the active one has stopped (and removed itself from the peering), a standalone process may run
    active.stop()
    operator_factory(solo_ns, env={"ECR_PRIVACY_PEERING_NAME": peering})
