"""Lifecycle under load and change, as a user meets it: a mass deletion keeps to the concurrency limit and
leaves no pack and no metric series; a rotated key applies in the very pass that first meets it, and no write
goes out with the old keys once the Secret holds new ones."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from kubernetes import client as k8s
from tests.controlplane.harness import free_port
from tests.fixtures.emulator import ADMIN_KEY, EmulatorProcess
from tests.fixtures.kube import wait_for
from tests.fixtures.operator import OperatorIdentity, OperatorProcess
from tests.fixtures.policies import Guardrails, Policies, condition_status

LIMIT = 4
NEW_KEY = ("rotated-access-key", "rotated-secret-key")
COUNT = 200


def test_deleting_200_objects_at_once_keeps_to_the_concurrency_limit(
    solo_ns: str,
    emulator_factory: Callable[..., EmulatorProcess],
    operator_identity: OperatorIdentity,
    operator_factory: Callable[..., OperatorProcess],
    policies: Policies,
) -> None:
    emulator = emulator_factory(extra_args=["--latency-ms", "20"])  # requests overlap: in-flight is visible
    operator_identity.emulator_credentials(solo_ns, emulator)
    # the activity feed's poll (one request per workspace every few seconds) is not a pass: off here, so that
    # what is counted is the passes and deletions alone
    env = {"ECR_PRIVACY_MAX_CONCURRENT_SYNCS": str(LIMIT), "ECR_PRIVACY_FEED_INTERVAL": "0"}
    operator = operator_factory(solo_ns, env=env)
    names = [f"p{i:03d}" for i in range(COUNT)]
    for name in names:
        policies.create(solo_ns, name)

    def ready() -> bool:
        objects = k8s.CustomObjectsApi(policies.api).list_namespaced_custom_object(
            "ecrprivacy.dev", "v1alpha1", solo_ns, "ecrprivacypolicies"
        )["items"]
        return sum(condition_status(o, "Ready") == "True" for o in objects) == COUNT

    wait_for(ready, timeout=240, interval=1, what=f"{COUNT} objects Ready")
    assert len(Guardrails.of(emulator).packs_with_aka_prefix(f"e2e:{solo_ns}:")) == COUNT
    assert (
        operator.metric("ecrprivacy_object_condition", namespace=solo_ns, condition="Ready", status="True")
        == COUNT
    )
    emulator.requests(clear=True)

    for name in names:  # all at once, as a namespace prune in Argo CD would
        policies.delete(solo_ns, name)
    wait_for(
        lambda: (
            not k8s.CustomObjectsApi(policies.api).list_namespaced_custom_object(
                "ecrprivacy.dev", "v1alpha1", solo_ns, "ecrprivacypolicies"
            )["items"]
        ),
        timeout=240,
        interval=1,
        what="every object gone",
    )
    stats = emulator.requests()
    assert stats["total"] >= COUNT, stats  # the deletions did reach Guardrails
    assert stats["maxInFlight"] <= LIMIT, f"{stats['maxInFlight']} Guardrails requests at once, limit {LIMIT}"
    assert Guardrails.of(emulator).packs_with_aka_prefix(f"e2e:{solo_ns}:") == []
    left = {
        dict(labels).get("name")
        for (sample, labels), _ in operator.metrics().items()
        if dict(labels).get("namespace") == solo_ns
    }
    assert left == set(), f"metric series of deleted objects remain: {sorted(left)[:5]}"


@pytest.fixture
def ready_before_a_rotation(
    solo_ns: str,
    tmp_path: Path,
    emulator_factory: Callable[..., EmulatorProcess],
    operator_identity: OperatorIdentity,
    operator_factory: Callable[..., OperatorProcess],
    policies: Policies,
) -> EmulatorProcess:
    """Policy ``p`` Ready on an emulator that can come back on the same address, with its state, and other
    keys (the operator has just read, and cached, the old keys)."""
    port = free_port()
    emulator = emulator_factory(state_file=tmp_path / "workspace.json", extra_args=["--port", str(port)])
    operator_identity.emulator_credentials(solo_ns, emulator)
    operator_factory(solo_ns)
    policies.create(solo_ns, "p")
    policies.wait_ready(solo_ns, "p")
    return emulator


def rotate(emulator: EmulatorProcess, identity: OperatorIdentity, namespace: str, old_may_read: bool) -> None:
    """Guardrails accepts the new key pair (and, if ``old_may_read``, the old one for reads only) and the Secret
    holds the new pair."""
    emulator.extra_args += ["--access-key", NEW_KEY[0], "--secret-key", NEW_KEY[1]]
    if old_may_read:
        emulator.read_only_key = ADMIN_KEY
    emulator.restart()
    identity.secret(namespace, "guardrails-credentials", access_key=NEW_KEY[0], secret_key=NEW_KEY[1])


def test_a_rotated_key_applies_in_the_pass_that_meets_it(
    ready_before_a_rotation: EmulatorProcess,
    operator_identity: OperatorIdentity,
    policies: Policies,
    solo_ns: str,
) -> None:
    rotate(ready_before_a_rotation, operator_identity, solo_ns, old_may_read=False)
    policies.patch_spec(solo_ns, "p", {"enforcement": "Enforce"})
    policies.wait_ready(solo_ns, "p", timeout=20)
    assert "Unauthorized" not in policies.event_reasons(solo_ns, "p"), "a pass ran with the old key"


def test_no_write_goes_out_with_the_old_keys_after_the_secret_changes(
    ready_before_a_rotation: EmulatorProcess,
    operator_identity: OperatorIdentity,
    policies: Policies,
    solo_ns: str,
) -> None:
    """Someone who rotates a leaked key and updates the Secret expects no write with the old keys any more, even
    within the operator's Secret cache time; the old pair may still read, but not write."""
    emulator = ready_before_a_rotation
    writes_before = len(emulator.activities())
    rotate(emulator, operator_identity, solo_ns, old_may_read=True)
    policies.patch_spec(solo_ns, "p", {"enforcement": "Enforce"})  # a write, within the Secret cache time
    policies.wait_ready(solo_ns, "p", timeout=30)

    assert "Forbidden" not in policies.event_reasons(solo_ns, "p"), "a write went out with the old keys"
    writes = emulator.activities()[writes_before:]
    actors = {(a.get("actor") or {}).get("title") for a in writes if a.get("actor")}
    assert actors == {NEW_KEY[0]}, actors
