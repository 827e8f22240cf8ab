"""What a cluster workspace allows, as pure checks: hosts, namespaces, enforcement, policy types, adoption, AKA
prefixes, targets/parents by Guardrails' resource path (never by string prefix), and a pack found by its AKA,
adopted only when everything it does is inside the scope."""

from __future__ import annotations

from typing import Any

import pytest

from ecr_privacy_operator.crd.conditions import Reason
from ecr_privacy_operator.crd.spec import parse_spec
from ecr_privacy_operator.crd.workspace import ClusterGuardrailsWorkspaceSpec, LabelSelector
from ecr_privacy_operator.guardrails.models import ResourceInfo
from ecr_privacy_operator.reconcile import scopes
from ecr_privacy_operator.reconcile.observed import ObservedPack, ObservedSetting

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
        (
            {"policyPack": {"akas": ["a"], "adopt": True, "adoptFromOtherClusters": True}},
            {"allowAdoption": True},
            Reason.ADOPTION_NOT_ALLOWED,
        ),
        (
            {"policyPack": {"akas": ["a"], "adopt": True, "adoptFromOtherClusters": True}},
            {"allowAdoption": True, "allowAdoptionFromOtherClusters": True},
            None,
        ),
        # AKAs under the namespace's own prefix only: the seed default and another team's are refused
        ({}, {"allowedAkaPrefixes": ["acme/{namespace}/"]}, Reason.AKA_NOT_ALLOWED),
        ({"policyPack": {"akas": ["acme/team-a/ecr"]}}, {"allowedAkaPrefixes": ["acme/{namespace}/"]}, None),
        (
            {"policyPack": {"akas": ["acme/team-a/ecr", "acme/team-b/ecr"]}},
            {"allowedAkaPrefixes": ["acme/{namespace}/"]},
            Reason.AKA_NOT_ALLOWED,
        ),
        ({"policyPack": {"akas": ["acme/team-ab/ecr"]}}, {"allowedAkaPrefixes": ["acme/{namespace}/"]}, None),
        ({"policyPack": {"akas": ["shared:x"]}}, {"allowedAkaPrefixes": ["{namespace}:", "shared:"]}, None),
    ],
)
def test_spec_refusals(spec: dict[str, Any], fields: dict[str, Any], reason: Reason | None) -> None:
    namespace = "team-ab" if "acme/team-ab/ecr" in str(spec) else "team-a"
    refusal = scopes.spec_refusal(scope(**fields), "prod", parse_spec(spec), namespace)
    assert (refusal.reason if refusal else None) is reason


@pytest.mark.parametrize("prefix", ["{namespace}", "acme/{namespace}-", "acme/{namespace}x/"])
def test_an_aka_prefix_must_end_the_namespace_with_a_separator(prefix: str) -> None:
    """Otherwise namespace "team" would reach the AKAs of namespace "team-b"."""
    with pytest.raises(ValueError, match="allowedAkaPrefixes"):
        scope(allowedAkaPrefixes=[prefix])


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
        ("missing", Reason.TARGET_NOT_ALLOWED),  # answered like one outside: no probing with the org's keys
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


def test_missing_and_outside_targets_answer_alike_and_are_stalled() -> None:
    spec = {"attachments": [{"resource": "missing"}]}
    missing = scopes.placement_refusal(scope(), "prod", parse_spec(spec), TREE)
    outside = scopes.placement_refusal(
        scope(), "prod", parse_spec({"attachments": [{"resource": "account-b"}]}), TREE
    )
    assert missing is not None
    assert outside is not None
    assert (
        (missing.reason, missing.retryable)
        == (outside.reason, outside.retryable)
        == (
            Reason.TARGET_NOT_ALLOWED,
            False,
        )
    )
    assert missing.message.replace("missing", "X") == outside.message.replace("account-b", "X")


def test_targets_applied_before_and_now_outside_are_withdrawn() -> None:
    spec = parse_spec({"attachments": [{"resource": "account-a"}, {"resource": "account-b"}]})
    refusal = scopes.placement_refusal(scope(), "prod", spec, TREE, applied=("account-a", "account-b"))
    assert refusal is not None
    assert refusal.withdraw == ("account-b",)
    assert "account-b" in refusal.message
    still = scopes.placement_refusal(scope(), "prod", spec, TREE, applied=("account-a",))
    assert still is not None
    assert still.withdraw == ()


def test_targets_outside_is_pure_and_counts_unread_refs_as_outside() -> None:
    assert scopes.targets_outside(["folder-a"], ["account-a", "region-a"], TREE) == ()
    assert scopes.targets_outside(["folder-a"], ["account-b", "unread", "account-a"], TREE) == (
        "account-b",
        "unread",
    )


APPROVED = "tmod:@turbot/aws-ecr#/policy/types/publicRepositoryApproved"
USAGE = "tmod:@turbot/aws-ecr#/policy/types/publicRepositoryApprovedUsage"
ENABLED = "tmod:@turbot/aws-ecr#/policy/types/ecrEnabled"
BY_ID = {info.id: info for info in TREE.values() if info.id}


def found_pack(parent: str = "1", attached: tuple[str, ...] | None = ("3",)) -> ObservedPack:
    return ObservedPack(id="99", akas=("org-pack",), parent_id=parent, attached_to=attached)


def setting(type_uri: str, value: Any = None, value_source: str | None = None) -> ObservedSetting:
    return ObservedSetting(id="s", type=type_uri, value=value, value_source=value_source)


def adoption(
    the_scope: ClusterGuardrailsWorkspaceSpec, pack: ObservedPack, *settings: ObservedSetting
) -> str:
    refs = scopes.adoption_refs(the_scope, pack)
    resources = {r: TREE.get(r) or BY_ID.get(r) for r in refs}
    refusal = scopes.adoption_refusal(the_scope, "prod", pack, settings, resources)
    return "" if refusal is None else refusal.message


def test_a_pack_wholly_inside_the_scope_may_be_adopted() -> None:
    the_scope = scope(allowedParents=[ROOT], allowedEnforcement=["Check", "Skip"])
    assert (
        adoption(the_scope, found_pack(), setting(APPROVED, "Check: Approved"), setting(USAGE, "Approved"))
        == ""
    )


@pytest.mark.parametrize(
    ("pack", "settings", "fields", "words"),
    [
        (found_pack(attached=("3", "1")), (), {}, "attached to 1 resource(s) outside allowedTargets"),
        (found_pack(attached=("6",)), (), {}, "outside allowedTargets"),
        (found_pack(attached=None), (), {}, "attachments could not be read"),
        (found_pack(parent="6"), (), {"allowedParents": ["folder-a"]}, "parent is not under allowedParents"),
        (found_pack(parent=""), (), {}, "parent is not under allowedParents"),
        (found_pack(), (setting(ENABLED, "Disabled"),), {}, f"policy type {ENABLED}"),
        (
            found_pack(),
            (setting(APPROVED, "Enforce: Delete unapproved if new"),),
            {"allowedEnforcement": ["Check", "Skip"]},
            "value allowedEnforcement does not allow",
        ),
        (
            found_pack(),
            (setting(APPROVED, value_source="{ x }"),),
            {"allowedEnforcement": ["Check"]},
            "calculated",
        ),
    ],
)
def test_a_pack_that_does_anything_outside_the_scope_is_not_adopted(
    pack: ObservedPack, settings: tuple[ObservedSetting, ...], fields: dict[str, Any], words: str
) -> None:
    message = adoption(scope(**{"allowedParents": [ROOT], **fields}), pack, *settings)
    assert words in message
    assert "Enforce: Delete" not in message  # the pack's values are not shown to the tenant
    assert "account-b" not in message
    assert "6" not in message.replace("allowedTargets", "")


def test_an_allowed_policy_type_and_every_enforcement_value_let_a_pack_be_adopted() -> None:
    the_scope = scope(allowedParents=[ROOT], allowedPolicyTypes=[ENABLED])
    settings = (setting(ENABLED, "Disabled"), setting(APPROVED, value_source="{ x }"))
    assert adoption(the_scope, found_pack(), *settings) == ""
