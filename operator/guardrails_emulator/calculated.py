"""Calculated policy settings (``template`` + ``templateInput``, contract §1.3): the value of such a setting on
one resource, computed as Guardrails does it.

1. ``templateInput`` is one GraphQL query, or a list of them (also as YAML text, as the Terraform provider
   sends it). Each query runs through the emulator's own GraphQL engine, against the schema in which
   ``resource`` without an id is the resource being calculated for; a later query is first rendered as a
   template with the results so far (``{{ $.account.id }}``). The results merge into one object, ``$``.
2. ``template`` is Nunjucks in Guardrails. It renders here in Jinja2's ``SandboxedEnvironment`` (no attribute
   access to internals, no imports, no file system): the two share the syntax calculated policies use —
   ``{{ }}``, ``{% if/elif/else/for/set %}``, ``in``, ``and``/``or``/``not``, whitespace control ``{%- -%}``.
   Nunjucks' ``$`` input variable is not a Jinja2 name, so ``$`` inside tags is read as the input object.
   Undefined lookups chain to empty, as in Nunjucks.
3. The output is YAML; its value is validated against the policy type's schema.

A query or template that fails → state ``error``; output the schema rejects → ``invalid`` (the control then
reports ``error``)."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import yaml
from graphql import DocumentNode, ExecutionResult, GraphQLError, GraphQLSchema, execute, parse, validate
from jinja2 import ChainableUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from .context import Context
from .engine import Root, build, field_resolver
from .faults import Faults
from .jsonschema_subset import validate as validate_value
from .model import Calculation, PolicyType, Resource, Setting
from .workspace import Workspace

__all__ = ["Calculator"]

INPUT_NAME = "_guardrails_input"
_TAG = re.compile(r"(\{\{.*?\}\}|\{%.*?%\})", re.DOTALL)
_DOLLAR = re.compile(r"(?<![\w'\"])\$(?=[.\[\s|)}%]|$)")
MAX_OUTPUT = 64 * 1024


def nunjucks_to_jinja(text: str) -> str:
    """Read Nunjucks' ``$`` (the input object) inside ``{{ }}`` and ``{% %}`` as a Jinja2 name."""
    return _TAG.sub(lambda m: _DOLLAR.sub(INPUT_NAME, m.group(0)), text)


def _queries(template_input: Any) -> list[str]:
    if isinstance(template_input, list) and all(isinstance(q, str) for q in template_input):
        return list(template_input)
    if isinstance(template_input, str):
        try:
            parsed = yaml.safe_load(template_input)
        except yaml.YAMLError:
            parsed = None
        if isinstance(parsed, list) and parsed and all(isinstance(q, str) for q in parsed):
            return parsed
        return [template_input]
    raise ValueError("templateInput must be a GraphQL query or a list of them")


class Calculator:
    """Installed on a workspace (``Workspace.calculator``) by the server; one per emulator."""

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self.schema: GraphQLSchema = build(in_context=True)
        self.env = SandboxedEnvironment(autoescape=False, undefined=ChainableUndefined)
        self._document = lru_cache(maxsize=256)(self._prepare)

    def _prepare(self, query: str) -> DocumentNode:
        doc = parse(query)
        errors = validate(self.schema, doc)
        if errors:
            raise errors[0]
        return doc

    def _render(self, text: str, data: dict[str, Any]) -> str:
        return self.env.from_string(nunjucks_to_jinja(text)).render({INPUT_NAME: data})

    def _run(self, ws: Workspace, query: str, res: Resource) -> dict[str, Any]:
        ctx = Context(ws, self.faults, "admin", subject=res)
        result = execute(
            self.schema,
            self._document(query),
            root_value=Root(ctx),
            context_value=ctx,
            field_resolver=field_resolver,
        )
        if not isinstance(result, ExecutionResult):  # an async resolver: none is reachable from a query
            raise ValueError("templateInput needs an asynchronous resolver")
        if result.errors:
            raise result.errors[0]
        return dict(result.data or {})

    def __call__(self, ws: Workspace, setting: Setting, ptype: PolicyType, res: Resource) -> Calculation:
        data: dict[str, Any] = {}
        try:
            for index, query in enumerate(_queries(setting.template_input)):
                text = self._render(query, data) if index else query
                data.update(self._run(ws, text, res))
            output = self._render(setting.template or "", data)
        except (GraphQLError, TemplateError, ValueError) as err:
            return Calculation(None, "error", f"Calculation failed: {err}")
        if len(output) > MAX_OUTPUT:
            return Calculation(None, "error", "Calculation failed: the template's output is too large")
        try:
            value = yaml.safe_load(output)
        except yaml.YAMLError:
            return Calculation(None, "error", "Calculation failed: the template's output is not YAML")
        reason = validate_value(value, ptype.schema, ptype.uri)
        if reason:
            return Calculation(value, "invalid", reason)
        return Calculation(value, "ok")
