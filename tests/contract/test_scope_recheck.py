"""Every write follows a scope check made with the client that writes: the runtime's retry after ``Unauthorized``
(fresh keys from the Secret) checks the cluster workspace's scope again with the new client before it writes,
against the emulator over HTTP.

The old client's scope check answers from its cache of resource paths; the retry must not trust it.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf
import pytest

from ecr_privacy_operator.config import OperatorConfig
from ecr_privacy_operator.crd.spec import WorkspaceKind
from ecr_privacy_operator.metrics import Metrics
from ecr_privacy_operator.reconcile.clients import ClientPool
from ecr_privacy_operator.reconcile.workspaces import WorkspaceObject
from ecr_privacy_operator.runtime.passes import Runtime
from tests.fixtures.emulator import ACCOUNT_AKA, ADMIN_KEY, READ_ONLY_KEY, EmulatorProcess
from tests.fixtures.ownership import ownership
from tests.fixtures.runtime import CachingKube, queue_kopf_events

pytestmark = pytest.mark.contract

OPERATOR_NS = "ops"
ROOT = "tmod:@turbot/turbot#/"


def policy() -> kopf.Body:
    return kopf.Body(
        {
            "apiVersion": "ecrprivacy.dev/v1alpha1",
            "kind": "EcrPrivacyPolicy",
            "metadata": {"name": "p", "namespace": "team", "uid": "u-recheck", "generation": 1},
            "spec": {
                "workspaceRef": {"kind": "ClusterGuardrailsWorkspace", "name": "org"},
                "policyPack": {"akas": ["team:recheck"]},
                "attachments": [{"resource": ACCOUNT_AKA}],
            },
        }
    )


async def test_the_retry_with_fresh_keys_checks_the_scope_again(emulator: EmulatorProcess) -> None:
    queue_kopf_events()
    org = {
        "url": emulator.url,
        "credentialsSecretRef": {"name": "org-keys"},
        "allowedNamespaces": {"names": ["team"]},
        "allowedTargets": ["sandbox"],
    }

    def find(kind: WorkspaceKind, namespace: str, name: str) -> WorkspaceObject | None:
        if kind is WorkspaceKind.CLUSTER and name == "org":
            return WorkspaceObject(kind=kind, namespace="", name=name, spec=org)
        return None

    store: dict[tuple[str, str], dict[str, str]] = {
        (OPERATOR_NS, "org-keys"): {"accessKey": ADMIN_KEY[0], "secretKey": ADMIN_KEY[1]}
    }
    kube = CachingKube(store)
    config = OperatorConfig().model_copy(
        update={"allowed_hosts": ("http://127.0.0.1:*",), "operator_namespace": OPERATOR_NS}
    )
    runtime = Runtime.build(
        config=config, kube=kube, pool=ClientPool(), metrics=Metrics(), find=find, ownership=ownership()
    )
    logger = logging.getLogger("test")
    try:
        await runtime.sync(policy(), "create", logger)
        assert kube.patches[-1]["conditions"][0]["status"] == "True", kube.patches[-1]

        # Guardrails moves the account out of the Sandbox folder (same AKA, now under the root); the org rotates
        # its keys (the Secret now holds others) and the old pair is refused on its next request
        emulator.delete_resource(ACCOUNT_AKA)
        emulator.add_resource(ROOT, "moved", type="account", accountId="123456789012")
        store[(OPERATOR_NS, "org-keys")] = {"accessKey": READ_ONLY_KEY[0], "secretKey": READ_ONLY_KEY[1]}
        emulator.requests(clear=True)
        emulator.set_faults(nextN=1, statuses=[401])
        await runtime.sync(policy(), "resync", logger)
    finally:
        await runtime.pool.aclose()

    ready: dict[str, Any] = next(c for c in kube.patches[-1]["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "TargetNotAllowed"), ready
    sent = emulator.requests()["byOperation"]
    assert not [op for op in sent if op.startswith(("Attach", "Create", "Update", "Delete"))], sent
