"""The CRD YAML against the spec models: same defaults, same enums, bounded and described everywhere."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from ecr_privacy_operator.crd.spec import (
    AdditionalSetting,
    Attachment,
    DeletionPolicy,
    DriftPolicy,
    EcrPrivacyPolicySpec,
    Enforcement,
    ManagementPolicy,
    PolicyPackSpec,
    Precedence,
    Usage,
    WorkspaceKind,
    WorkspaceRef,
    parse_spec,
)

pytestmark = pytest.mark.unit

CRD_PATH = Path(__file__).resolve().parents[2] / "deploy" / "crds" / "ecrprivacy.dev_ecrprivacypolicies.yaml"


@pytest.fixture(scope="module")
def crd() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(CRD_PATH.read_text())
    return loaded


@pytest.fixture(scope="module")
def version(crd: dict[str, Any]) -> dict[str, Any]:
    (only,) = crd["spec"]["versions"]
    result: dict[str, Any] = only
    return result


@pytest.fixture(scope="module")
def root(version: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return result


@pytest.fixture(scope="module")
def spec_schema(root: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = root["properties"]["spec"]
    return result


def apply_defaults(schema: dict[str, Any], value: Any) -> Any:
    """Structural defaulting as the apiserver does it: fill missing properties with defaults, recurse."""
    if schema.get("type") == "object" and isinstance(value, dict):
        out = dict(value)
        for name, prop in schema.get("properties", {}).items():
            if name not in out and "default" in prop:
                out[name] = prop["default"]
            if name in out:
                out[name] = apply_defaults(prop, out[name])
        return out
    if schema.get("type") == "array" and isinstance(value, list) and "items" in schema:
        return [apply_defaults(schema["items"], v) for v in value]
    return value


def walk(schema: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, schema
    for name, prop in schema.get("properties", {}).items():
        yield from walk(prop, f"{path}.{name}")
    if "items" in schema:
        yield from walk(schema["items"], f"{path}[]")


def test_names(crd: dict[str, Any], version: dict[str, Any]) -> None:
    assert crd["metadata"]["name"] == "ecrprivacypolicies.ecrprivacy.dev"
    names = crd["spec"]["names"]
    assert (names["kind"], names["plural"], names["singular"]) == (
        "EcrPrivacyPolicy",
        "ecrprivacypolicies",
        "ecrprivacypolicy",
    )
    assert names["shortNames"] == ["epp"]
    assert names["categories"] == ["guardrails"]
    assert crd["spec"]["scope"] == "Namespaced"
    assert version["name"] == "v1alpha1"
    assert version["served"]
    assert version["storage"]
    assert version["subresources"] == {"status": {}}
    columns = {c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"]}
    assert columns == {
        "Ready": '.status.conditions[?(@.type=="Ready")].status',
        "Enforcement": ".spec.enforcement",
        "Pack": ".status.policyPack.id",
        "Drift": '.status.conditions[?(@.type=="Drifted")].status',
        "Alarms": ".status.compliance.alarm",
        "Age": ".metadata.creationTimestamp",
    }


def test_workspace_ref_required(spec_schema: dict[str, Any], root: dict[str, Any]) -> None:
    """A policy must name its workspace: there is no inline URL and no operator-wide default any more."""
    assert root["required"] == ["spec"]
    assert spec_schema["required"] == ["workspaceRef"]
    assert "workspace" not in spec_schema["properties"]


def test_defaults_equal_model_defaults(spec_schema: dict[str, Any]) -> None:
    """An empty spec defaulted by the apiserver parses to exactly the model's defaults (workspaceRef aside)."""
    crd_defaulted = apply_defaults(spec_schema, {})
    model_defaults = {
        k: v
        for k, v in EcrPrivacyPolicySpec().model_dump(by_alias=True, mode="json", exclude_none=True).items()
        if v != []
    }
    assert crd_defaulted == model_defaults
    assert parse_spec(crd_defaulted) == parse_spec({}) == EcrPrivacyPolicySpec()


def test_nested_defaults_equal_when_parent_given(spec_schema: dict[str, Any]) -> None:
    """A partially given policyPack is completed identically by the CRD and by the model."""
    given = {"policyPack": {"title": "Mine"}}
    assert parse_spec(apply_defaults(spec_schema, given)) == parse_spec(given)


@pytest.mark.parametrize(
    ("path", "model"),
    [
        ("", EcrPrivacyPolicySpec),
        (".workspaceRef", WorkspaceRef),
        (".policyPack", PolicyPackSpec),
        (".additionalSettings[]", AdditionalSetting),
        (".attachments[]", Attachment),
    ],
)
def test_model_fields_match_schema_properties(
    spec_schema: dict[str, Any], path: str, model: type[BaseModel]
) -> None:
    node = dict(walk(spec_schema))[path]
    aliases = {f.alias or name for name, f in model.model_fields.items()}
    assert aliases == set(node["properties"])
    for name, field in model.model_fields.items():
        prop = node["properties"][field.alias or name]
        if "default" in prop and not isinstance(prop["default"], dict):
            required = {"name": "x"} if model is WorkspaceRef else {}
            dumped = model.model_validate(required).model_dump(by_alias=True, mode="json")[
                field.alias or name
            ]
            assert dumped == prop["default"], name


@pytest.mark.parametrize(
    ("path", "enum"),
    [
        (".enforcement", Enforcement),
        (".usage", Usage),
        (".precedence", Precedence),
        (".additionalSettings[].precedence", Precedence),
        (".driftPolicy", DriftPolicy),
        (".managementPolicy", ManagementPolicy),
        (".deletionPolicy", DeletionPolicy),
        (".workspaceRef.kind", WorkspaceKind),
    ],
)
def test_enums_match(spec_schema: dict[str, Any], path: str, enum: type[Any]) -> None:
    assert dict(walk(spec_schema))[path]["enum"] == [e.value for e in enum]


def test_every_field_described_and_bounded(root: dict[str, Any]) -> None:
    for path, node in walk(root):
        if path in ("", ".metadata", ".apiVersion", ".kind"):
            continue
        assert node.get("description"), f"{path} has no description"
        if node.get("type") == "string" and "enum" not in node and node.get("format") != "date-time":
            assert "maxLength" in node, f"{path} has no maxLength"
        if node.get("type") == "array":
            assert "maxItems" in node, f"{path} has no maxItems"
        if node.get("x-kubernetes-preserve-unknown-fields"):
            assert path.rsplit(".", 1)[-1] in {"value", "desired", "actual"}, path


def test_preserve_unknown_only_on_json_values(root: dict[str, Any]) -> None:
    paths = {p for p, n in walk(root) if n.get("x-kubernetes-preserve-unknown-fields")}
    assert paths == {
        ".spec.additionalSettings[].value",
        ".status.settings[].value",
        ".status.drift[].desired",
        ".status.drift[].actual",
        ".status.appliedValues[].value",
    }


def rules(spec_schema: dict[str, Any]) -> dict[str, list[str]]:
    return {p: [r["rule"] for r in n.get("x-kubernetes-validations", [])] for p, n in walk(spec_schema)}


def test_cel_rules_present(spec_schema: dict[str, Any]) -> None:
    found = rules(spec_schema)
    assert found[".policyPack.parent"][0] == "self == oldSelf"
    assert found[".workspaceRef"] == ["self == oldSelf"]
    assert any("exists_one" in r for r in found[".attachments"])
    assert any("exists_one" in r for r in found[".additionalSettings"])
    # CEL cannot see the untyped value, so "exactly one" is an OpenAPI oneOf (accepted by kube-apiserver).
    assert dict(walk(spec_schema))[".additionalSettings[]"]["oneOf"] == [
        {"required": ["value"]},
        {"required": ["valueSource"]},
    ]
    assert any("duration(" in r for r in found[".resyncInterval"])
    assert any("size(self.akas) > 0" in r for r in found[".policyPack"])
    assert any("^[0-9]+$" in r for r in found[".policyPack.akas[]"])
    # no control, invisible formatting or space characters in identifiers; no control characters in the title
    for path in (".policyPack.akas[]", ".policyPack.parent", ".attachments[].resource"):
        assert any(r"\p{Cc}\p{Cf}\p{Z}" in r for r in found[path]), path
    assert any(r"\p{Cc}" in r for r in found[".policyPack.title"])
    assert any(r"\x00-\x08" in r for r in found[".policyPack.description"])


def pattern(spec_schema: dict[str, Any], path: str) -> re.Pattern[str]:
    return re.compile(dict(walk(spec_schema))[path]["pattern"])


@pytest.mark.parametrize(
    ("path", "value", "ok"),
    [
        (".resyncInterval", "5m", True),
        (".resyncInterval", "1h30m", True),
        (".resyncInterval", "10s", True),
        (".resyncInterval", "5", False),
        (".resyncInterval", "5d", False),
        (".resyncInterval", "1.5h", False),
        (".workspaceRef.name", "guardrails-credentials", True),
        (".workspaceRef.name", "a.b-c", False),
        (".workspaceRef.name", "Bad_Name", False),
        (".workspaceRef.name", "-x", False),
        (".additionalSettings[].type", "tmod:@turbot/aws-ecr#/policy/types/ecrEnabled", True),
        (".additionalSettings[].type", "ecrEnabled", False),
        (".attachments[].resource", "arn:aws:::123456789012", True),
        (".attachments[].resource", "has space", False),
    ],
)
def test_patterns(spec_schema: dict[str, Any], path: str, value: str, ok: bool) -> None:
    assert bool(pattern(spec_schema, path).search(value)) is ok
