"""Transient faults: with 5xx, 429 + Retry-After, dropped connections and latency spikes on about a quarter of
all requests, every object reaches Ready with exactly one pack, exactly its settings and its attachment; then
every object is deleted under the same faults and nothing is left in Guardrails."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tests.fixtures.emulator import EmulatorProcess
from tests.fixtures.operator import OperatorIdentity, OperatorProcess
from tests.fixtures.policies import Guardrails, Policies
from tests.reliability.scenario import SCALE, Fleet, Row, check_invariants, faults_mix, retries


@pytest.mark.timeout(3 * SCALE.timeout)
def test_objects_converge_under_transient_faults(
    operator_factory: Callable[..., OperatorProcess],
    emulator_factory: Callable[..., EmulatorProcess],
    operator_identity: OperatorIdentity,
    policies: Policies,
    solo_ns: str,
    report: Callable[[Row], None],
) -> None:
    emulator = emulator_factory()
    operator_identity.emulator_credentials(solo_ns, emulator)
    # the random mix, plus three faults that always happen: a few objects that share a target make few requests
    # (their attaches go together), and the check below needs the mix to bite
    emulator.set_faults({**faults_mix(), "nextN": 2, "dropNext": 1})
    operator = operator_factory(solo_ns)
    fleet = Fleet(policies, solo_ns, SCALE.objects)

    start = time.monotonic()
    fleet.create()
    fleet.wait_ready(SCALE.timeout)
    row = Row("faults", fleet.count, converge_s=time.monotonic() - start, retries=retries(operator))
    row.add_emulator(emulator)
    verdict = check_invariants(Guardrails.of(emulator), fleet.expected())
    row.duplicates, row.orphans = verdict.duplicates, verdict.orphans

    # deletion under the same faults: every object goes, and takes its pack and attachment with it
    emulator.requests(clear=True)
    before = emulator.faults()["counts"]
    fleet.delete()
    deleted_in = fleet.wait_gone(SCALE.timeout)
    after_delete = check_invariants(Guardrails.of(emulator), {})
    counts = emulator.faults()["counts"]
    faults = sum(int(counts.get(k, 0)) - int(before.get(k, 0)) for k in ("errors", "dropped"))
    report(row)
    report(
        Row(
            "faults: delete all",
            fleet.count,
            requests=int(emulator.requests()["total"]),
            faults=faults,
            delayed=int(counts.get("delayed", 0)) - int(before.get("delayed", 0)),
            retries=retries(operator) - row.retries,
            converge_s=deleted_in,
            duplicates=after_delete.duplicates,
            orphans=after_delete.orphans,
        )
    )
    share = 0.15 if SCALE.name == "full" else 0.05  # ~22 % expected; a few dozen requests vary more
    assert row.faults >= share * row.requests, (row, "the fault mix did not bite")
    verdict.assert_clean()
    after_delete.assert_clean()
    assert operator.alive
    assert "Traceback" not in operator.log()
