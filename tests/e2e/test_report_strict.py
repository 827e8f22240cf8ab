"""``driftPolicy: Report`` with the real operator: a console edit survives a spec edit that does not touch it
(``resyncInterval``), and an edit of ``enforcement`` writes that setting's value alone."""

from __future__ import annotations

from tests.fixtures.emulator import EmulatorProcess
from tests.fixtures.operator import OperatorProcess
from tests.fixtures.policies import P_APPROVED, P_USAGE, Guardrails, Policies

UPDATE_SETTING = (
    """mutation($input: UpdatePolicySettingInput!) { updatePolicySetting(input: $input) { value } }"""
)


def reported(obj: dict[str, object]) -> set[tuple[str, str]]:
    drift = (obj.get("status") or {}).get("drift") or []  # type: ignore[union-attr]
    return {(d["object"].removeprefix("setting:"), d["field"]) for d in drift if not d["corrected"]}


def test_report_never_reverts_what_the_spec_did_not_change(
    operator: OperatorProcess, emulator: EmulatorProcess, policies: Policies, e2e_ns: str
) -> None:
    uid = policies.create(e2e_ns, "strict", driftPolicy="Report")["metadata"]["uid"]
    policies.wait_ready(e2e_ns, "strict")
    gr = Guardrails.of(emulator)
    pack = gr.pack(uid)
    assert pack is not None
    settings = gr.settings(pack["id"])
    # the console: usage approved, and the Approved setting made only recommended
    emulator.data(UPDATE_SETTING, {"input": {"id": settings[P_USAGE]["id"], "value": "Approved"}})
    emulator.data(UPDATE_SETTING, {"input": {"id": settings[P_APPROVED]["id"], "precedence": "RECOMMENDED"}})
    edited = {(P_USAGE, "value"), (P_APPROVED, "precedence")}
    console = Guardrails.of(emulator).settings(pack["id"])

    policies.patch_spec(e2e_ns, "strict", {"resyncInterval": "10m"})  # unrelated to any setting
    obj = policies.wait_condition(e2e_ns, "strict", "Drifted", "True", reason="DriftDetected")
    assert reported(obj) == edited
    assert Guardrails.of(emulator).settings(pack["id"]) == console  # nothing written

    policies.patch_spec(e2e_ns, "strict", {"enforcement": "Enforce"})
    obj = policies.wait_condition(e2e_ns, "strict", "Drifted", "True", reason="DriftDetected")
    after = Guardrails.of(emulator).settings(pack["id"])
    assert after[P_APPROVED]["value"] == "Enforce: Delete unapproved if new"
    assert after[P_APPROVED]["precedence"] == "RECOMMENDED"  # the same setting's other field: as edited
    assert after[P_USAGE] == console[P_USAGE]  # the other setting: not written at all
    assert reported(obj) == edited
