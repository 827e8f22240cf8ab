"""Bad input, every field: values the API server admits but nobody would write on purpose (unicode, the longest
strings, numbers where names go, duplicates, odd URLs and keys) are driven through the operator. Each object
ends with a condition that has a reason, and the operator never logs a traceback (an unhandled exception)."""

from __future__ import annotations

import base64
import time
from typing import Any

from kubernetes import client as k8s
from tests.fixtures.emulator import ACCOUNT_AKA, ADMIN_KEY, EmulatorProcess
from tests.fixtures.operator import OperatorIdentity, OperatorProcess
from tests.fixtures.policies import P_ECR_ENABLED, Policies, condition
from tests.fixtures.tenancy import ClusterWorkspaces

ROOT = "tmod:@turbot/turbot#/"
LONG_NUMBER = "9" * 40

# one odd value per policy field (the rest of the spec is the ordinary one)
ODD_POLICIES: dict[str, dict[str, Any]] = {
    "title-unicode": {"policyPack": {"title": "\U0001f642" * 255}},
    "title-controls": {"policyPack": {"title": "a\nb\tc\u202ed"}},
    "description-empty": {"policyPack": {"description": ""}},
    "description-longest": {"policyPack": {"description": "d" * 4096}},
    "aka-unicode": {"policyPack": {"akas": ["\U0001f642-aka"]}},
    "aka-longest": {"policyPack": {"akas": ["a" * 256]}},
    "aka-is-the-root": {"policyPack": {"akas": [ROOT]}},
    "aka-is-an-account": {"policyPack": {"akas": [ACCOUNT_AKA]}},
    "aka-duplicates": {"policyPack": {"akas": ["dup-aka-x", "dup-aka-x"]}},
    "aka-none": {"policyPack": {"akas": []}},
    "aka-number": {"policyPack": {"akas": [LONG_NUMBER]}},
    "parent-unicode": {"policyPack": {"parent": "\U0001f642"}},
    "parent-longest": {"policyPack": {"parent": "p" * 512}},
    "parent-number": {"policyPack": {"parent": LONG_NUMBER}},
    "parent-negative": {"policyPack": {"parent": "-1"}},
    "parent-account": {"policyPack": {"parent": ACCOUNT_AKA}},
    "parent-spaces": {"policyPack": {"parent": "   "}},
    "setting-null": {"additionalSettings": [{"type": P_ECR_ENABLED, "value": None}]},
    "setting-object": {"additionalSettings": [{"type": P_ECR_ENABLED, "value": {"a": [1, {"b": None}]}}]},
    "setting-list": {"additionalSettings": [{"type": P_ECR_ENABLED, "value": [1, "x", None]}]},
    "setting-huge-number": {"additionalSettings": [{"type": P_ECR_ENABLED, "value": 1e308}]},
    "setting-bool": {"additionalSettings": [{"type": P_ECR_ENABLED, "value": True}]},
    "setting-long-string": {"additionalSettings": [{"type": P_ECR_ENABLED, "value": "v" * 65536}]},
    "setting-twice": {
        "additionalSettings": [
            {"type": P_ECR_ENABLED, "value": "Enabled"},
            {"type": P_ECR_ENABLED, "value": "Disabled"},
        ]
    },
    "setting-odd-type": {"additionalSettings": [{"type": "tmod:@a/b#/policy/types/_", "value": "x"}]},
    "setting-template": {"additionalSettings": [{"type": P_ECR_ENABLED, "valueSource": "{{ }} {% %}"}]},
    "setting-template-long": {"additionalSettings": [{"type": P_ECR_ENABLED, "valueSource": "t" * 65536}]},
    "setting-both": {
        "additionalSettings": [{"type": P_ECR_ENABLED, "value": "Enabled", "valueSource": "x: y"}]
    },
    "setting-note": {
        "additionalSettings": [{"type": P_ECR_ENABLED, "value": "Enabled", "note": "\U0001f642" * 4096}]
    },
    "target-unicode": {"attachments": [{"resource": "\U0001f642"}]},
    "target-number": {"attachments": [{"resource": LONG_NUMBER}]},
    "target-negative": {"attachments": [{"resource": "-1"}]},
    "target-zero": {"attachments": [{"resource": "0"}]},
    "target-longest": {"attachments": [{"resource": "r" * 512}]},
    "target-root": {"attachments": [{"resource": ROOT}]},
    "target-duplicates": {"attachments": [{"resource": ACCOUNT_AKA}] * 64},
    "target-none": {"attachments": []},
    "resync-shortest": {"resyncInterval": "10s"},
    "resync-longest": {"resyncInterval": "0h1440m0s"},
    "resync-many-parts": {"resyncInterval": "1s1s1s1s1s1s1s3s"},
    "workspace-missing": {"workspaceRef": {"name": "w" * 63}},
    "cluster-workspace-missing": {"workspaceRef": {"kind": "ClusterGuardrailsWorkspace", "name": "nope"}},
}


def odd_workspaces(emulator_url: str) -> dict[str, dict[str, Any]]:
    """One odd workspace spec per name (each gets a Secret with the emulator's keys and a policy)."""
    return {
        "ws-top-port": {"url": "http://127.0.0.1:65535"},
        "ws-huge-version": {"url": f"{emulator_url}/api/v{LONG_NUMBER}"},
        "ws-percent": {"url": f"{emulator_url}/%zz/api/latest"},
        "ws-dots": {"url": f"{emulator_url}/api/latest/../../latest"},
        "ws-query": {"url": f"{emulator_url}/api/latest?x=1#y"},
        "ws-no-scheme": {"url": emulator_url.removeprefix("http://")},
        "ws-bad-ip": {"url": "http://999.999.999.999"},
        "ws-long-label": {"url": "http://" + "a" * 63 + "." + "b" * 63 + ".example"},
        "ws-ca-garbage": {"url": emulator_url, "caBundle": "not a certificate"},
        "ws-ca-bad-pem": {
            "url": emulator_url,
            "caBundle": "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n",
        },
    }


# odd keys: (accessKey, secretKey) as raw bytes
ODD_SECRETS: dict[str, tuple[bytes, bytes]] = {
    "keys-unicode": ("\U0001f642".encode(), "é".encode()),
    "keys-newlines": (b"a\nb", b"c\r\nd"),
    "keys-long": (b"a" * 5000, b"s" * 5000),
    "keys-not-utf8": (b"\xff\xfe", b"\xc3\x28"),
    "keys-nul": (b"a\x00b", ADMIN_KEY[1].encode()),
}


# one odd value per ClusterGuardrailsWorkspace field (each allows the test's namespace unless it says otherwise)
ODD_SCOPES: dict[str, dict[str, Any]] = {
    "ns-many-names": {"allowedNamespaces": {"names": [f"n{i}" for i in range(255)]}},
    "ns-empty-selector": {"allowedNamespaces": {"selector": {}}},
    "ns-odd-selector": {
        "allowedNamespaces": {
            "selector": {
                "matchLabels": {"": ""},
                "matchExpressions": [{"key": "k" * 317, "operator": "In", "values": ["", "\U0001f642"]}],
            }
        }
    },
    "targets-unicode": {"allowedTargets": ["\U0001f642"]},
    "targets-number": {"allowedTargets": [LONG_NUMBER, "-1", "0"]},
    "targets-longest": {"allowedTargets": ["t" * 512] * 3},
    "targets-root": {"allowedTargets": [ROOT]},
    "enforcement-none": {"allowedEnforcement": []},
    "parents-odd": {"allowedParents": ["\U0001f642", LONG_NUMBER]},
    "types-odd": {"allowedPolicyTypes": ["x", "\U0001f642", "t" * 512]},
    "adoption": {"allowAdoption": True},
    "ca-not-pem": {"caBundle": "-----BEGIN CERTIFICATE-----garbage"},
}


def _raw_secret(api: k8s.ApiClient, namespace: str, name: str, access: bytes, secret: bytes) -> None:
    data = {"accessKey": base64.b64encode(access).decode(), "secretKey": base64.b64encode(secret).decode()}
    body = k8s.V1Secret(metadata=k8s.V1ObjectMeta(name=name, namespace=namespace), type="Opaque", data=data)
    k8s.CoreV1Api(api).create_namespaced_secret(namespace, body)


def _try_create(policies: Policies, namespace: str, name: str, spec: dict[str, Any]) -> bool:
    """Create the policy; False if the API server refuses it (then the schema already covers that value)."""
    try:
        policies.create(namespace, name, **spec)
    except k8s.ApiException as exc:
        if exc.status == 422:
            return False
        raise
    return True


def _wait_concluded(policies: Policies, namespace: str, names: list[str], timeout: float = 120) -> list[str]:
    """Wait until each object has a Ready condition with a reason and a message for its current generation;
    return those that have none by then."""

    def concluded() -> list[str]:
        pending = []
        for name in names:
            obj = policies.must_get(namespace, name)
            ready = condition(obj, "Ready")
            current = ready is not None and ready.get("observedGeneration") == obj["metadata"]["generation"]
            if not (current and ready and ready.get("reason") and ready.get("message")):
                pending.append(name)
        return pending

    deadline = time.monotonic() + timeout
    while (pending := concluded()) and time.monotonic() < deadline:
        time.sleep(1)
    return pending


def test_odd_values_of_every_field_end_in_conditions_not_tracebacks(
    operator: OperatorProcess,
    emulator: EmulatorProcess,
    operator_identity: OperatorIdentity,
    policies: Policies,
    api_client: k8s.ApiClient,
    e2e_ns: str,
) -> None:
    log_mark = len(operator.log())
    admitted: list[str] = []
    for name, spec in ODD_POLICIES.items():
        if _try_create(policies, e2e_ns, name, spec):
            admitted.append(name)
    for name, ws in odd_workspaces(emulator.url).items():
        operator_identity.secret(e2e_ns, name, access_key=ADMIN_KEY[0], secret_key=ADMIN_KEY[1])
        try:
            operator_identity.workspace(e2e_ns, name, secret=name, **ws)
        except k8s.ApiException as exc:
            if exc.status != 422:
                raise
            continue
        if _try_create(policies, e2e_ns, f"p-{name}", {"workspaceRef": {"name": name}}):
            admitted.append(f"p-{name}")
    for name, (access, secret) in ODD_SECRETS.items():
        _raw_secret(api_client, e2e_ns, name, access, secret)
        operator_identity.workspace(e2e_ns, name, url=emulator.url, secret=name)
        if _try_create(policies, e2e_ns, f"p-{name}", {"workspaceRef": {"name": name}}):
            admitted.append(f"p-{name}")
    assert len(admitted) > 40, admitted  # most odd values are admitted: the operator must cope

    pending = _wait_concluded(policies, e2e_ns, admitted)
    assert not pending, f"no Ready condition with a reason for the current generation: {pending}"
    log = operator.log()[log_mark:]
    assert "Traceback" not in log, log[log.find("Traceback") - 2000 : log.find("Traceback") + 3000]
    assert operator.alive


def test_odd_values_of_every_cluster_workspace_field_end_in_conditions_not_tracebacks(
    operator: OperatorProcess,
    emulator: EmulatorProcess,
    policies: Policies,
    cluster_workspaces: ClusterWorkspaces,
    e2e_ns: str,
) -> None:
    log_mark = len(operator.log())
    admitted = []
    for name, spec in ODD_SCOPES.items():
        scope = {"allowedNamespaces": {"names": [e2e_ns]}, **spec}
        if name == "ns-many-names":
            scope["allowedNamespaces"]["names"].append(e2e_ns)
        try:
            org = cluster_workspaces.create(emulator, **scope)
        except k8s.ApiException as exc:
            if exc.status != 422:
                raise
            continue
        ref = {"workspaceRef": {"kind": "ClusterGuardrailsWorkspace", "name": org}}
        adopt = {"policyPack": {"adopt": True, "akas": [f"odd-{name}"]}} if name == "adoption" else {}
        if _try_create(policies, e2e_ns, name, {**ref, **adopt}):
            admitted.append(name)
    assert len(admitted) > 8, admitted
    pending = _wait_concluded(policies, e2e_ns, admitted)
    assert not pending, f"no Ready condition with a reason for the current generation: {pending}"
    log = operator.log()[log_mark:]
    assert "Traceback" not in log, log[log.find("Traceback") - 2000 : log.find("Traceback") + 3000]
    assert operator.alive
