"""Test switches over the GraphQL surface, set through ``/__emulator/permissions`` (off after every reset).

JSON form, every key optional::

    {"forbidden": {"<access key>" | "*": ["notifications", ...]}, "filtered": {"<access key>" | "*":
     ["notifications"]}, "unsupported": ["notifications", ...]}

- ``forbidden``: root fields answered ``Forbidden: Insufficient permissions`` for one identity (by its access
  key) or for everyone (``*``), on top of its role (an optional fault: real Guardrails filters instead);
- ``filtered``: list fields whose items the identity has no metadata permission on: answered without error,
  with no items, as real Guardrails does for the activity feed (contract §4.11: a blind key is not refused);
- ``unsupported``: ``Query`` fields the workspace does not have (an older Guardrails): a document selecting
  one fails validation with HTTP 400 ``Cannot query field …``, as it would there.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FILTERABLE", "Permissions"]

FILTERABLE = {"notifications"}  # list fields that a missing metadata permission filters


def _names(value: Any, where: str, known: set[str]) -> set[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{where} must be a list of root field names")
    unknown = set(value) - known
    if unknown:
        raise ValueError(f"{where}: unknown root fields {sorted(unknown)}")
    return set(value)


@dataclass
class Permissions:
    """Root fields ``forbidden`` per access key (``*`` = every key) and ``unsupported`` Query fields."""

    forbidden: dict[str, set[str]] = field(default_factory=dict)
    unsupported: set[str] = field(default_factory=set)
    filtered: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def from_json(
        cls, doc: dict[str, Any], root_fields: Iterable[str], query_fields: Iterable[str]
    ) -> Permissions:
        """Parse the JSON form; raises ValueError on unknown keys or field names."""
        unknown = set(doc) - {"forbidden", "filtered", "unsupported"}
        if unknown:
            raise ValueError(f"unknown permission keys: {sorted(unknown)}")
        forbidden = doc.get("forbidden") or {}
        if not isinstance(forbidden, dict):
            raise ValueError("forbidden must map an access key (or *) to root field names")
        filtered = doc.get("filtered") or {}
        if not isinstance(filtered, dict):
            raise ValueError("filtered must map an access key (or *) to list fields")
        roots = set(root_fields)
        return cls(
            forbidden={str(k): _names(v, f"forbidden[{k}]", roots) for k, v in forbidden.items()},
            unsupported=_names(doc.get("unsupported") or [], "unsupported", set(query_fields)),
            filtered={str(k): _names(v, f"filtered[{k}]", FILTERABLE) for k, v in filtered.items()},
        )

    def hidden(self, access_key: str) -> frozenset[str]:
        """The list fields answered empty to this identity."""
        return frozenset(self.filtered.get(access_key, set()) | self.filtered.get("*", set()))

    def denied(self, access_key: str) -> frozenset[str]:
        """The root fields this identity may not use."""
        return frozenset(self.forbidden.get(access_key, set()) | self.forbidden.get("*", set()))

    def to_json(self) -> dict[str, Any]:
        return {
            "forbidden": {k: sorted(v) for k, v in self.forbidden.items()},
            "unsupported": sorted(self.unsupported),
            "filtered": {k: sorted(v) for k, v in self.filtered.items()},
        }
