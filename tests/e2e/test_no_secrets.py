"""No secret value leaks: a full run with its error paths — wrong keys (sync and deletion), a missing Secret, a
Secret without an access key, an unreachable workspace, Guardrails answering 5xx — with distinctive secret keys,
under a verbose operator logging JSON and then a verbose operator logging plain text. Neither the secret keys
nor the Basic credentials built from them appear in the operator logs, the Events, any object (status
included) or ``/metrics``. The JSON log is one JSON object a line, and each Guardrails change line names the
object, the action and the Guardrails id."""

from __future__ import annotations

import base64
import json
import re
import urllib.request
import uuid
from collections.abc import Callable

from kubernetes import client as k8s
from tests.fixtures.emulator import ADMIN_KEY, EmulatorProcess
from tests.fixtures.kube import GROUP, PLURAL, VERSION, wait_for
from tests.fixtures.operator import OperatorIdentity, OperatorProcess
from tests.fixtures.policies import Policies

SECRET = f"s3cr3t-{uuid.uuid4().hex}"  # the distinctive secret key of the wrong credentials
HARNESS_LINE = "===== start #"


def forbidden_strings() -> list[str]:
    values = [SECRET, ADMIN_KEY[1]]
    out = list(values)
    for value in values:
        out.append(base64.b64encode(value.encode()).decode())
        out.append(base64.b64encode(f"{ADMIN_KEY[0]}:{value}".encode()).decode())  # the Basic header
    return out


def everything_visible(
    operators: list[OperatorProcess], api_client: k8s.ApiClient, namespace: str
) -> dict[str, str]:
    """Every place a secret could surface, as text."""
    objects = k8s.CustomObjectsApi(api_client).list_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL
    )
    workspaces = k8s.CustomObjectsApi(api_client).list_namespaced_custom_object(
        GROUP, VERSION, namespace, "guardrailsworkspaces"
    )
    events = k8s.CoreV1Api(api_client).list_namespaced_event(namespace)
    places = {
        "objects (spec and status)": json.dumps(objects),
        "workspace objects (spec and status)": json.dumps(workspaces),
        "events": json.dumps(api_client.sanitize_for_serialization(events)),
    }
    for index, operator in enumerate(operators):
        places[f"operator #{index} log"] = operator.log()
        if operator.alive:
            with urllib.request.urlopen(operator.metrics_url, timeout=5) as response:
                places[f"operator #{index} /metrics"] = response.read().decode()
    return places


def assert_no_secret(places: dict[str, str]) -> None:
    for where, text in places.items():
        assert text, f"{where} is empty: the check would prove nothing"
        for needle in forbidden_strings():
            assert needle not in text, f"a secret value appears in {where}"


def prepare(
    identity: OperatorIdentity, emulator: EmulatorProcess, api_client: k8s.ApiClient, ns: str
) -> None:
    """The Secrets: the right keys, wrong keys, an unreachable workspace, a Secret without an access key."""
    identity.emulator_credentials(ns, emulator)  # "guardrails-credentials"
    identity.credentials_secret(
        ns, name="wrong", workspace=emulator.url, access_key=ADMIN_KEY[0], secret_key=SECRET
    )
    identity.credentials_secret(
        ns, name="unreachable", workspace="http://127.0.0.1:9", access_key=ADMIN_KEY[0], secret_key=SECRET
    )
    half = k8s.V1Secret(
        metadata=k8s.V1ObjectMeta(name="half"), data={"secretKey": base64.b64encode(SECRET.encode()).decode()}
    )
    k8s.CoreV1Api(api_client).create_namespaced_secret(ns, half)
    identity.workspace(ns, "half", url=emulator.url, secret="half")
    identity.workspace(ns, "absent", url=emulator.url, secret="absent")  # its Secret does not exist


def create_objects(policies: Policies, ns: str) -> None:
    orphan = {"deletionPolicy": "Orphan"}
    policies.create(ns, "good", resyncInterval="10s")
    policies.create(ns, "wrong-keys", workspaceRef={"name": "wrong"})
    policies.create(ns, "no-secret", workspaceRef={"name": "absent"}, **orphan)
    policies.create(ns, "half-secret", workspaceRef={"name": "half"}, **orphan)
    policies.create(ns, "unreachable", workspaceRef={"name": "unreachable"}, **orphan)


def test_no_secret_in_logs_events_status_or_metrics(
    operator_factory: Callable[..., OperatorProcess],
    operator_identity: OperatorIdentity,
    emulator: EmulatorProcess,
    policies: Policies,
    api_client: k8s.ApiClient,
    solo_ns: str,
) -> None:
    # the same run twice at once: JSON logs in one namespace, plain logs in another, both verbose
    plain_ns = f"solo-{uuid.uuid4().hex[:10]}"
    k8s.CoreV1Api(api_client).create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=plain_ns)))
    runs = {
        solo_ns: operator_factory(solo_ns, extra_args=["--log-format", "json", "--verbose"]),
        plain_ns: operator_factory(plain_ns, extra_args=["--log-format", "plain", "--verbose"]),
    }
    for ns in runs:
        prepare(operator_identity, emulator, api_client, ns)
        create_objects(policies, ns)
    for ns in runs:
        policies.wait_ready(ns, "good")
        policies.wait_condition(ns, "wrong-keys", "Ready", "False", reason="Unauthorized")
        policies.wait_condition(ns, "no-secret", "Ready", "False", reason="CredentialsNotFound")
        policies.wait_condition(ns, "half-secret", "Ready", "False", reason="CredentialsNotFound")

    # Guardrails failing: 5xx with HTML bodies on the good objects' next pass, then recovery
    emulator.set_faults(
        rate=1.0, statuses=[500, 502, 503], body="html", retryAfter=0.05, operations=["ObservePolicy"]
    )
    for ns in runs:
        policies.patch_spec(ns, "good", {"enforcement": "Enforce"})
    for ns in runs:
        policies.wait_condition(ns, "good", "Ready", "False", reason="GuardrailsUnavailable", timeout=20)
    emulator.clear_faults()

    # deletion with wrong keys waits (an error path of the finalizer) until the keys are fixed
    for ns in runs:
        policies.delete(ns, "wrong-keys")
    for ns, operator in runs.items():
        wait_for(
            lambda op=operator: "deletion waits" in op.log(), timeout=20, what=f"{ns}: finalizer failing"
        )
        policies.wait_ready(ns, "good", timeout=20)
        policies.wait_condition(
            ns, "unreachable", "Ready", "False", reason="GuardrailsUnavailable", timeout=30
        )
    for ns in runs:
        operator_identity.credentials_secret(
            ns, name="wrong", workspace=emulator.url, access_key=ADMIN_KEY[0], secret_key=ADMIN_KEY[1]
        )
    for ns in runs:
        policies.wait_gone(ns, "wrong-keys", timeout=20)

    # the JSON log: one object a line; the Guardrails change lines carry object, action and id
    json_log = runs[solo_ns].log()
    lines = [line for line in json_log.splitlines() if line.strip() and not line.startswith(HARNESS_LINE)]
    records = [json.loads(line) for line in lines]
    changes = [r for r in records if re.match(r"guardrails \w+ id=", str(r.get("message", "")))]
    assert {r["action"] for r in changes} >= {"PackCreated", "SettingCreated", "Attached", "SettingUpdated"}
    for record in changes:
        assert record["object"]["namespace"] == solo_ns, record
        assert record["object"]["name"] in ("good", "wrong-keys"), record
        assert record["guardrailsId"], record
        assert f"id={record['guardrailsId']}" in record["message"], record
    # the plain log: the object as a prefix
    assert re.search(rf"\[{plain_ns}/good\] guardrails PackCreated id=\d+", runs[plain_ns].log())

    for ns, operator in runs.items():
        assert_no_secret(everything_visible([operator], api_client, ns))
