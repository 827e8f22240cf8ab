"""Lifecycle under load and change, as a user meets it: a mass deletion keeps to the concurrency limit and
leaves no pack and no metric series; a rotated key applies in the very pass that first meets it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from kubernetes import client as k8s
from tests.controlplane.harness import free_port
from tests.fixtures.emulator import EmulatorProcess
from tests.fixtures.kube import wait_for
from tests.fixtures.operator import OperatorIdentity, OperatorProcess
from tests.fixtures.policies import Guardrails, Policies, condition_status

LIMIT = 4
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


def test_a_rotated_key_applies_in_the_pass_that_meets_it(
    solo_ns: str,
    tmp_path: Path,
    emulator_factory: Callable[..., EmulatorProcess],
    operator_identity: OperatorIdentity,
    operator_factory: Callable[..., OperatorProcess],
    policies: Policies,
) -> None:
    port = free_port()  # the emulator comes back on the same address, with its state, and another key
    emulator = emulator_factory(state_file=tmp_path / "workspace.json", extra_args=["--port", str(port)])
    operator_identity.emulator_credentials(solo_ns, emulator)
    operator_factory(solo_ns)
    policies.create(solo_ns, "p")
    policies.wait_ready(solo_ns, "p")

    # the key is rotated: Guardrails accepts only the new one from now on, and the Secret holds it
    emulator.extra_args += ["--access-key", "rotated-access-key", "--secret-key", "rotated-secret-key"]
    emulator.restart()
    operator_identity.secret(
        solo_ns, "guardrails-credentials", access_key="rotated-access-key", secret_key="rotated-secret-key"
    )
    policies.patch_spec(solo_ns, "p", {"enforcement": "Enforce"})
    policies.wait_ready(solo_ns, "p", timeout=20)
    assert "Unauthorized" not in policies.event_reasons(solo_ns, "p"), "a pass ran with the old key"
