"""Build Guardrails filter strings (which travel as variable values, never inside a document).

Several values in one term are single-quoted and joined with ``,`` (docs/architecture.md):
``resource:'arn:aws:::1','123' level:self``. A value containing a quote cannot be expressed and is rejected.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "LIMIT",
    "control_summary_filter",
    "policy_types_filter",
    "resource_settings_filter",
    "resources_filter",
    "setting_filter",
    "type_on_resources_filter",
]

LIMIT = 5000


def quoted(values: Iterable[str]) -> str:
    """``'a','b'`` for a filter term; raises ``ValueError`` for empty input or a value with a quote."""
    items = list(dict.fromkeys(values))
    if not items:
        raise ValueError("a filter term needs at least one value")
    for value in items:
        if not value or "'" in value:
            raise ValueError(f"value cannot be used in a filter: {value!r}")
    return ",".join(f"'{v}'" for v in items)


def resources_filter(refs: Iterable[str]) -> list[str]:
    """Exactly the resources named by id or AKA."""
    return [f"resource:{quoted(refs)} level:self limit:{LIMIT}"]


def resource_settings_filter(resource: str) -> list[str]:
    """All settings placed directly on one resource (e.g. a pack)."""
    return [f"resource:{quoted([resource])} level:self limit:{LIMIT}"]


def setting_filter(type_uri: str, resource: str) -> list[str]:
    """The setting of one policy type placed directly on one resource."""
    return [
        f"policyTypeId:{quoted([type_uri])} policyTypeLevel:self resource:{quoted([resource])} level:self"
    ]


def type_on_resources_filter(type_uri: str, resources: Iterable[str]) -> list[str]:
    """The settings (or values) of one policy type placed directly on (resolved on) each of ``resources``."""
    return [
        f"policyTypeId:{quoted([type_uri])} policyTypeLevel:self resource:{quoted(resources)} level:self "
        f"limit:{LIMIT}"
    ]


def policy_types_filter(uris: Iterable[str]) -> list[str]:
    """Exactly the policy types named (no sub-policies)."""
    return [f"policyTypeId:{quoted(uris)} level:self limit:{LIMIT}"]


def control_summary_filter(control_type_uri: str, targets: Iterable[str]) -> list[str]:
    """Controls of one type, summarised per target (each target's subtree counted)."""
    return [f"controlTypeId:{quoted([control_type_uri])} controlTypeLevel:self resource:{quoted(targets)}"]
