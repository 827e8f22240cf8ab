"""Load the GraphQL documents in ``queries/`` (one named operation per ``<Name>.graphql`` file).

Documents are static text: values always travel as variables. Each document is parsed once to check that it
holds exactly one operation named like its file."""

from __future__ import annotations

from functools import cache
from importlib import resources

from graphql import OperationDefinitionNode, OperationType, parse

__all__ = ["Document", "document", "document_names"]

_PACKAGE = __package__ or "ecr_privacy_operator.guardrails"


class Document:
    """A named GraphQL operation: its ``name``, ``text`` and whether it is a ``mutation``."""

    __slots__ = ("mutation", "name", "text")

    def __init__(self, name: str, text: str, mutation: bool) -> None:
        self.name = name
        self.text = text
        self.mutation = mutation

    def __repr__(self) -> str:
        return f"Document({self.name!r}, mutation={self.mutation})"


def document_names() -> list[str]:
    """Names of every document shipped in ``queries/``."""
    folder = resources.files(_PACKAGE).joinpath("queries")
    return sorted(p.name.removesuffix(".graphql") for p in folder.iterdir() if p.name.endswith(".graphql"))


@cache
def document(name: str) -> Document:
    """Return the document ``queries/<name>.graphql``; raise ``ValueError`` if it is not one named
    operation."""
    text = resources.files(_PACKAGE).joinpath("queries", f"{name}.graphql").read_text(encoding="utf-8")
    operations = [d for d in parse(text).definitions if isinstance(d, OperationDefinitionNode)]
    if len(operations) != 1 or operations[0].name is None or operations[0].name.value != name:
        raise ValueError(f"queries/{name}.graphql must hold exactly one operation named {name}")
    return Document(name, text, operations[0].operation == OperationType.MUTATION)
