"""Pack ownership with the real operator: a second object with the same AKA and ``adopt: true`` never takes the
first one's pack (and deleting it leaves the pack), and a cluster rebuilt from Git (objects re-created with new
UIDs, same cluster identity) takes back its packs with ``adopt: true`` and makes no duplicate."""

from __future__ import annotations

from collections.abc import Callable

from tests.fixtures.emulator import EmulatorProcess
from tests.fixtures.kube import GROUP, PLURAL, VERSION
from tests.fixtures.operator import OperatorIdentity, OperatorProcess
from tests.fixtures.policies import P_APPROVED, Guardrails, Policies, condition, ownership_aka


def test_adopt_never_takes_a_pack_from_a_live_owner(
    operator: OperatorProcess, emulator: EmulatorProcess, policies: Policies, e2e_ns: str
) -> None:
    shared = f"e2e:{e2e_ns}:shared"
    first = policies.create(e2e_ns, "first", policyPack={"akas": [shared]}, enforcement="Enforce")
    policies.wait_ready(e2e_ns, "first")
    before = Guardrails.of(emulator).pack(first["metadata"]["uid"])
    assert before is not None

    policies.create(e2e_ns, "second", policyPack={"akas": [shared], "adopt": True}, enforcement="Skip")
    second = policies.wait_condition(e2e_ns, "second", "Ready", "False", reason="PackConflict")
    message = str((condition(second, "Ready") or {}).get("message"))
    owner = f"EcrPrivacyPolicy {e2e_ns}/first (UID {first['metadata']['uid']}) in this cluster"
    assert owner in message, message
    assert before["id"] in message

    # the first object keeps its pack, its settings and Ready, also through a pass of its own
    policies.patch_spec(e2e_ns, "first", {"resyncInterval": "10m"})
    policies.wait_ready(e2e_ns, "first")
    gr = Guardrails.of(emulator)
    pack = gr.pack(first["metadata"]["uid"])
    assert pack is not None
    assert pack["id"] == before["id"]
    assert set(pack["akas"]) == {shared, ownership_aka(policies.api, first)}
    assert gr.settings(pack["id"])[P_APPROVED]["value"] == "Enforce: Delete unapproved if new"
    assert gr.pack(second["metadata"]["uid"]) is None

    # deleting the second object leaves the pack it found
    policies.delete(e2e_ns, "second")
    policies.wait_gone(e2e_ns, "second")
    after = Guardrails.of(emulator).pack(first["metadata"]["uid"])
    assert after is not None
    assert after["id"] == before["id"]
    assert policies.wait_ready(e2e_ns, "first")


def test_a_rebuilt_cluster_takes_back_its_packs(
    operator_factory: Callable[..., OperatorProcess],
    operator_identity: OperatorIdentity,
    emulator: EmulatorProcess,
    policies: Policies,
    solo_ns: str,
) -> None:
    operator_identity.emulator_credentials(solo_ns, emulator)
    running = operator_factory(solo_ns)
    names = ["alpha", "beta", "gamma"]
    old = {name: policies.create(solo_ns, name, enforcement="Enforce") for name in names}
    for name in names:
        policies.wait_ready(solo_ns, name)
    gr = Guardrails.of(emulator)
    packs = {}
    for name in names:
        pack = gr.pack(old[name]["metadata"]["uid"])
        assert pack is not None
        packs[name] = pack["id"]

    # the cluster is lost: its objects vanish without their finalizer ever running
    running.stop()
    for name in names:
        policies.objects.patch_namespaced_custom_object(
            GROUP, VERSION, solo_ns, PLURAL, name, {"metadata": {"finalizers": None}}
        )
        policies.delete(solo_ns, name)
        policies.wait_gone(solo_ns, name)

    # rebuilt from Git (same manifests plus adopt: true, new UIDs), with the same cluster identity
    new = {
        name: policies.create(
            solo_ns,
            name,
            enforcement="Enforce",
            policyPack={"akas": [f"e2e:{solo_ns}:{name}"], "adopt": True},
        )
        for name in names
    }
    running.restart()
    for name in names:
        policies.wait_ready(solo_ns, name)
    gr = Guardrails.of(emulator)
    for name in names:
        uid = new[name]["metadata"]["uid"]
        assert uid != old[name]["metadata"]["uid"]
        pack = gr.pack(uid)
        assert pack is not None
        assert pack["id"] == packs[name]  # taken back, not made again
        assert ownership_aka(policies.api, new[name]) in pack["akas"]
        assert gr.packs_owned(old[name]["metadata"]["uid"]) == []
        assert gr.settings(pack["id"])[P_APPROVED]["value"] == "Enforce: Delete unapproved if new"
    assert len(gr.packs()) == len(names)  # 0 duplicates
