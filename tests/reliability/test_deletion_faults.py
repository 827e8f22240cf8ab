"""Deletion while Guardrails is down: objects with deletionPolicy Delete stay, with Ready=False and a reason
that says why, and finish once Guardrails is back (under transient faults); Orphan objects finish at once and
leave their packs as they were."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.controlplane.harness import free_port
from tests.fixtures.emulator import EmulatorProcess
from tests.fixtures.kube import wait_for
from tests.fixtures.operator import OperatorIdentity, OperatorProcess
from tests.fixtures.policies import Guardrails, Policies, condition
from tests.reliability.scenario import SCALE, Fleet, Row, check_invariants, faults_mix, retries


@pytest.mark.timeout(3 * SCALE.timeout)
def test_deletion_waits_for_guardrails_and_orphan_always_finishes(
    operator_factory: Callable[..., OperatorProcess],
    emulator_factory: Callable[..., EmulatorProcess],
    operator_identity: OperatorIdentity,
    policies: Policies,
    solo_ns: str,
    tmp_path: Path,
    report: Callable[[Row], None],
) -> None:
    port = free_port()
    emulator = emulator_factory(state_file=tmp_path / "workspace.json", extra_args=["--port", str(port)])
    operator_identity.emulator_credentials(solo_ns, emulator)
    operator = operator_factory(solo_ns)
    half = SCALE.deletion_objects // 2
    doomed = Fleet(policies, solo_ns, half, prefix="delete")
    kept = Fleet(policies, solo_ns, half, prefix="orphan", spec={"deletionPolicy": "Orphan"})
    doomed.create()
    kept.create()
    doomed.wait_ready(SCALE.timeout)
    kept.wait_ready(SCALE.timeout)
    before = Guardrails.of(emulator)
    orphan_packs = {uid: before.pack(uid) for uid in kept.uids.values()}

    emulator.stop()  # Guardrails is down
    doomed.delete()
    kept.delete()
    kept.wait_gone(SCALE.timeout)  # Orphan never needs Guardrails

    def waiting() -> list[dict[str, Any]] | None:
        items = doomed.items()
        ok = [
            o
            for o in items
            if o["metadata"].get("deletionTimestamp")
            and (ready := condition(o, "Ready")) is not None
            and ready["status"] == "False"
            and ready["reason"] == "GuardrailsUnavailable"
            and ready["message"]
        ]
        return ok if len(ok) == doomed.count else None

    stuck = wait_for(waiting, timeout=SCALE.timeout, interval=0.5, what="Ready=False GuardrailsUnavailable")
    assert all(o["metadata"]["finalizers"] == ["ecrprivacy.dev/finalizer"] for o in stuck)
    policies.wait_event(solo_ns, doomed.name(0), "GuardrailsUnavailable", "Warning")

    emulator.start()  # back, with its state, but flaky
    assert emulator.url.endswith(f":{port}")
    emulator.set_faults(faults_mix())
    start = time.monotonic()
    doomed.wait_gone(SCALE.timeout)
    row = Row(
        "deletion: outage",
        doomed.count + kept.count,
        converge_s=time.monotonic() - start,
        retries=retries(operator),
        note=f"{kept.count} Orphan finished during the outage",
    )
    row.add_emulator(emulator)
    gr = Guardrails.of(emulator)
    verdict = check_invariants(gr, {}, orphaned=frozenset(kept.uids.values()))
    row.duplicates, row.orphans = verdict.duplicates, verdict.orphans
    report(row)
    verdict.assert_clean()
    for uid, pack in orphan_packs.items():  # Orphan left each pack exactly as it was
        assert pack is not None
        assert gr.pack(uid) == pack
        assert gr.attached_to(pack["id"]) == before.attached_to(pack["id"])
        assert gr.settings(pack["id"]) == before.settings(pack["id"])
    assert operator.alive
