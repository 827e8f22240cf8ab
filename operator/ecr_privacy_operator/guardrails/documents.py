"""Load the GraphQL documents in ``queries/`` (one named operation per ``<Name>.graphql`` file) with the
fragments they use.

Documents are static text: values always travel as variables. Selection sets shared by several documents are
fragments, one per ``queries/fragments/<Name>.graphql`` file (``fragment <Name> on <Type> {…}``, no variables).
A document spreads them (``...PolicySettingFields``) and the loader appends every fragment it uses, directly or
through another fragment, to its text, in name order. Each file is parsed once to check that it holds exactly
one operation (or fragment) named like the file."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

from graphql import (
    DocumentNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    OperationDefinitionNode,
    OperationType,
    VariableNode,
    Visitor,
    parse,
    visit,
)

__all__ = ["Document", "document", "document_names", "fragment_names"]

_PACKAGE = __package__ or "ecr_privacy_operator.guardrails"


class Document:
    """A named GraphQL operation: its ``name``, ``text`` (with the fragments it uses appended), whether it is a
    ``mutation``, and the names of those ``fragments``."""

    __slots__ = ("fragments", "mutation", "name", "text")

    def __init__(self, name: str, text: str, mutation: bool, fragments: tuple[str, ...] = ()) -> None:
        self.name = name
        self.text = text
        self.mutation = mutation
        self.fragments = fragments

    def __repr__(self) -> str:
        return f"Document({self.name!r}, mutation={self.mutation}, fragments={self.fragments})"


def _names(*folder: str) -> list[str]:
    path = resources.files(_PACKAGE).joinpath("queries", *folder)
    return sorted(p.name.removesuffix(".graphql") for p in path.iterdir() if p.name.endswith(".graphql"))


def document_names() -> list[str]:
    """Names of every document shipped in ``queries/``."""
    return _names()


def fragment_names() -> list[str]:
    """Names of every fragment shipped in ``queries/fragments/``."""
    return _names("fragments")


class _Uses(Visitor):
    """Collects the fragment spreads and the variables of a node."""

    def __init__(self) -> None:
        super().__init__()
        self.spreads: set[str] = set()
        self.variables: set[str] = set()

    def enter_fragment_spread(self, node: FragmentSpreadNode, *_: Any) -> None:
        self.spreads.add(node.name.value)

    def enter_variable(self, node: VariableNode, *_: Any) -> None:
        self.variables.add(node.name.value)


def _uses(node: Any) -> _Uses:
    uses = _Uses()
    visit(node, uses)
    return uses


@cache
def _fragment(name: str) -> tuple[str, frozenset[str]]:
    """The text of ``queries/fragments/<name>.graphql`` and the fragments it spreads."""
    try:
        text = (
            resources.files(_PACKAGE).joinpath("queries", "fragments", f"{name}.graphql").read_text("utf-8")
        )
    except FileNotFoundError:
        raise ValueError(f"unknown fragment {name} (no queries/fragments/{name}.graphql)") from None
    definitions = parse(text).definitions
    if (
        len(definitions) != 1
        or not isinstance(definitions[0], FragmentDefinitionNode)
        or definitions[0].name.value != name
    ):
        raise ValueError(f"queries/fragments/{name}.graphql must hold exactly one fragment named {name}")
    uses = _uses(definitions[0])
    if uses.variables:
        raise ValueError(f"fragment {name} uses variables; fragments hold selections only")
    return text.strip(), frozenset(uses.spreads)


def _closure(spreads: set[str]) -> list[str]:
    """Every fragment reachable from ``spreads``, in name order."""
    seen: set[str] = set()
    todo = list(spreads)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(_fragment(name)[1])
    return sorted(seen)


@cache
def document(name: str) -> Document:
    """Return the document ``queries/<name>.graphql`` with its fragments; raise ``ValueError`` if it is not
    one named operation, defines fragments of its own or spreads an unknown one."""
    text = resources.files(_PACKAGE).joinpath("queries", f"{name}.graphql").read_text(encoding="utf-8")
    ast: DocumentNode = parse(text)
    operations = [d for d in ast.definitions if isinstance(d, OperationDefinitionNode)]
    if len(ast.definitions) != 1 or len(operations) != 1 or operations[0].name is None:
        raise ValueError(f"queries/{name}.graphql must hold exactly one operation named {name}")
    if operations[0].name.value != name:
        raise ValueError(f"queries/{name}.graphql must hold exactly one operation named {name}")
    fragments = _closure(_uses(operations[0]).spreads)
    full = "\n\n".join([text.strip(), *(_fragment(f)[0] for f in fragments)]) + "\n"
    return Document(name, full, operations[0].operation == OperationType.MUTATION, tuple(fragments))
