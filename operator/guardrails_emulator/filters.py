"""Guardrails filter strings (§4.7): parsing, resource/type scoping by level, sorting, opaque paging tokens.

Syntax: terms split on whitespace outside ``'...'``; each term split at its first colon; the value split at
commas outside quotes (quotes stripped) = OR; a leading ``!`` negates; all terms (of all strings) are ANDed.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .errors import bad_request
from .model import Resource
from .workspace import Workspace

T = TypeVar("T")
DEFAULT_LIMIT = 20
MAX_LIMIT = 5000
LEVELS = {"self", "children", "descendant", "ancestor", "all"}


@dataclass
class Term:
    key: str
    values: list[str]
    negate: bool
    raw: str


@dataclass
class Filter:
    terms: list[Term] = field(default_factory=list)
    limit: int = DEFAULT_LIMIT
    sort: list[tuple[str, bool]] = field(default_factory=list)  # (field, descending)

    def get(self, *keys: str) -> list[Term]:
        return [t for t in self.terms if t.key in keys]

    def levels(self, key: str, default: set[str]) -> set[str]:
        terms = self.get(key)
        if not terms:
            return default
        values = {v for t in terms for v in t.values}
        unknown = values - LEVELS
        if unknown:
            raise bad_request(f'Unsupported filter "{key}:{",".join(sorted(unknown))}"')
        return values


def split_words(text: str) -> list[str]:
    words: list[str] = []
    current: list[str] = []
    quoted = False
    for char in text:
        if char == "'":
            quoted = not quoted
            current.append(char)
        elif char.isspace() and not quoted:
            if current:
                words.append("".join(current))
                current = []
        else:
            current.append(char)
    if current:
        words.append("".join(current))
    return words


def split_values(text: str) -> list[str]:
    values: list[str] = []
    current: list[str] = []
    quoted = False
    for char in text:
        if char == "'":
            quoted = not quoted
        elif char == "," and not quoted:
            values.append("".join(current))
            current = []
        else:
            current.append(char)
    values.append("".join(current))
    return [v for v in values if v != ""]


def parse(filters: Sequence[str] | None, allowed: set[str]) -> Filter:
    """Parse filter strings; unknown keys, full-text terms -> ``Bad Request: Unsupported filter "<term>"``."""
    result = Filter()
    for text in filters or []:
        for word in split_words(text):
            negate = word.startswith("!")
            body = word[1:] if negate else word
            key, sep, rest = body.partition(":")
            if not sep or key not in allowed | {"limit", "sort"}:
                raise bad_request(f'Unsupported filter "{word}"')
            values = split_values(rest)
            if key == "limit":
                try:
                    result.limit = max(0, min(MAX_LIMIT, int(values[0])))
                except (ValueError, IndexError):
                    raise bad_request(f'Unsupported filter "{word}"') from None
            elif key == "sort":
                result.sort = [(v.lstrip("-"), v.startswith("-")) for v in values]
            else:
                result.terms.append(Term(key, values, negate, word))
    return result


def related(res: Resource, target: Resource, levels: set[str]) -> bool:
    """Whether ``res`` stands in one of ``levels`` to ``target``."""
    if "all" in levels and (res.id in target.path or target.id in res.path):
        return True
    if "self" in levels and res.id == target.id:
        return True
    if "children" in levels and res.parent_id == target.id:
        return True
    if "descendant" in levels and target.id in res.path[:-1]:
        return True
    return "ancestor" in levels and res.id in target.path[:-1]


def resource_predicate(
    ws: Workspace, flt: Filter, keys: tuple[str, ...], level_key: str, default_levels: set[str]
) -> Callable[[Resource], bool]:
    """Predicate over resources for the ``resource`` terms (ids or AKAs) combined with their level."""
    terms = flt.get(*keys)
    if not terms:
        return lambda _res: True
    levels = flt.levels(level_key, default_levels)
    scoped: list[tuple[list[Resource], bool]] = []
    for term in terms:
        targets = [r for r in (ws.lookup(v) for v in term.values) if r is not None]
        scoped.append((targets, term.negate))

    def check(res: Resource) -> bool:
        for targets, negate in scoped:
            hit = any(related(res, t, levels) for t in targets)
            if hit == negate:
                return False
        return True

    return check


def type_predicate(
    ws: Workspace, flt: Filter, keys: tuple[str, ...], level_key: str, default_levels: set[str]
) -> Callable[[str], bool]:
    """Predicate over type URIs for type terms (URI or id); ``descendant`` = sub-policies of the type."""
    terms = flt.get(*keys)
    if not terms:
        return lambda _uri: True
    levels = flt.levels(level_key, default_levels)

    def chain(uri: str) -> list[str]:
        out: list[str] = []
        ptype = ws.policy_types.get(uri)
        while ptype is not None and ptype.parent_uri and ptype.parent_uri not in out:
            out.append(ptype.parent_uri)
            ptype = ws.policy_types.get(ptype.parent_uri)
        return out

    def matches(uri: str, wanted: str) -> bool:
        if uri == wanted and levels & {"self", "all"}:
            return True
        parents = chain(uri)
        if levels & {"descendant", "all"} and wanted in parents:
            return True
        if "children" in levels and parents[:1] == [wanted]:
            return True
        return bool(levels & {"ancestor", "all"} and uri in chain(wanted))

    resolved = [([ws.type_ids.get(v, v) for v in t.values], t.negate) for t in terms]

    def check(uri: str) -> bool:
        return all(any(matches(uri, w) for w in wanted) != negate for wanted, negate in resolved)

    return check


def value_predicate(
    flt: Filter, key: str, getter: Callable[[Any], Any], aliases: dict[str, list[str]]
) -> Any:
    """Predicate for simple equality terms (``state:alarm,ok``, ``value:Skip``) with value aliases."""
    terms = flt.get(key)

    def check(item: Any) -> bool:
        actual = getter(item)
        actual_text = actual if isinstance(actual, str) else json.dumps(actual)
        for term in terms:
            wanted = {w for v in term.values for w in aliases.get(v, [v])}
            if (actual_text in wanted) == term.negate:
                return False
        return True

    return check


def _sort_key(getter: Callable[[T], Any]) -> Callable[[T], tuple[bool, Any]]:
    def key(item: T) -> tuple[bool, Any]:
        value = getter(item)
        return (value is None, value if value is not None else "")

    return key


def page(
    items: list[T], flt: Filter, token: str | None, getters: dict[str, Callable[[T], Any]]
) -> tuple[list[T], str | None]:
    """Sort (by id unless ``sort:`` says otherwise), then cut a page; returns (items, next token or None)."""
    for name, descending in reversed(flt.sort):
        getter = getters.get(name)
        if getter is None:
            raise bad_request(f'Unsupported filter "sort:{name}"')
        items = sorted(items, key=_sort_key(getter), reverse=descending)
    offset = 0
    if token:
        try:
            offset = int(json.loads(base64.urlsafe_b64decode(token.encode()))["offset"])
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise bad_request("Invalid paging token") from None
    chunk = items[offset : offset + flt.limit]
    more = offset + flt.limit < len(items)
    next_token = (
        base64.urlsafe_b64encode(json.dumps({"offset": offset + flt.limit}).encode()).decode()
        if more
        else None
    )
    return chunk, next_token
