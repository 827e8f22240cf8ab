"""The GraphQL engine: the SDL schema with JSON/Scalar scalars, the view-based field resolver, a cache of
validated documents, and execution that yields a Guardrails-style response envelope."""

from __future__ import annotations

import logging
import re
from collections import OrderedDict
from collections.abc import Awaitable
from functools import lru_cache
from pathlib import Path
from typing import Any

from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    GraphQLError,
    GraphQLResolveInfo,
    GraphQLScalarType,
    GraphQLSchema,
    ObjectTypeDefinitionNode,
    OperationDefinitionNode,
    build_ast_schema,
    execute,
    parse,
    validate,
)
from graphql.pyutils import is_awaitable
from graphql.utilities import value_from_ast_untyped

from .context import Context
from .errors import GuardrailsError, forbidden
from .mutations import MutationResolvers
from .queries import QueryResolvers

log = logging.getLogger("guardrails_emulator")
SCHEMA_FILE = Path(__file__).with_name("schema.graphql")
CACHE_SIZE = 512


class Root(QueryResolvers, MutationResolvers):
    """The root value of every operation; resolvers reach the request context through ``ctx``."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx


@lru_cache(maxsize=1024)
def _method(field_name: str) -> str:
    return "f_" + re.sub(r"(?<!^)(?=[A-Z])", "_", field_name).lower()


def field_resolver(source: Any, info: GraphQLResolveInfo[Any], **args: Any) -> Any:
    """Dicts answer by key; view objects by their ``f_<snake_case>`` method; anything else is null. A root
    field denied to the caller (``Context.denied``) is Forbidden."""
    if info.path.prev is None and info.field_name in info.context.denied:
        raise forbidden()
    if isinstance(source, dict):
        return source.get(info.field_name)
    method = getattr(source, _method(info.field_name), None)
    return method(args) if method is not None else None


def _identity(value: Any) -> Any:
    return value


def _literal(node: Any, variables: dict[str, Any] | None = None) -> Any:
    return value_from_ast_untyped(node, variables)


RESOURCE_FIELD = "resource(id: ID!, options: GetItemOptions): Resource"


def build(without: frozenset[str] = frozenset(), *, in_context: bool = False) -> GraphQLSchema:
    """The schema of ``schema.graphql``; ``without`` names ``Query`` fields left out (a workspace too old to
    have them: documents selecting them fail validation, as they would there). ``in_context``: the schema a
    calculated setting's templateInput runs against, where ``resource`` without an id is the resource being
    calculated for."""
    text = SCHEMA_FILE.read_text(encoding="utf-8")
    if in_context:
        assert RESOURCE_FIELD in text
        text = text.replace(RESOURCE_FIELD, RESOURCE_FIELD.replace("ID!", "ID"), 1)
    sdl = parse(text)
    if without:
        definitions = []
        for node in sdl.definitions:
            if isinstance(node, ObjectTypeDefinitionNode) and node.name.value == "Query":
                node = ObjectTypeDefinitionNode(
                    name=node.name,
                    description=node.description,
                    interfaces=node.interfaces,
                    directives=node.directives,
                    fields=tuple(f for f in node.fields or () if f.name.value not in without),
                )
            definitions.append(node)
        sdl = DocumentNode(definitions=tuple(definitions))
    schema = build_ast_schema(sdl)
    for name in ("JSON", "Scalar"):
        scalar = schema.type_map[name]
        assert isinstance(scalar, GraphQLScalarType)
        scalar.serialize = _identity  # type: ignore[method-assign]
        scalar.parse_value = _identity  # type: ignore[method-assign]
        scalar.parse_literal = _literal  # type: ignore[method-assign]
    return schema


@lru_cache(maxsize=CACHE_SIZE)
def document_label(query: str) -> str:
    """The name a request goes by when it has no ``operationName``: its operation's name, else the name of
    its first root field (``{ policySetting(id: …) {…} }`` → ``policySetting``); ``-`` if it does not parse."""
    try:
        definitions = parse(query, no_location=True).definitions
    except GraphQLError:
        return "-"
    operation = next((d for d in definitions if isinstance(d, OperationDefinitionNode)), None)
    if operation is None:
        return "-"
    if operation.name is not None:
        return operation.name.value
    first = operation.selection_set.selections[0] if operation.selection_set.selections else None
    return first.name.value if isinstance(first, FieldNode) else "-"


class RequestError(Exception):
    """The document cannot run (syntax or validation errors): answered with HTTP 400."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors[0]["message"] if errors else "invalid request")
        self.errors = errors


def _format(error: GraphQLError) -> dict[str, Any]:
    out: dict[str, Any] = {"message": error.message}
    original = error.original_error
    if original is not None and not isinstance(original, GuardrailsError | GraphQLError):
        log.exception("resolver failed", exc_info=original)
        out["message"] = "Internal Error"
    if error.locations:
        out["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations]
    if error.path is not None:
        out["path"] = list(error.path)
    return out


class Engine:
    """Parses, validates (cached by document text) and executes GraphQL requests."""

    def __init__(self) -> None:
        self.schema = build()
        self._cache: OrderedDict[tuple[frozenset[str], str], DocumentNode] = OrderedDict()
        self._variants: dict[frozenset[str], GraphQLSchema] = {}

    def schema_without(self, without: frozenset[str]) -> GraphQLSchema:
        """The schema lacking the ``Query`` fields in ``without`` (built once per set)."""
        if not without:
            return self.schema
        if without not in self._variants:
            self._variants[without] = build(without)
        return self._variants[without]

    def prepare(self, query: str, without: frozenset[str] = frozenset()) -> DocumentNode:
        """Parse and validate ``query`` (against the schema without the fields in ``without``)."""
        key = (without, query)
        doc = self._cache.get(key)
        if doc is not None:
            self._cache.move_to_end(key)
            return doc
        try:
            doc = parse(query)
        except GraphQLError as err:
            raise RequestError([_format(err)]) from None
        errors = validate(self.schema_without(without), doc)
        if errors:
            raise RequestError([_format(e) for e in errors])
        self._cache[key] = doc
        if len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return doc

    async def run(
        self,
        doc: DocumentNode,
        variables: dict[str, Any] | None,
        operation_name: str | None,
        ctx: Context,
        without: frozenset[str] = frozenset(),
    ) -> tuple[int, dict[str, Any]]:
        """Execute (a document ``prepare`` validated with the same ``without``); returns (HTTP status,
        response body). Variable errors -> 400."""
        result: ExecutionResult | Awaitable[ExecutionResult] = execute(
            self.schema_without(without),
            doc,
            root_value=Root(ctx),
            context_value=ctx,
            variable_values=variables,
            operation_name=operation_name,
            field_resolver=field_resolver,
        )
        if is_awaitable(result):
            result = await result
        assert isinstance(result, ExecutionResult)
        errors = [_format(e) for e in result.errors or []]
        if result.data is None and errors:
            return 400, {"errors": errors}
        body: dict[str, Any] = {"data": result.data}
        if errors:
            body["errors"] = errors
        return 200, body
