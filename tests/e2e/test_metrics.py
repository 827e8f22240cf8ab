"""Observability of a real run, scraped from ``/metrics`` of a dedicated operator while objects sync against
the local kube-apiserver and the emulator: reconcile and request counters move, the latency histogram
counts, per-object gauges match the status, a console edit shows in the drift gauge, an injected Guardrails
outage moves the retry and error counters and fails a reconcile with a reason, a deleted object's series go.
And the health endpoints: ``/readyz`` waits for a working Guardrails client, ``/healthz`` fails while a pass
is wedged."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.fixtures.emulator import ADMIN_KEY, EmulatorProcess
from tests.fixtures.kube import wait_for
from tests.fixtures.operator import OperatorIdentity, OperatorProcess
from tests.fixtures.policies import P_APPROVED, Guardrails, Policies, condition_status

RECONCILES = "ecrprivacy_reconcile_total"
DURATION_COUNT = "ecrprivacy_reconcile_duration_seconds_count"
REQUESTS = "ecrprivacy_guardrails_requests_total"
LATENCY_COUNT = "ecrprivacy_guardrails_request_duration_seconds_count"
RETRIES = "ecrprivacy_guardrails_retries_total"
DRIFT = "ecrprivacy_drift_fields"
COMPLIANCE = "ecrprivacy_compliance_controls"
CONDITION = "ecrprivacy_object_condition"
OBJECTS = "ecrprivacy_objects"
CHANGES = "ecrprivacy_guardrails_changes_total"
UPDATE_SETTING = (
    """mutation($input: UpdatePolicySettingInput!) { updatePolicySetting(input: $input) { value } }"""
)
OLDEST_PASS = "ecrprivacy_oldest_pass_seconds"
RESYNC = 10  # seconds, the shortest the CRD allows


def sample_sum(operator: OperatorProcess, metric: str, /, **labels: str) -> float:
    """Like ``operator.metric`` but with a positional metric name, so that ``name=`` can be a label."""
    return sum(
        value
        for (sample, sample_labels), value in operator.metrics().items()
        if sample == metric and labels.items() <= dict(sample_labels).items()
    )


def series_of(operator: OperatorProcess, namespace: str, name: str) -> list[Any]:
    return [
        key for key in operator.metrics() if ("namespace", namespace) in key[1] and ("name", name) in key[1]
    ]


def test_metrics_move_while_objects_sync(
    operator_factory: Callable[..., OperatorProcess],
    operator_identity: OperatorIdentity,
    emulator: EmulatorProcess,
    policies: Policies,
    solo_ns: str,
) -> None:
    ns = solo_ns
    operator_identity.emulator_credentials(ns, emulator)
    operator = operator_factory(ns)
    assert operator.metric("ecrprivacy_build_info") == 1
    assert operator.readyz()[0] == 200  # started, nothing asked of Guardrails yet

    # several objects sync for real
    names = ("steady", "reported", "doomed")
    for name in names:
        drift_policy = "Report" if name == "reported" else "Correct"
        policies.create(ns, name, driftPolicy=drift_policy, resyncInterval=f"{RESYNC}s")
    objs = {name: policies.wait_ready(ns, name) for name in names}

    def m(metric: str, /, **labels: str) -> float:
        return sample_sum(operator, metric, **labels)

    wait_for(lambda: m(OBJECTS, condition="Ready", status="True") == 3, timeout=10, what="3 objects Ready")
    assert m(RECONCILES, result="Succeeded") >= 3
    assert m(DURATION_COUNT) >= m(RECONCILES) - 1e-9  # every reconcile is timed
    creates = m(REQUESTS, operation="CreatePolicyPack", outcome="ok")  # a first sync writes before it reads
    assert creates == 3
    assert m(LATENCY_COUNT, operation="CreatePolicyPack") >= creates
    scrape = operator.metrics()  # one scrape: one latency sample per attempt, whatever its outcome
    assert sum(v for (k, _), v in scrape.items() if k == REQUESTS) == sum(
        v for (k, _), v in scrape.items() if k == LATENCY_COUNT
    )
    assert m(CHANGES, action="PackCreated") == 3
    assert m(OBJECTS, condition="Stalled", status="True") == 0
    for name, obj in objs.items():
        assert m(CONDITION, namespace=ns, name=name, condition="Ready", status="True") == 1
        assert m(CONDITION, namespace=ns, name=name, condition="Ready", status="False") == 0
        assert m(DRIFT, namespace=ns, name=name) == 0
        compliance = obj["status"]["compliance"]
        for state in ("ok", "alarm", "error", "invalid", "skipped", "tbd"):
            assert m(COMPLIANCE, namespace=ns, name=name, state=state) == compliance[state], (name, state)
    assert operator.readyz()[0] == 200

    # a console edit under driftPolicy Report shows in the drift gauge at the next resync
    gr = Guardrails.of(emulator)
    pack = gr.pack(objs["reported"]["metadata"]["uid"])
    assert pack is not None
    emulator.data(
        UPDATE_SETTING, {"input": {"id": gr.settings(pack["id"])[P_APPROVED]["id"], "value": "Skip"}}
    )

    # meanwhile: a deleted object's series disappear
    policies.delete(ns, "doomed")
    policies.wait_gone(ns, "doomed")
    wait_for(lambda: not series_of(operator, ns, "doomed"), timeout=10, what="doomed's series removed")
    assert m(CHANGES, action="PackDeleted") == 1

    wait_for(lambda: m(DRIFT, namespace=ns, name="reported") == 1, timeout=RESYNC * 1.1 + 8, what="drift")
    assert condition_status(policies.must_get(ns, "reported"), "Drifted") == "True"
    assert m(OBJECTS, condition="Drifted", status="True") == 1
    assert m(OBJECTS, condition="Ready", status="True") == 1  # Report leaves the drift: not Ready
    assert m(CONDITION, namespace=ns, name="reported", condition="Drifted", status="True") == 1
    assert m(DRIFT, namespace=ns, name="steady") == 0

    # an injected Guardrails outage: every ObservePolicy answers 503 (JSON body) until the retries run out
    before = {
        "retries": m(RETRIES, operation="ObservePolicy"),
        "transient": m(REQUESTS, operation="ObservePolicy", outcome="transient"),
        "failed": m(RECONCILES, result="Failed", reason="GuardrailsUnavailable"),
    }
    emulator.set_faults(nextN=100, statuses=[503], body="json", retryAfter=0.05, operations=["ObservePolicy"])
    policies.patch_spec(ns, "steady", {"resyncInterval": "11s"})  # a spec change: a pass right now
    policies.wait_condition(ns, "steady", "Ready", "False", reason="GuardrailsUnavailable", timeout=20)
    # the gauges follow the status write within the same pass; read them while the outage still lasts
    wait_for(
        lambda: m(CONDITION, namespace=ns, name="steady", condition="Ready", status="False") == 1,
        timeout=5,
        what="steady's Ready=False gauge",
    )
    emulator.clear_faults()
    assert m(RETRIES, operation="ObservePolicy") >= before["retries"] + 4
    assert m(REQUESTS, operation="ObservePolicy", outcome="transient") >= before["transient"] + 5
    assert m(RECONCILES, result="Failed", reason="GuardrailsUnavailable") >= before["failed"] + 1
    assert operator.readyz()[0] == 200  # a working client was seen: an outage does not unready the pod

    # and it recovers on the backoff retry
    policies.wait_ready(ns, "steady", timeout=20)
    wait_for(
        lambda: m(CONDITION, namespace=ns, name="steady", condition="Ready", status="True") == 1,
        timeout=5,
        what="steady Ready in the metrics",
    )
    assert m("ecrprivacy_passes_in_flight") >= 0
    assert ADMIN_KEY[1] not in operator.log()


def test_readiness_waits_for_a_working_client_and_a_slow_pass_ends_at_its_deadline(
    operator_factory: Callable[..., OperatorProcess],
    operator_identity: OperatorIdentity,
    emulator: EmulatorProcess,
    policies: Policies,
    solo_ns: str,
) -> None:
    ns = solo_ns
    operator_identity.credentials_secret(
        ns, workspace=emulator.url, access_key=ADMIN_KEY[0], secret_key="not-the-secret-key"
    )
    env = {"ECR_PRIVACY_WEDGED_AFTER": "3", "ECR_PRIVACY_PASS_DEADLINE": "1"}
    operator = operator_factory(ns, env=env)
    assert operator.readyz()[0] == 200
    policies.create(ns, "probe", resyncInterval=f"{RESYNC}s")
    policies.wait_condition(ns, "probe", "Ready", "False", reason="Unauthorized")
    assert operator.readyz()[0] == 503  # every Guardrails request so far was refused

    operator_identity.emulator_credentials(ns, emulator)  # fix the keys: the backoff retry reads them afresh
    policies.wait_ready(ns, "probe", timeout=20)
    assert operator.readyz()[0] == 200

    # Guardrails hangs (5 s a request): the pass ends at its 1 s deadline as a condition, long before the
    # liveness limit (3 s), so the operator is never reported wedged and nothing restarts it
    emulator.set_faults(latencyMs=5000)
    policies.patch_spec(ns, "probe", {"resyncInterval": "11s"})
    policies.wait_condition(ns, "probe", "Ready", "False", reason="PassDeadlineExceeded", timeout=15)
    assert sample_sum(operator, OLDEST_PASS) < 3
    assert operator.get(operator.liveness_url)[0] == 200
    emulator.clear_faults()
    policies.wait_ready(ns, "probe", timeout=30)
    assert operator.alive
