"""What a cluster workspace allows, as pure checks: hosts, namespaces, enforcement, policy types, adoption, and
targets/parents by Guardrails' resource path (never by string prefix)."""

from __future__ import annotations

from typing import Any

import pytest

from ecr_privacy_operator.crd.conditions import Reason
from ecr_privacy_operator.crd.spec import parse_spec
from ecr_privacy_operator.crd.workspace import ClusterGuardrailsWorkspaceSpec, LabelSelector
from ecr_privacy_operator.guardrails.models import ResourceInfo
from ecr_privacy_operator.reconcile import scopes

pytestmark = pytest.mark.unit

ROOT = "tmod:@turbot/turbot#/"


def scope(**fields: Any) -> ClusterGuardrailsWorkspaceSpec:
    base: dict[str, Any] = {
        "url": "https://acme.cloud.turbot.com",
        "credentialsSecretRef": {"name": "keys"},
        "allowedNamespaces": {"names": ["team-a"]},
        "allowedTargets": ["folder-a"],
    }
    return ClusterGuardrailsWorkspaceSpec.model_validate({**base, **fields})


@pytest.mark.parametrize(
    ("url", "patterns", "ok"),
    [
        ("https://acme.cloud.turbot.com", ("*.cloud.turbot.com",), True),
        ("https://ACME.cloud.turbot.com:443/api/latest/graphql", ("*.cloud.turbot.com",), True),
        ("https://cloud.turbot.com", ("*.cloud.turbot.com",), False),
        ("https://evilcloud.turbot.com", ("*.cloud.turbot.com",), False),
        ("https://acme.cloud.turbot.com.evil.example", ("*.cloud.turbot.com",), False),
        ("http://127.0.0.1:8080", ("http://127.0.0.1:*",), True),
        ("http://127.0.0.2:8080", ("http://127.0.0.1:*",), False),
        ("http://127.0.0.1:8080", (), False),
        # https only, unless an entry opts in to http: keys never travel in cleartext by accident
        ("http://127.0.0.1:8080", ("127.0.0.1:*",), False),
        ("http://acme.cloud.turbot.com", ("*.cloud.turbot.com",), False),
        ("https://acme.cloud.turbot.com", ("http://*.cloud.turbot.com",), False),
        ("http://guardrails.internal", ("http://guardrails.internal",), True),  # port 80
        # port 443 only, unless an entry names a port (or *)
        ("https://acme.cloud.turbot.com:8443", ("*.cloud.turbot.com",), False),
        ("https://acme.cloud.turbot.com:8443", ("*.cloud.turbot.com:8443",), True),
        ("https://acme.cloud.turbot.com:8444", ("*.cloud.turbot.com:8443",), False),
        ("https://acme.cloud.turbot.com:8444", ("*.cloud.turbot.com:*",), True),
        ("https://acme.cloud.turbot.com:443", ("acme.cloud.turbot.com:443",), True),
        ("https://acme.cloud.turbot.com:99999", ("*.cloud.turbot.com:*",), False),
        ("ftp://acme.cloud.turbot.com", ("*.cloud.turbot.com:*",), False),
    ],
)
def test_host_allowlist(url: str, patterns: tuple[str, ...], ok: bool) -> None:
    assert scopes.host_allowed(url, patterns) is ok
    refusal = scopes.host_refusal(url, patterns, "GuardrailsWorkspace t/w")
    assert (refusal is None) is ok
    if refusal is not None:
        assert refusal.reason is Reason.HOST_NOT_ALLOWED
        assert "no request was sent" in refusal.message
        assert "--allowed-hosts" in refusal.message


@pytest.mark.parametrize(
    "entry", ["", "*", "*.", "a..b", "host:0", "host:65536", "host:x", "ftp://host", "host/path", "a.*.b"]
)
def test_bad_allowlist_entries_are_refused(entry: str) -> None:
    with pytest.raises(ValueError, match="allowed host"):
        scopes.HostEntry.parse(entry)


def test_namespaces_by_name_and_by_selector() -> None:
    by_name = scope()
    assert scopes.namespace_refusal(by_name, "prod", "team-a", {}) is None
    refused = scopes.namespace_refusal(by_name, "prod", "team-b", {"tenant": "b"})
    assert refused is not None
    assert refused.reason is Reason.WORKSPACE_NOT_ALLOWED
    assert "team-b" in refused.message
    assert "prod" in refused.message
    by_label = scope(
        allowedNamespaces={
            "selector": {
                "matchLabels": {"guardrails": "prod"},
                "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["sandbox"]}],
            }
        }
    )
    assert scopes.namespace_refusal(by_label, "prod", "x", {"guardrails": "prod"}) is None
    assert (
        scopes.namespace_refusal(by_label, "prod", "x", {"guardrails": "prod", "tier": "sandbox"}) is not None
    )
    assert scopes.namespace_refusal(by_label, "prod", "x", {}) is not None
    assert scopes.namespace_refusal(by_label, "prod", "x", None) is not None  # unknown namespace: no


@pytest.mark.parametrize(
    ("requirement", "labels", "ok"),
    [
        ({"key": "a", "operator": "In", "values": ["1", "2"]}, {"a": "2"}, True),
        ({"key": "a", "operator": "In", "values": ["1"]}, {}, False),
        ({"key": "a", "operator": "NotIn", "values": ["1"]}, {}, True),
        ({"key": "a", "operator": "Exists"}, {"a": ""}, True),
        ({"key": "a", "operator": "DoesNotExist"}, {"a": ""}, False),
    ],
)
def test_selector_operators(requirement: dict[str, Any], labels: dict[str, str], ok: bool) -> None:
    assert LabelSelector.model_validate({"matchExpressions": [requirement]}).matches(labels) is ok


def test_empty_selector_matches_every_namespace() -> None:
    assert scopes.namespace_refusal(scope(allowedNamespaces={"selector": {}}), "prod", "any", {}) is None


@pytest.mark.parametrize(
    ("spec", "fields", "reason"),
    [
        ({"enforcement": "Enforce"}, {"allowedEnforcement": ["Check"]}, Reason.ENFORCEMENT_NOT_ALLOWED),
        ({"enforcement": "Check"}, {"allowedEnforcement": ["Check"]}, None),
        (
            {
                "additionalSettings": [
                    {"type": "tmod:@turbot/aws-s3#/policy/types/bucketApproved", "value": "x"}
                ]
            },
            {},
            Reason.POLICY_TYPE_NOT_ALLOWED,
        ),
        (
            {"additionalSettings": [{"type": "tmod:@turbot/aws-ecr#/policy/types/ecrEnabled", "value": "x"}]},
            {"allowedPolicyTypes": ["tmod:@turbot/aws-ecr#/policy/types/ecrEnabled"]},
            None,
        ),
        ({"policyPack": {"akas": ["a"], "adopt": True}}, {}, Reason.ADOPTION_NOT_ALLOWED),
        ({"policyPack": {"akas": ["a"], "adopt": True}}, {"allowAdoption": True}, None),
    ],
)
def test_spec_refusals(spec: dict[str, Any], fields: dict[str, Any], reason: Reason | None) -> None:
    refusal = scopes.spec_refusal(scope(**fields), "prod", parse_spec(spec))
    assert (refusal.reason if refusal else None) is reason


def resource(rid: str, path: str) -> ResourceInfo:
    return ResourceInfo(id=rid, akas=(), path=path)


# root 1 > folder-a 2 > account-a 3 > region 4;  root 1 > folder-b 5 > account-b 6
TREE = {
    ROOT: resource("1", "1"),
    "folder-a": resource("2", "1.2"),
    "account-a": resource("3", "1.2.3"),
    "region-a": resource("4", "1.2.3.4"),
    "account-b": resource("6", "1.5.6"),
    # an AKA that starts like an allowed one but lies elsewhere: a prefix test would let it through
    "folder-a-evil": resource("7", "1.5.7"),
}


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("folder-a", None),
        ("account-a", None),
        ("region-a", None),
        (ROOT, Reason.TARGET_NOT_ALLOWED),
        ("account-b", Reason.TARGET_NOT_ALLOWED),
        ("folder-a-evil", Reason.TARGET_NOT_ALLOWED),
        ("missing", Reason.TARGET_NOT_FOUND),
    ],
)
def test_targets_by_resource_path(target: str, reason: Reason | None) -> None:
    spec = parse_spec({"attachments": [{"resource": target}]})
    the_scope = scope(allowedParents=[ROOT])
    refs = scopes.placement_refs(the_scope, spec)
    assert {target, "folder-a", ROOT} <= set(refs)
    refusal = scopes.placement_refusal(the_scope, "prod", spec, {r: TREE.get(r) for r in refs})
    assert (refusal.reason if refusal else None) is reason


def test_parent_must_be_under_an_allowed_parent() -> None:
    spec = parse_spec({"attachments": [{"resource": "account-a"}], "policyPack": {"parent": "account-b"}})
    the_scope = scope(allowedParents=["folder-a"])
    refusal = scopes.placement_refusal(the_scope, "prod", spec, TREE)
    assert refusal is not None
    assert refusal.reason is Reason.PARENT_NOT_ALLOWED
    ok = parse_spec({"attachments": [{"resource": "account-a"}], "policyPack": {"parent": "folder-a"}})
    assert scopes.placement_refusal(the_scope, "prod", ok, TREE) is None


def test_refusals_are_stalled_except_a_missing_target() -> None:
    assert not scopes.Refusal(Reason.TARGET_NOT_ALLOWED, "m").outcome().retryable
    spec = parse_spec({"attachments": [{"resource": "missing"}]})
    refusal = scopes.placement_refusal(scope(), "prod", spec, TREE)
    assert refusal is not None
    assert refusal.outcome().retryable
