"""Strict validation of a value against the JSON-Schema subset policy types use (type, enum, items,
properties, required, minimum, maximum, pattern). No coercion: ``"true"`` is not a boolean."""

from __future__ import annotations

import json
import re
from typing import Any

_TYPES: dict[str, Any] = {
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "null": lambda v: v is None,
}


def _show(value: Any) -> str:
    return json.dumps(value)


def validate(value: Any, schema: dict[str, Any], where: str) -> str | None:
    """The first violation as a human reason (mentioning ``where``), or ``None`` when ``value`` is valid."""
    if "enum" in schema and value not in schema["enum"]:
        return f"{_show(value)} is not an allowed value for {where}"
    expected = schema.get("type")
    if expected is not None:
        names = expected if isinstance(expected, list) else [expected]
        if not any(_TYPES.get(name, lambda v: True)(value) for name in names):
            return f"{_show(value)} is not of type {' or '.join(names)} for {where}"
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            return f"{_show(value)} is less than the minimum {schema['minimum']} for {where}"
        if "maximum" in schema and value > schema["maximum"]:
            return f"{_show(value)} is greater than the maximum {schema['maximum']} for {where}"
    if isinstance(value, str) and "pattern" in schema and not re.search(schema["pattern"], value):
        return f"{_show(value)} does not match the pattern {schema['pattern']!r} for {where}"
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            reason = validate(item, schema["items"], f"{where}[{index}]")
            if reason:
                return reason
    if isinstance(value, dict):
        for name in schema.get("required", []):
            if name not in value:
                return f"property {name!r} is required for {where}"
        for name, sub in (schema.get("properties") or {}).items():
            if name in value and isinstance(sub, dict):
                reason = validate(value[name], sub, f"{where}.{name}")
                if reason:
                    return reason
    return None
