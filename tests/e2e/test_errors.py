"""Errors are conditions, not crash loops: each broken object gets Ready=False with its CamelCase reason and a
message (Stalled=True where retrying cannot help), the operator keeps running, a healthy neighbour is not
disturbed, and every object recovers once the cause is fixed — without anyone touching the operator."""

from __future__ import annotations

import uuid
from typing import Any

from kubernetes import client as k8s
from tests.fixtures.emulator import ACCOUNT_AKA, ADMIN_KEY, EmulatorProcess
from tests.fixtures.operator import OperatorIdentity, OperatorProcess
from tests.fixtures.policies import P_ECR_ENABLED, Guardrails, Policies, condition, condition_status

UNKNOWN_TYPE = "tmod:@turbot/aws-nope#/policy/types/doesNotExist"
UNKNOWN_ACCOUNT = "arn:aws:::999999999999"

# name -> (spec, reason, Stalled)
BROKEN: dict[str, tuple[dict[str, Any], str, str]] = {
    "no-workspace": ({"workspaceRef": {"name": "made-later"}}, "WorkspaceNotFound", "False"),
    "no-secret": ({"workspaceRef": {"name": "created-later"}}, "CredentialsNotFound", "True"),
    "bad-keys": ({"workspaceRef": {"name": "wrong-keys"}}, "Unauthorized", "True"),
    "no-type": (
        {"additionalSettings": [{"type": UNKNOWN_TYPE, "value": "Enabled"}]},
        "PolicyTypeNotFound",
        "True",
    ),
    # the type exists, but its schema is an enum of Enabled / Enabled: Metadata Only / Disabled
    "bad-value": (
        {"additionalSettings": [{"type": P_ECR_ENABLED, "value": "Sometimes"}]},
        "InvalidValue",
        "True",
    ),
    "no-target": ({"attachments": [{"resource": UNKNOWN_ACCOUNT}]}, "TargetNotFound", "False"),
}


def test_errors_become_conditions_and_recover(
    operator: OperatorProcess,
    emulator: EmulatorProcess,
    operator_identity: OperatorIdentity,
    policies: Policies,
    e2e_ns: str,
) -> None:
    log_mark = len(operator.log())
    operator_identity.credentials_secret(
        e2e_ns, name="wrong-keys", workspace=emulator.url, access_key=ADMIN_KEY[0], secret_key="not-the-key"
    )
    operator_identity.workspace(
        e2e_ns, "created-later", url=emulator.url, secret="created-later"
    )  # no Secret
    healthy_uid = policies.create(e2e_ns, "healthy")["metadata"]["uid"]
    uids = {
        name: policies.create(e2e_ns, name, **spec)["metadata"]["uid"]
        for name, (spec, _, _) in BROKEN.items()
    }
    healthy = policies.wait_ready(e2e_ns, "healthy")

    for name, (_, reason, stalled) in BROKEN.items():
        obj = policies.wait_condition(e2e_ns, name, "Ready", "False", reason=reason)
        ready = condition(obj, "Ready")
        assert ready is not None, obj["status"]
        assert ready["message"], obj["status"]
        assert condition_status(obj, "Stalled") == stalled, obj["status"]
        assert condition_status(obj, "Reconciling") == ("False" if stalled == "True" else "True")
        policies.wait_event(e2e_ns, name, reason, "Warning")
    assert "not-the-key" not in operator.log()[log_mark:]
    gr = Guardrails.of(emulator)
    assert gr.pack(uids["no-workspace"]) is None
    assert gr.pack(uids["no-secret"]) is None
    assert gr.pack(uids["bad-keys"]) is None
    assert gr.pack(uids["no-type"]) is None  # blocked by the plan before any write
    assert operator.alive

    # the healthy object was never disturbed
    again = policies.wait_ready(e2e_ns, "healthy")
    assert condition(again, "Ready") == condition(healthy, "Ready")
    assert Guardrails.of(emulator).pack(healthy_uid) is not None

    # fix every cause; each object recovers on its own retry
    operator_identity.emulator_credentials(e2e_ns, emulator, name="made-later")
    operator_identity.emulator_credentials(e2e_ns, emulator, name="created-later")
    operator_identity.emulator_credentials(e2e_ns, emulator, name="wrong-keys")  # the keys rotated
    policies.patch_spec(e2e_ns, "no-type", {"additionalSettings": []})
    policies.patch_spec(
        e2e_ns, "bad-value", {"additionalSettings": [{"type": P_ECR_ENABLED, "value": "Disabled"}]}
    )
    policies.patch_spec(e2e_ns, "no-target", {"attachments": [{"resource": ACCOUNT_AKA}]})
    for name in BROKEN:
        obj = policies.wait_ready(e2e_ns, name, timeout=30)
        assert condition_status(obj, "Stalled") == "False"
    gr = Guardrails.of(emulator)
    account_id = gr.resource_id(ACCOUNT_AKA)
    for name, uid in uids.items():
        pack = gr.pack(uid)
        assert pack is not None, name
        assert gr.attached_to(pack["id"]) == [account_id], name
    bad_value_pack = gr.pack(uids["bad-value"])
    assert bad_value_pack is not None
    assert gr.settings(bad_value_pack["id"])[P_ECR_ENABLED]["value"] == "Disabled"

    assert operator.alive
    assert "Traceback" not in operator.log()[log_mark:]


def test_unreadable_secret_is_a_condition_until_access_is_granted(
    operator: OperatorProcess,
    emulator: EmulatorProcess,
    operator_identity: OperatorIdentity,
    policies: Policies,
    api_client: k8s.ApiClient,
) -> None:
    """A namespace where nobody bound ecr-privacy-operator-credentials: the operator may not read the Secret."""
    ns = f"e2e-{uuid.uuid4().hex[:10]}"
    k8s.CoreV1Api(api_client).create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=ns)))
    operator_identity.emulator_credentials(ns, emulator, grant=False)
    log_mark = len(operator.log())
    uid = policies.create(ns, "locked-out")["metadata"]["uid"]

    obj = policies.wait_condition(ns, "locked-out", "Ready", "False", reason="CredentialsNotFound")
    ready = condition(obj, "Ready")
    assert ready is not None
    assert "forbidden" in ready["message"].lower(), ready
    assert condition_status(obj, "Stalled") == "True"
    assert Guardrails.of(emulator).pack(uid) is None

    operator_identity.grant_credentials(ns)
    policies.wait_ready(ns, "locked-out")
    assert Guardrails.of(emulator).pack(uid) is not None
    assert "Traceback" not in operator.log()[log_mark:]
