"""The shipped GraphQL documents: one named operation each, values only in variables; the batch composer."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import (
    ArgumentNode,
    BooleanValueNode,
    FieldNode,
    FloatValueNode,
    FragmentDefinitionNode,
    IntValueNode,
    ListValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    StringValueNode,
    VariableNode,
    Visitor,
    parse,
    print_ast,
    visit,
)

from ecr_privacy_operator.guardrails import batch as batch_module
from ecr_privacy_operator.guardrails.batch import BatchPart, compose_batch
from ecr_privacy_operator.guardrails.documents import document, document_names, fragment_names

pytestmark = pytest.mark.unit

NAMES = document_names()
LITERALS = (StringValueNode, IntValueNode, FloatValueNode, BooleanValueNode, ListValueNode)


class LiteralFinder(Visitor):
    """Collects literal values, except ``get(path: "…")`` (a field selector, not a value)."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self.fields: list[str] = []

    def enter_field(self, node: FieldNode, *_: Any) -> None:
        self.fields.append(node.name.value)

    def leave_field(self, node: FieldNode, *_: Any) -> None:
        self.fields.pop()

    def enter_argument(self, node: ArgumentNode, *_: Any) -> None:
        if isinstance(node.value, LITERALS) and not (
            self.fields and self.fields[-1] == "get" and node.name.value == "path"
        ):
            self.found.append(f"{self.fields[-1] if self.fields else '?'}({node.name.value}:)")

    def enter_object_field(self, node: Any, *_: Any) -> None:
        if isinstance(node.value, LITERALS):
            self.found.append(node.name.value)


def test_expected_documents_exist() -> None:
    expected = {
        "ValidateCredentials", "CreateSmartFolder", "ReadSmartFolder", "UpdateSmartFolder",
        "DeleteSmartFolder",
        "ReadPolicyPackIdentity", "ReadResource", "AttachSmartFolders", "DetachSmartFolders",
        "ReadAttachedPolicyPacks", "FindPolicyTypes", "ListPolicySettings", "ReadPolicySetting",
        "CreatePolicySetting", "UpdatePolicySetting", "DeletePolicySetting", "ReadPolicyValue",
        "ControlSummariesByResource", "ObservePolicy", "ReadActivities",
    }  # fmt: skip
    assert expected <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_one_named_operation(name: str) -> None:
    ast = parse(document(name).text)
    operations = [d for d in ast.definitions if isinstance(d, OperationDefinitionNode)]
    fragments = [d for d in ast.definitions if isinstance(d, FragmentDefinitionNode)]
    assert len(operations) == 1
    assert operations[0].name is not None
    assert operations[0].name.value == name
    assert len(operations) + len(fragments) == len(ast.definitions)
    assert tuple(f.name.value for f in fragments) == document(name).fragments


def _selection_sets(node: Any) -> list[str]:
    """The printed selection sets of more than two selections under ``node``."""
    found: list[str] = []

    class Sets(Visitor):
        def enter_selection_set(self, set_node: SelectionSetNode, *_: Any) -> None:
            if len(set_node.selections) > 2:
                found.append(print_ast(set_node))

    visit(node, Sets())
    return found


def test_no_selection_set_is_written_twice() -> None:
    """Shared selections live in queries/fragments/ (each document's own operation and each fragment once)."""
    parsed = [parse(document(n).text).definitions for n in NAMES]
    own = [definitions[0] for definitions in parsed]
    fragments = {d.name.value: d for ds in parsed for d in ds if isinstance(d, FragmentDefinitionNode)}
    sets = [s for node in [*own, *fragments.values()] for s in _selection_sets(node)]
    repeated = {s for s in sets if sets.count(s) > 1}
    assert repeated == set()
    assert set(fragments) == set(fragment_names())  # every fragment file is used by some document


def test_fragments_are_appended_once_with_the_fragments_they_use() -> None:
    observe = document("ObservePolicy")
    assert observe.fragments == (
        "AttachedPacks",
        "ControlSummaryFields",
        "PackFields",
        "PolicySettingFields",
        "PolicyTypeFields",
        "ResourceMetadata",  # through PackFields
    )
    assert observe.text.count("fragment PackFields on Resource") == 1
    assert document("ValidateCredentials").fragments == ()


@pytest.mark.parametrize("name", NAMES)
def test_no_inline_literal_values(name: str) -> None:
    finder = LiteralFinder()
    visit(parse(document(name).text), finder)
    assert finder.found == []


@pytest.mark.parametrize("name", NAMES)
def test_every_variable_is_declared_and_used(name: str) -> None:
    ast = parse(document(name).text)
    operation = ast.definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    declared = {d.variable.name.value for d in operation.variable_definitions or ()}
    used: set[str] = set()

    class Uses(Visitor):
        def enter_variable(self, node: VariableNode, *_: Any) -> None:
            used.add(node.name.value)

    visit(operation.selection_set, Uses())  # the selections only: every variable seen there is a use
    assert used == declared


def test_mutations_are_marked() -> None:
    assert document("CreatePolicySetting").mutation
    assert not document("ObservePolicy").mutation


def test_literal_finder_catches_literals() -> None:
    finder = LiteralFinder()
    visit(
        parse('query X { resource(id: "123") { get(path: "a") } a: policyTypes(filter: ["x"]) { items } }'),
        finder,
    )
    assert finder.found == ["resource(id:)", "policyTypes(filter:)"]


def test_compose_batch() -> None:
    batch = compose_batch(
        "WritePolicySettings",
        [
            BatchPart("CreatePolicySetting", "s0", {"input": {"value": "a"}}),
            BatchPart("UpdatePolicySetting", "s1", {"input": {"id": "2"}}),
            BatchPart("DeletePolicySetting", "s2", {"input": {"id": "3"}}),
        ],
    )
    assert batch.mutation
    assert batch.variables == {"s0": {"value": "a"}, "s1": {"id": "2"}, "s2": {"id": "3"}}
    ast = parse(batch.text)
    operation = ast.definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    assert operation.name is not None
    assert operation.name.value == "WritePolicySettings"
    assert [d.variable.name.value for d in operation.variable_definitions or ()] == ["s0", "s1", "s2"]
    fields = [f for f in operation.selection_set.selections if isinstance(f, FieldNode)]
    assert [(f.alias.value if f.alias else None, f.name.value) for f in fields] == [
        ("s0", "createPolicySetting"),
        ("s1", "updatePolicySetting"),
        ("s2", "deletePolicySetting"),
    ]
    assert "s0: createPolicySetting(input: $s0)" in batch.text
    finder = LiteralFinder()
    visit(ast, finder)
    assert finder.found == []


def test_compose_batch_rejects_bad_parts() -> None:
    with pytest.raises(ValueError, match="unique"):
        compose_batch(
            "X", [BatchPart("DeletePolicySetting", "a", {}), BatchPart("DeletePolicySetting", "a", {})]
        )
    with pytest.raises(ValueError, match="mix"):
        compose_batch("X", [BatchPart("DeletePolicySetting", "a", {}), BatchPart("ReadResource", "b", {})])
    with pytest.raises(ValueError, match="unknown variables"):
        compose_batch("X", [BatchPart("DeletePolicySetting", "a", {"nope": 1})])
    with pytest.raises(ValueError, match="at least one"):
        compose_batch("X", [])


def test_compose_batch_carries_the_templates_fragments_once() -> None:
    batch = compose_batch(
        "WritePolicySettings",
        [
            BatchPart("CreatePolicySetting", "s0", {"input": {}}),
            BatchPart("UpdatePolicySetting", "s1", {"input": {}}),
        ],
    )
    ast = parse(batch.text)
    fragments = [d.name.value for d in ast.definitions if isinstance(d, FragmentDefinitionNode)]
    assert fragments == ["PolicySettingFields"]
    assert batch.text.count("...PolicySettingFields") == 2


def test_a_batch_of_a_known_shape_is_not_printed_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every pass writes batches of the same few shapes (aliases are positions): the document is printed once
    per shape, and each batch still carries its own values under its own names."""
    printed: list[str] = []
    real_print = batch_module.print_ast

    def counting_print(node: Any) -> str:
        printed.append(text := real_print(node))
        return text

    monkeypatch.setattr(batch_module, "print_ast", counting_print)
    batch_module._composed.cache_clear()

    def settings(values: list[str]) -> list[BatchPart]:
        return [
            BatchPart("CreatePolicySetting", f"s{i}", {"input": {"value": v}}) for i, v in enumerate(values)
        ]

    first = compose_batch("WritePolicySettings", settings(["a", "b"]))
    second = compose_batch("WritePolicySettings", settings(["c", "d"]))
    third = compose_batch("WritePolicySettings", settings(["e"]))
    assert len(printed) == 2  # two shapes: two parts, one part
    assert first.text == second.text != third.text
    assert first.variables == {"s0": {"value": "a"}, "s1": {"value": "b"}}
    assert second.variables == {"s0": {"value": "c"}, "s1": {"value": "d"}}
    # the variables are checked per batch, not remembered with the shape
    with pytest.raises(ValueError, match="unknown variables"):
        compose_batch("WritePolicySettings", [BatchPart("CreatePolicySetting", "s0", {"nope": 1})])
