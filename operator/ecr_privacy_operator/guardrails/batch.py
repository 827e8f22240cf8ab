"""Compose one GraphQL document out of several single-field operations (batched independent mutations).

Each part names a template document from ``queries/`` whose operation has exactly one root field. The part's
copy of that field gets the alias ``<alias>`` and its variables are renamed ``$<alias>`` (a template with one
variable) or ``$<alias>_<name>`` (several), e.g. ``s0: createPolicySetting(input: $s0) {…}``. The fragments the
templates use follow the composed operation once each, in name order (fragments hold no variables, so they
need no renaming). Values stay in variables; the composed text only depends on the templates and the
aliases."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from functools import cache, lru_cache
from types import MappingProxyType
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    NameNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableDefinitionNode,
    VariableNode,
    Visitor,
    parse,
    print_ast,
    visit,
)

from .documents import document

__all__ = ["BatchDocument", "BatchPart", "compose_batch"]


@dataclasses.dataclass(frozen=True)
class BatchPart:
    """One field of a batch: the template operation's name, the alias, and the template's variable values."""

    template: str
    alias: str
    variables: Mapping[str, Any]


@dataclasses.dataclass(frozen=True)
class BatchDocument:
    """The composed document text, its operation name, and the merged variables."""

    name: str
    text: str
    variables: dict[str, Any]
    mutation: bool


class _Renamer(Visitor):
    def __init__(self, mapping: Mapping[str, str]) -> None:
        super().__init__()
        self.mapping = mapping

    def enter_variable(self, node: VariableNode, *_: Any) -> VariableNode:
        return VariableNode(name=NameNode(value=self.mapping[node.name.value]))


@cache  # parsed once per process: the templates are static files
def _template(name: str) -> tuple[OperationDefinitionNode, FieldNode, tuple[FragmentDefinitionNode, ...]]:
    definitions = parse(document(name).text).definitions
    operation = definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    fields = operation.selection_set.selections
    if len(fields) != 1 or not isinstance(fields[0], FieldNode):
        raise ValueError(f"template {name} must have exactly one root field")
    fragments = tuple(d for d in definitions if isinstance(d, FragmentDefinitionNode))
    return operation, fields[0], fragments


@dataclasses.dataclass(frozen=True)
class _Composed:
    """What a batch's templates and aliases alone decide: the text, its kind, and per part how each of its
    template's variables is named in the batch."""

    text: str
    mutation: bool
    renames: tuple[Mapping[str, str], ...]


def compose_batch(name: str, parts: Sequence[BatchPart]) -> BatchDocument:
    """Build the operation ``name`` from ``parts``; all templates must be of the same kind (query or
    mutation)."""
    if not parts:
        raise ValueError("a batch needs at least one part")
    if len({p.alias for p in parts}) != len(parts) or not all(p.alias.isidentifier() for p in parts):
        raise ValueError("batch aliases must be unique identifiers")
    composed = _composed(name, tuple((p.template, p.alias) for p in parts))
    variables: dict[str, Any] = {}
    for part, rename in zip(parts, composed.renames, strict=True):
        unknown = set(part.variables) - set(rename)
        if unknown:
            raise ValueError(f"unknown variables for {part.template}: {sorted(unknown)}")
        variables.update({rename[k]: v for k, v in part.variables.items()})
    return BatchDocument(name, composed.text, variables, composed.mutation)


# Aliases are positions (s0, s1, ...), so a process meets few shapes: one per operation and batch size. Printing
# a document costs more CPU than the request's own JSON and leaves hundreds of reference cycles behind.
@lru_cache(maxsize=512)
def _composed(name: str, shape: tuple[tuple[str, str], ...]) -> _Composed:
    """The document of ``shape`` (template and alias per part), printed once per process."""
    kinds: set[OperationType] = set()
    definitions: list[VariableDefinitionNode] = []
    selections: list[FieldNode] = []
    renames: list[Mapping[str, str]] = []
    fragments: dict[str, FragmentDefinitionNode] = {}
    for template, alias in shape:
        operation, field, used = _template(template)
        fragments.update((f.name.value, f) for f in used)
        kinds.add(operation.operation)
        names = [d.variable.name.value for d in operation.variable_definitions or ()]
        rename = MappingProxyType({n: alias if len(names) == 1 else f"{alias}_{n}" for n in names})
        renamer = _Renamer(rename)
        for definition in operation.variable_definitions or ():
            definitions.append(visit(definition, renamer))
        selections.append(dataclasses.replace(visit(field, renamer), alias=NameNode(value=alias)))
        renames.append(rename)
    if len(kinds) != 1:
        raise ValueError("a batch cannot mix queries and mutations")
    kind = kinds.pop()
    operation = OperationDefinitionNode(
        operation=kind,
        name=NameNode(value=name),
        variable_definitions=tuple(definitions),
        directives=(),
        selection_set=SelectionSetNode(selections=tuple(selections)),
    )
    shared = tuple(fragments[f] for f in sorted(fragments))
    text = print_ast(DocumentNode(definitions=(operation, *shared)))
    return _Composed(text, kind == OperationType.MUTATION, tuple(renames))
