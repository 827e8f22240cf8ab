"""Crashes: kill -9 the operator at random moments while many objects sync (created, then half of them changed
half-way through), restarting it each time; no crash ever leaves a second pack, and once it runs undisturbed
every object converges to exactly its spec. Then the objects are deleted across two more crashes and nothing is
left."""

from __future__ import annotations

import random
import time
from collections.abc import Callable

import pytest

from tests.fixtures.emulator import EmulatorProcess
from tests.fixtures.operator import OperatorIdentity, OperatorProcess
from tests.fixtures.policies import Guardrails, Policies
from tests.reliability.scenario import SCALE, Fleet, Row, check_invariants, retries


@pytest.mark.timeout(4 * SCALE.timeout)
def test_kill9_at_random_moments_converges_without_duplicates(
    operator_factory: Callable[..., OperatorProcess],
    emulator_factory: Callable[..., EmulatorProcess],
    operator_identity: OperatorIdentity,
    policies: Policies,
    solo_ns: str,
    report: Callable[[Row], None],
) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    emulator = emulator_factory()
    operator_identity.emulator_credentials(solo_ns, emulator)
    emulator.set_faults(latencyMs=[20, 150])  # every request in flight for a while: kills land mid-request
    operator = operator_factory(solo_ns)
    fleet = Fleet(policies, solo_ns, SCALE.crash_objects)
    retried = 0

    start = time.monotonic()
    fleet.create()
    for kill in range(SCALE.kills):
        time.sleep(rng.uniform(0.2, 2.5))
        retried += retries(operator)
        operator.kill9()
        verdict = check_invariants(Guardrails.of(emulator), {})
        assert verdict.duplicates == 0, f"seed {seed}, kill {kill}: {verdict}"
        if kill == SCALE.kills // 2:  # spec changes arrive while the operator is down
            fleet.patch([fleet.name(i) for i in range(0, fleet.count, 2)], {"enforcement": "Enforce"})
        operator.start()
    fleet.wait_ready(SCALE.timeout)
    row = Row(
        f"crashes: {SCALE.kills} kill -9",
        fleet.count,
        converge_s=time.monotonic() - start,
        retries=retried + retries(operator),
        note=f"seed {seed}",
    )
    row.add_emulator(emulator)
    verdict = check_invariants(Guardrails.of(emulator), fleet.expected())
    row.duplicates, row.orphans = verdict.duplicates, verdict.orphans
    report(row)
    verdict.assert_clean()

    # deletion across two more crashes
    fleet.delete()
    for _ in range(2):
        time.sleep(rng.uniform(0.2, 1.5))
        operator.kill9()
        operator.start()
    fleet.wait_gone(SCALE.timeout)
    check_invariants(Guardrails.of(emulator), {}).assert_clean()
    assert operator.starts == SCALE.kills + 3
