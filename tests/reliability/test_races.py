"""Races: many objects attach their packs to the same two targets at once while the emulator loses concurrent
updates (attach/detach read the list, wait, and write back their copy). The operator serialises attachment
writes per target and verifies them, so every attachment is present at the end; then every object is deleted
at once and every attachment goes."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tests.fixtures.emulator import ACCOUNT_AKA, REGION_AKA, EmulatorProcess
from tests.fixtures.operator import OperatorIdentity, OperatorProcess
from tests.fixtures.policies import Guardrails, Policies
from tests.reliability.scenario import SCALE, Fleet, Row, check_invariants, retries


@pytest.mark.timeout(3 * SCALE.timeout)
def test_concurrent_attachments_to_one_target_are_all_present(
    operator_factory: Callable[..., OperatorProcess],
    emulator_factory: Callable[..., EmulatorProcess],
    operator_identity: OperatorIdentity,
    policies: Policies,
    solo_ns: str,
    report: Callable[[Row], None],
) -> None:
    emulator = emulator_factory()
    operator_identity.emulator_credentials(solo_ns, emulator)
    emulator.set_faults(race=True, raceWindowMs=200)
    operator = operator_factory(solo_ns)
    targets = [{"resource": ACCOUNT_AKA}, {"resource": REGION_AKA}]
    fleet = Fleet(policies, solo_ns, SCALE.race_objects, spec={"attachments": targets})

    start = time.monotonic()
    fleet.create()
    fleet.wait_ready(SCALE.timeout)
    row = Row(
        "races: 2 targets",
        fleet.count,
        converge_s=time.monotonic() - start,
        retries=retries(operator),
        note="lost-update mode, raceWindowMs 200",
    )
    row.add_emulator(emulator)
    gr = Guardrails.of(emulator)
    verdict = check_invariants(gr, fleet.expected())
    row.duplicates, row.orphans = verdict.duplicates, verdict.orphans
    report(row)
    verdict.assert_clean()
    for target in (ACCOUNT_AKA, REGION_AKA):
        attached = gr.state["attachments"].get(gr.resource_id(target), [])
        assert len(attached) == fleet.count, (target, attached)

    fleet.delete()
    fleet.wait_gone(SCALE.timeout)
    gr = Guardrails.of(emulator)
    check_invariants(gr, {}).assert_clean()
    assert not any(gr.state["attachments"].get(gr.resource_id(t)) for t in (ACCOUNT_AKA, REGION_AKA))
