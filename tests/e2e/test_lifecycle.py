"""The main path with the shared operator: apply -> Ready with the pack, its settings and the attachment in
Guardrails; Check -> Enforce changes the setting and the emulator deletes new unapproved repositories; the
status' compliance counts (and kubectl's printer columns) follow what Guardrails reports."""

from __future__ import annotations

from typing import Any

from tests.controlplane.harness import ControlPlane
from tests.fixtures.emulator import ACCOUNT_AKA, REGION_AKA, EmulatorProcess
from tests.fixtures.kube import wait_for
from tests.fixtures.operator import OperatorProcess
from tests.fixtures.policies import C_APPROVED, P_APPROVED, P_USAGE, Guardrails, Policies, ownership_aka


def _alarms(policies: Policies, ns: str, name: str) -> Any:
    return ((policies.must_get(ns, name).get("status") or {}).get("compliance") or {}).get("alarm")


def test_apply_enforce_and_compliance(
    operator: OperatorProcess, emulator: EmulatorProcess, policies: Policies, e2e_ns: str
) -> None:
    created = policies.create(e2e_ns, "ecr-private", enforcement="Check", resyncInterval="10s")
    uid = created["metadata"]["uid"]
    obj = policies.wait_ready(e2e_ns, "ecr-private")
    status = obj["status"]

    gr = Guardrails.of(emulator)
    pack = gr.pack(uid)
    assert pack is not None
    assert pack["title"] == "Enforce AWS ECR Repositories Are Private"
    # the ownership AKA names the cluster (by default the UID of kube-system), the object and its UID
    assert set(pack["akas"]) == {f"e2e:{e2e_ns}:ecr-private", ownership_aka(policies.api, created)}
    assert status["ownershipAka"] == ownership_aka(policies.api, created)
    settings = gr.settings(pack["id"])
    assert settings[P_APPROVED]["value"] == "Check: Approved"
    assert settings[P_USAGE]["value"] == "Not approved"
    assert {s["precedence"] for s in settings.values()} == {"REQUIRED"}
    account_id = gr.resource_id(ACCOUNT_AKA)
    assert gr.attached_to(pack["id"]) == [account_id]

    assert status["policyPack"]["id"] == pack["id"]
    assert {s["type"]: s["id"] for s in status["settings"]} == {t: s["id"] for t, s in settings.items()}
    assert status["attachments"] == [{"resource": ACCOUNT_AKA, "resourceId": account_id}]
    # the default tree holds three public repositories, all unapproved under Check
    repos = gr.repositories()
    assert len(repos) == 3
    assert set(gr.control_states().values()) == {"alarm"}
    assert status["compliance"]["controlType"] == C_APPROVED
    assert (status["compliance"]["total"], status["compliance"]["alarm"]) == (3, 3)
    policies.wait_event(e2e_ns, "ecr-private", "PackCreated", "Normal")

    # Check -> Enforce: the setting changes; repositories created within the hour are deleted at once
    policies.patch_spec(e2e_ns, "ecr-private", {"enforcement": "Enforce"})
    obj = policies.wait_ready(e2e_ns, "ecr-private")
    gr = Guardrails.of(emulator)
    assert gr.settings(pack["id"])[P_APPROVED]["value"] == "Enforce: Delete unapproved if new"
    survivors = [r["title"] for r in gr.repositories()]
    assert survivors == ["legacy"], survivors  # web (-10m) and edge (-59m) were new, legacy (-2d) is not
    deleted = {aka for e in emulator.events() if e["action"] == "delete" for aka in e["akas"]}
    assert any(aka.endswith("repository/web") for aka in deleted)
    wait_for(lambda: _alarms(policies, e2e_ns, "ecr-private") == 1, timeout=15, what="1 alarm after Enforce")
    assert policies.must_get(e2e_ns, "ecr-private")["status"]["compliance"]["total"] == 1

    # a new unapproved repository is deleted as soon as it is discovered...
    fresh = emulator.add_resource(REGION_AKA, "fresh-repo")
    assert fresh["exists"] is False
    assert any(aka.endswith("repository/fresh-repo") for e in emulator.events() for aka in e["akas"]), (
        emulator.events()
    )
    # ...an old one is not (it stays in alarm) and the status' counts follow on the next resync
    emulator.add_resource(REGION_AKA, "old-repo", created_at="-3h")
    assert sorted(r["title"] for r in Guardrails.of(emulator).repositories()) == ["legacy", "old-repo"]
    wait_for(lambda: _alarms(policies, e2e_ns, "ecr-private") == 2, timeout=25, what="2 alarms after resync")
    compliance = policies.must_get(e2e_ns, "ecr-private")["status"]["compliance"]
    assert (compliance["total"], compliance["ok"], compliance["alarm"]) == (2, 0, 2)


def test_kubectl_printer_columns(
    kube: ControlPlane, operator: OperatorProcess, emulator: EmulatorProcess, policies: Policies, e2e_ns: str
) -> None:
    policies.create(e2e_ns, "columns", enforcement="Check")
    obj = policies.wait_ready(e2e_ns, "columns")
    pack_id = obj["status"]["policyPack"]["id"]

    lines = kube.kubectl("get", "ecrprivacypolicies", "-n", e2e_ns).stdout.splitlines()
    assert len(lines) == 2, lines
    header, row = lines[0].split(), lines[1].split()
    assert header == ["NAME", "READY", "ENFORCEMENT", "PACK", "DRIFT", "ALARMS", "AGE"]
    assert row[:6] == ["columns", "True", "Check", pack_id, "False", "3"]
    # the short name and the category reach the same object
    assert kube.kubectl("get", "epp", "-n", e2e_ns, "-o", "name").stdout.split() == [
        "ecrprivacypolicy.ecrprivacy.dev/columns"
    ]
