"""Deletion through the finalizer: Delete detaches and deletes the pack, Orphan leaves it, and while Guardrails
is unreachable the object stays (with a condition saying why) until Guardrails is back."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.controlplane.harness import free_port
from tests.fixtures.emulator import ACCOUNT_AKA, EmulatorProcess
from tests.fixtures.kube import wait_for
from tests.fixtures.operator import OperatorIdentity, OperatorProcess
from tests.fixtures.policies import Guardrails, Policies, condition


def test_delete_removes_attachments_and_pack_orphan_leaves_them(
    operator: OperatorProcess, emulator: EmulatorProcess, policies: Policies, e2e_ns: str
) -> None:
    uid_delete = policies.create(e2e_ns, "deleted")["metadata"]["uid"]
    uid_orphan = policies.create(e2e_ns, "orphaned", deletionPolicy="Orphan")["metadata"]["uid"]
    policies.wait_ready(e2e_ns, "deleted")
    policies.wait_ready(e2e_ns, "orphaned")
    gr = Guardrails.of(emulator)
    account_id = gr.resource_id(ACCOUNT_AKA)
    kept = gr.pack(uid_orphan)
    gone = gr.pack(uid_delete)
    assert kept is not None
    assert gone is not None
    assert gr.attached_to(gone["id"]) == [account_id] == gr.attached_to(kept["id"])

    policies.delete(e2e_ns, "deleted")
    policies.delete(e2e_ns, "orphaned")
    policies.wait_gone(e2e_ns, "deleted")
    policies.wait_gone(e2e_ns, "orphaned")

    gr = Guardrails.of(emulator)
    assert gr.pack(uid_delete) is None
    assert gone["id"] not in {p for packs in gr.state["attachments"].values() for p in packs}
    assert not gr.settings(gone["id"])
    orphan = gr.pack(uid_orphan)
    assert orphan is not None
    assert orphan["id"] == kept["id"]
    assert gr.attached_to(kept["id"]) == [account_id]
    assert len(gr.settings(kept["id"])) == 2


def _waiting(policies: Policies, ns: str, name: str) -> dict[str, Any] | None:
    obj = policies.get(ns, name)
    if obj is None or not obj["metadata"].get("deletionTimestamp"):
        return None
    ready = condition(obj, "Ready")
    if ready is None or ready["status"] != "False" or ready["reason"] != "GuardrailsUnavailable":
        return None
    return obj


def test_deletion_waits_for_unreachable_guardrails(
    operator_factory: Callable[..., OperatorProcess],
    emulator_factory: Callable[..., EmulatorProcess],
    operator_identity: OperatorIdentity,
    policies: Policies,
    solo_ns: str,
    tmp_path: Path,
) -> None:
    # a workspace of its own on a fixed port, with its state on disk, so that it can go away and come back
    port = free_port()
    guardrails = emulator_factory(state_file=tmp_path / "workspace.json", extra_args=["--port", str(port)])
    operator_identity.emulator_credentials(solo_ns, guardrails)
    operator = operator_factory(solo_ns)
    uid = policies.create(solo_ns, "patient")["metadata"]["uid"]
    policies.wait_ready(solo_ns, "patient")
    pack = Guardrails.of(guardrails).pack(uid)
    assert pack is not None

    guardrails.stop()
    policies.delete(solo_ns, "patient")
    obj = wait_for(
        lambda: _waiting(policies, solo_ns, "patient"), timeout=45, what="Ready=False GuardrailsUnavailable"
    )
    ready = condition(obj, "Ready")
    assert ready is not None
    assert ready["message"]
    assert obj["metadata"]["finalizers"] == ["ecrprivacy.dev/finalizer"]
    assert operator.alive

    guardrails.start()
    assert guardrails.url.endswith(f":{port}")
    assert Guardrails.of(guardrails).pack(uid) is not None  # the state survived the outage
    policies.wait_gone(solo_ns, "patient", timeout=45)
    assert Guardrails.of(guardrails).pack(uid) is None
    assert operator.alive
