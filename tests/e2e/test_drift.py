"""Drift with the shared operator: console edits in Guardrails (a setting changed, the pack detached, the pack
deleted) are found by the resync timer within resyncInterval, reported in status.drift, the Drifted condition
and an Event; driftPolicy Correct puts Guardrails back, Report leaves it as the console made it.

Six objects (three kinds of edit x two policies) run side by side, so the tier waits one resync, not six."""

from __future__ import annotations

import time
from typing import Any

from tests.fixtures.emulator import ACCOUNT_AKA, EmulatorProcess
from tests.fixtures.kube import wait_for
from tests.fixtures.operator import OperatorProcess
from tests.fixtures.policies import P_APPROVED, Guardrails, Policies, condition, condition_status

RESYNC = 10  # seconds; the shortest interval the CRD allows
DETECTION_TIMEOUT = RESYNC * 1.1 + 6  # jitter of the timer + one pass, with room for a slow machine

UPDATE_SETTING = (
    """mutation($input: UpdatePolicySettingInput!) { updatePolicySetting(input: $input) { value } }"""
)
DETACH = (
    """mutation($input: DetachSmartFolderInput!) { detachSmartFolders(input: $input) { turbot { id } } }"""
)
DELETE_PACK = (
    """mutation($input: DeleteSmartFolderInput!) { deleteSmartFolder(input: $input) { turbot { id } } }"""
)
EDITS = ("setting", "detach", "delete")


def console_edit(
    emulator: EmulatorProcess, kind: str, pack_id: str, setting_id: str, account_id: str
) -> None:
    """What someone does in the Guardrails console, with the admin key."""
    if kind == "setting":
        emulator.data(UPDATE_SETTING, {"input": {"id": setting_id, "value": "Skip"}})
        return
    emulator.data(DETACH, {"input": {"resource": account_id, "smartFolders": [pack_id]}})
    if kind == "delete":
        emulator.data(DELETE_PACK, {"input": {"id": pack_id}})


def drifted(policies: Policies, ns: str, name: str, reason: str) -> dict[str, Any] | None:
    obj = policies.must_get(ns, name)
    cond = condition(obj, "Drifted")
    if cond is None or cond["status"] != "True" or cond["reason"] != reason:
        return None
    return obj if obj["status"].get("drift") else None


def test_console_edits_are_detected_and_corrected_or_reported(
    operator: OperatorProcess, emulator: EmulatorProcess, policies: Policies, e2e_ns: str
) -> None:
    names = {(policy, kind): f"{policy.lower()}-{kind}" for policy in ("Correct", "Report") for kind in EDITS}
    uids = {}
    for (policy, _), name in names.items():
        created = policies.create(e2e_ns, name, driftPolicy=policy, resyncInterval=f"{RESYNC}s")
        uids[name] = created["metadata"]["uid"]
    for name in names.values():
        obj = policies.wait_ready(e2e_ns, name)
        assert condition_status(obj, "Drifted") == "False"

    gr = Guardrails.of(emulator)
    account_id = gr.resource_id(ACCOUNT_AKA)
    before = {}
    for (_, kind), name in names.items():
        pack = gr.pack(uids[name])
        assert pack is not None
        before[name] = pack
        console_edit(emulator, kind, pack["id"], gr.settings(pack["id"])[P_APPROVED]["id"], account_id)
    edited_at = time.monotonic()

    # Report: drift is found within one resync interval, reported, and Guardrails keeps the console's change
    for kind in EDITS:
        name = names[("Report", kind)]
        obj = wait_for(
            lambda name=name: drifted(policies, e2e_ns, name, "DriftDetected"),
            timeout=DETECTION_TIMEOUT,
            what=f"{name} Drifted=True",
        )
        drift = obj["status"]["drift"]
        assert all(not d["corrected"] and d["detectedAt"] for d in drift), drift
        assert condition_status(obj, "Ready") == "False"
        policies.wait_event(e2e_ns, name, "DriftDetected", "Warning")
        fields = {(d["object"], d["field"]) for d in drift}
        if kind == "setting":
            assert [(d["desired"], d["actual"]) for d in drift] == [("Check: Approved", "Skip")], drift
        elif kind == "detach":
            assert any(ACCOUNT_AKA in f"{o} {f}" for o, f in fields), drift
        else:
            assert any(o == "policyPack" for o, _ in fields), drift
    assert time.monotonic() - edited_at < DETECTION_TIMEOUT + 2

    # Correct: found and put back (status records what was reverted, Events DriftDetected and DriftCorrected)
    for kind in EDITS:
        name = names[("Correct", kind)]
        obj = wait_for(
            lambda name=name: drifted(policies, e2e_ns, name, "DriftCorrected"),
            timeout=DETECTION_TIMEOUT,
            what=f"{name} Drifted=True (corrected)",
        )
        assert all(d["corrected"] for d in obj["status"]["drift"]), obj["status"]["drift"]
        assert condition_status(obj, "Ready") == "True"
        policies.wait_event(e2e_ns, name, "DriftCorrected", "Normal")
        # every drift found is an Event, also the drift that was put back (README)
        policies.wait_event(e2e_ns, name, "DriftDetected", "Warning")

    gr = Guardrails.of(emulator)
    for kind in EDITS:
        corrected, reported = names[("Correct", kind)], names[("Report", kind)]
        pack = gr.pack(uids[corrected])
        assert pack is not None
        assert gr.settings(pack["id"])[P_APPROVED]["value"] == "Check: Approved"
        assert gr.attached_to(pack["id"]) == [account_id]
        if kind == "delete":
            assert pack["id"] != before[corrected]["id"]  # recreated, and still exactly one
        else:
            assert pack["id"] == before[corrected]["id"]
        left = gr.pack(uids[reported])
        if kind == "setting":
            assert left is not None
            assert gr.settings(left["id"])[P_APPROVED]["value"] == "Skip"
            assert gr.attached_to(left["id"]) == [account_id]
        elif kind == "detach":
            assert left is not None
            assert gr.attached_to(left["id"]) == []
        else:
            assert left is None
