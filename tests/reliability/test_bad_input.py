"""Bad input: a table of invalid objects — wrong enums, bad AKAs and ids, oversize strings, duplicates, bad
durations, unknown fields, control characters, wrong types — each rejected at admission with a message that
names the field and the rule (``kubectl apply`` sends ``fieldValidation=Strict``, so unknown fields are errors).
What only Guardrails can tell (an unknown policy type, a value its schema refuses, a target or parent that does
not exist) gets Ready=False with a reason. Strings that look like GraphQL or carry unicode are data: stored
verbatim, never interpreted. Valid objects beside all of them become Ready, untouched."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes import client as k8s

from tests.fixtures.emulator import ACCOUNT_AKA, EmulatorProcess
from tests.fixtures.kube import GROUP, PLURAL, VERSION
from tests.fixtures.operator import OperatorProcess
from tests.fixtures.policies import (
    P_ECR_ENABLED,
    Guardrails,
    Policies,
    condition,
    condition_status,
    policy_body,
)
from tests.reliability.scenario import Row, check_invariants

GRAPHQL = '"){ id } mutation { deleteSmartFolder(input: {id: "1"}) { id } } #'
SEED = "tmod:@turbot/aws-ecr#/policy/types/publicRepositoryApproved"


def pack(**fields: Any) -> dict[str, Any]:
    return {"policyPack": fields}


def setting(**fields: Any) -> dict[str, Any]:
    return {"additionalSettings": [fields]}


# id -> (spec fields, words the API server's message must contain)
REJECTED: dict[str, tuple[dict[str, Any], str]] = {
    "enforcement-unknown": ({"enforcement": "Audit"}, 'spec.enforcement: Unsupported value: "Audit"'),
    "enforcement-case": ({"enforcement": "check"}, 'spec.enforcement: Unsupported value: "check"'),
    "enforcement-number": ({"enforcement": 1}, "spec.enforcement: Invalid value"),
    "usage-unknown": ({"usage": "Maybe"}, 'spec.usage: Unsupported value: "Maybe"'),
    "precedence-guardrails-spelling": ({"precedence": "REQUIRED"}, "spec.precedence: Unsupported value"),
    "drift-policy": ({"driftPolicy": "Ignore"}, "spec.driftPolicy: Unsupported value"),
    "management-policy": ({"managementPolicy": "Delete"}, "spec.managementPolicy: Unsupported value"),
    "deletion-policy": ({"deletionPolicy": "Retain"}, "spec.deletionPolicy: Unsupported value"),
    "suspend-string": ({"suspend": "yes"}, "spec.suspend: Invalid value"),
    "aka-all-digits": (pack(akas=["123456789"]), "must not be all digits"),
    "aka-reserved": (pack(akas=["ecrprivacy.dev/owner/someone-else"]), "reserved for the operator"),
    "aka-space": (pack(akas=["two words"]), "spec.policyPack.akas[0]: Invalid value"),
    "aka-empty": (pack(akas=[""]), "spec.policyPack.akas[0]: Invalid value"),
    "aka-oversize": (pack(akas=["a" * 257]), "spec.policyPack.akas[0]: Too long"),
    "aka-too-many": (pack(akas=[f"aka-{i}" for i in range(17)]), "spec.policyPack.akas: Too many"),
    "aka-duplicate": (pack(akas=["same", "same"]), 'spec.policyPack.akas[1]: Duplicate value: "same"'),
    "aka-control-char": (pack(akas=["tab\there"]), "spec.policyPack.akas[0]: Invalid value"),
    "aka-graphql": (pack(akas=[GRAPHQL]), "spec.policyPack.akas[0]: Invalid value"),
    "aka-bell": (pack(akas=["bell\x07x"]), "must not contain control, invisible formatting or space"),
    "aka-nbsp": (pack(akas=["no\u00a0break"]), "must not contain control, invisible formatting or space"),
    "aka-zero-width": (pack(akas=["zero\u200bwidth"]), "must not contain control, invisible formatting"),
    "title-nul": (pack(title="nul\x00byte"), "title must not contain control characters"),
    "title-newline": (pack(title="two\nlines"), "title must not contain control characters"),
    "title-bidi-override": (pack(title="abc\u202edef"), "title must not contain control characters"),
    "description-escape": (pack(description="ansi \x1b[31m red"), "description must not contain control"),
    "parent-space": (pack(parent="tmod:@turbot/turbot#/\u3000"), "policyPack.parent must not contain"),
    "title-empty": (pack(title=""), "spec.policyPack.title: Invalid value"),
    "title-oversize": (pack(title="t" * 256), "spec.policyPack.title: Too long"),
    "description-oversize": (pack(description="d" * 4097), "spec.policyPack.description: Too long"),
    "parent-oversize": (pack(parent="p" * 513), "spec.policyPack.parent: Too long"),
    "adopt-without-aka": (pack(adopt=True, akas=[]), "adopt requires at least one AKA"),
    "attachment-duplicate": (
        {"attachments": [{"resource": ACCOUNT_AKA}, {"resource": ACCOUNT_AKA}]},
        "attachments must be unique by resource",
    ),
    "attachment-empty": ({"attachments": [{"resource": ""}]}, "spec.attachments[0].resource: Invalid value"),
    "attachment-missing-resource": ({"attachments": [{}]}, "spec.attachments[0].resource: Required value"),
    "attachment-newline": (
        {"attachments": [{"resource": "arn:aws:::1\n23"}]},
        "spec.attachments[0].resource: Invalid value",
    ),
    "attachment-bell": (
        {"attachments": [{"resource": "arn:aws:::123\x07"}]},
        "a target must not contain control, invisible formatting or space characters",
    ),
    "attachment-oversize": (
        {"attachments": [{"resource": "r" * 513}]},
        "spec.attachments[0].resource: Too long",
    ),
    "attachments-too-many": (
        {"attachments": [{"resource": f"arn:aws:::{i:012d}"} for i in range(65)]},
        "spec.attachments: Too many",
    ),
    "resync-no-unit": ({"resyncInterval": "300"}, "spec.resyncInterval: Invalid value"),
    "resync-days": ({"resyncInterval": "1d"}, "spec.resyncInterval: Invalid value"),
    "resync-negative": ({"resyncInterval": "-5m"}, "spec.resyncInterval: Invalid value"),
    "resync-fraction": ({"resyncInterval": "1.5h"}, "spec.resyncInterval: Invalid value"),
    "resync-too-short": ({"resyncInterval": "5s"}, "resyncInterval must be between 10s and 24h"),
    "resync-too-long": ({"resyncInterval": "25h"}, "resyncInterval must be between 10s and 24h"),
    "unknown-field": ({"enforcment": "Enforce"}, 'unknown field "spec.enforcment"'),
    "unknown-nested-field": (pack(name="x"), 'unknown field "spec.policyPack.name"'),
    "setting-bad-type-uri": (setting(type="ecrEnabled", value="Enabled"), "additionalSettings[0].type"),
    "setting-seed-type": (setting(type=SEED, value="Skip"), "the seed policy types are set through"),
    "setting-duplicate-type": (
        {"additionalSettings": [{"type": P_ECR_ENABLED, "value": "Enabled"}] * 2},
        "additionalSettings must be unique by type",
    ),
    "setting-value-and-source": (
        setting(type=P_ECR_ENABLED, value="Enabled", valueSource="Enabled"),
        "spec.additionalSettings[0]",
    ),
    "setting-no-value": (setting(type=P_ECR_ENABLED), "spec.additionalSettings[0]"),
    "setting-source-oversize": (
        setting(type=P_ECR_ENABLED, valueSource="x" * 65537),
        "spec.additionalSettings[0].valueSource: Too long",
    ),
    "workspace-name": ({"workspaceRef": {"name": "Bad_Name"}}, "spec.workspaceRef.name: Invalid value"),
    "workspace-kind": (
        {"workspaceRef": {"kind": "Secret", "name": "guardrails-credentials"}},
        "spec.workspaceRef.kind: Unsupported value",
    ),
}

# What only Guardrails can tell: name -> (spec fields, reason, Stalled)
GUARDRAILS_ONLY: dict[str, tuple[dict[str, Any], str, str]] = {
    "gr-unknown-type": (
        setting(type="tmod:@turbot/aws-nope#/policy/types/doesNotExist", value="x"),
        "PolicyTypeNotFound",
        "True",
    ),
    "gr-value-refused": (setting(type=P_ECR_ENABLED, value="Sometimes"), "InvalidValue", "True"),
    "gr-value-wrong-type": (setting(type=P_ECR_ENABLED, value={"nested": [1, 2]}), "InvalidValue", "True"),
    "gr-unknown-target": (
        {"attachments": [{"resource": "arn:aws:::999999999999"}]},
        "TargetNotFound",
        "False",
    ),
    "gr-graphql-target": ({"attachments": [{"resource": '"){id}}#'}]}, "TargetNotFound", "False"),
}

# Strings that look dangerous but are valid data: stored verbatim.
VALID: dict[str, dict[str, Any]] = {
    "ok-plain": {},
    "ok-graphql-title": pack(title=GRAPHQL, description="query { __schema { types { name } } }\n$x: ID!"),
    "ok-unicode": pack(title="Dépôts ECR privés — 私有 🚫", description="naïve ✓\tand a tab"),
    "ok-graphql-source": setting(type=P_ECR_ENABLED, valueSource="Enabled # } mutation {"),
}


def _create(objects: k8s.CustomObjectsApi, namespace: str, name: str, spec: dict[str, Any]) -> None:
    body = policy_body(namespace, name, **spec)
    objects.create_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, body, field_validation="Strict"
    )


@pytest.mark.parametrize("case", sorted(REJECTED))
def test_invalid_object_is_rejected_at_admission(case: str, policies: Policies, ns: str) -> None:
    spec, words = REJECTED[case]
    with pytest.raises(k8s.ApiException) as raised:
        _create(policies.objects, ns, case, spec)
    assert raised.value.status in (400, 422), raised.value
    message = json.loads(raised.value.body)["message"]
    assert words in message, message


def test_table_is_big_enough() -> None:
    assert len(REJECTED) + len(GUARDRAILS_ONLY) >= 30


def test_what_only_guardrails_can_tell_is_a_condition_and_neighbours_are_unaffected(
    operator: OperatorProcess,
    emulator: EmulatorProcess,
    policies: Policies,
    e2e_ns: str,
    report: Any,
) -> None:
    def with_own_aka(name: str, spec: dict[str, Any]) -> dict[str, Any]:
        return {**spec, "policyPack": {"akas": [f"e2e:{e2e_ns}:{name}"], **spec.get("policyPack", {})}}

    uids: dict[str, str] = {}
    for name, spec in VALID.items():
        uids[name] = policies.create(e2e_ns, name, **with_own_aka(name, spec))["metadata"]["uid"]
    for name, (spec, _, _) in GUARDRAILS_ONLY.items():
        uids[name] = policies.create(e2e_ns, name, **spec)["metadata"]["uid"]

    for name, (_, reason, stalled) in GUARDRAILS_ONLY.items():
        obj = policies.wait_condition(e2e_ns, name, "Ready", "False", reason=reason, timeout=45)
        ready = condition(obj, "Ready")
        assert ready is not None
        assert ready["message"], obj["status"]
        assert condition_status(obj, "Stalled") == stalled, (name, obj["status"]["conditions"])
    for name in VALID:
        try:
            policies.wait_ready(e2e_ns, name, timeout=45)
        except AssertionError:
            raise AssertionError(policies.must_get(e2e_ns, name).get("status")) from None

    gr = Guardrails.of(emulator)
    live = {uids[name]: policy_body(e2e_ns, name, **spec)["spec"] for name, spec in VALID.items()}
    verdict = check_invariants(gr, live, orphaned=frozenset(uids[n] for n in GUARDRAILS_ONLY))
    verdict.assert_clean()
    graphql_pack = gr.pack(uids["ok-graphql-title"])
    unicode_pack = gr.pack(uids["ok-unicode"])
    assert graphql_pack is not None
    assert unicode_pack is not None
    assert graphql_pack["title"] == GRAPHQL
    assert unicode_pack["title"] == VALID["ok-unicode"]["policyPack"]["title"]
    source_pack = gr.pack(uids["ok-graphql-source"])
    assert source_pack is not None
    assert gr.settings(source_pack["id"])[P_ECR_ENABLED]["value_source"] == "Enabled # } mutation {"
    # no write was ever made for a value Guardrails refused, and nothing else was deleted or changed
    for name in ("gr-unknown-type",):
        assert gr.pack(uids[name]) is None
    assert gr.resource(ACCOUNT_AKA) is not None
    report(
        Row(
            "bad input",
            len(REJECTED) + len(GUARDRAILS_ONLY) + len(VALID),
            requests=int(emulator.requests()["total"]),
            duplicates=verdict.duplicates,
            orphans=verdict.orphans,
            note=f"{len(REJECTED)} rejected at admission, {len(GUARDRAILS_ONLY)} Ready=False, {len(VALID)} Ready",
        )
    )
