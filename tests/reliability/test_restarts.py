"""Restarts of the parts around the operator during a sync: the kube-apiserver (same port, flags and etcd) and
the Guardrails emulator (state persisted to a file). Watches recover — objects created and changed after the
restarts are served — and every object converges to exactly its spec."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.controlplane.harness import ControlPlane, free_port
from tests.fixtures.emulator import EmulatorProcess
from tests.fixtures.kube import wait_for
from tests.fixtures.operator import OperatorIdentity, OperatorProcess
from tests.fixtures.policies import Guardrails, Policies
from tests.reliability.scenario import SCALE, Fleet, Row, check_invariants, retries


@pytest.mark.timeout(3 * SCALE.timeout)
def test_apiserver_and_guardrails_restarts_during_a_sync(
    kube: ControlPlane,
    operator_factory: Callable[..., OperatorProcess],
    emulator_factory: Callable[..., EmulatorProcess],
    operator_identity: OperatorIdentity,
    policies: Policies,
    solo_ns: str,
    tmp_path: Path,
    report: Callable[[Row], None],
) -> None:
    port = free_port()  # the emulator comes back on the same address, with its state from disk
    emulator = emulator_factory(state_file=tmp_path / "workspace.json", extra_args=["--port", str(port)])
    operator_identity.emulator_credentials(solo_ns, emulator)
    emulator.set_faults(latencyMs=[50, 200])
    operator = operator_factory(solo_ns)
    fleet = Fleet(policies, solo_ns, SCALE.restart_objects)

    start = time.monotonic()
    fleet.create()
    # restart while the first sync is under way: once Guardrails has seen the operator's first requests
    wait_for(lambda: emulator.requests()["total"] >= 2, timeout=30, what="the first sync under way")
    kube.restart_apiserver(down_seconds=3)
    requests = int(emulator.requests()["total"])
    emulator.restart()  # in the middle of the sync (counters restart too)
    assert emulator.url.endswith(f":{port}")
    emulator.set_faults(latencyMs=[50, 200])
    fleet.wait_ready(SCALE.timeout)

    # the watch is alive: a new object and a spec change after the restarts are both served
    late = Fleet(policies, solo_ns, 1, prefix="late")
    late.create()
    fleet.patch([fleet.name(0)], {"enforcement": "Skip"})
    late.wait_ready(SCALE.timeout)
    fleet.wait_ready(SCALE.timeout)

    row = Row(
        "restarts: apiserver+emulator",
        fleet.count + late.count,
        requests=requests,
        converge_s=time.monotonic() - start,
        retries=retries(operator),
    )
    row.add_emulator(emulator)
    verdict = check_invariants(Guardrails.of(emulator), {**fleet.expected(), **late.expected()})
    row.duplicates, row.orphans = verdict.duplicates, verdict.orphans
    report(row)
    verdict.assert_clean()
    assert operator.alive
