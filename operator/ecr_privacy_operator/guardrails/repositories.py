"""Reads for exceptions, batched: what an exception pass needs about its repositories in two round trips,
whatever their number (composed from the one-field documents by ``batch.py``).

1. ``ReadResource`` for every repository and every attachment target (paths: "under the policy");
2. for the repositories that exist: the Usage setting placed directly on each (``ListPolicySettings``), the
   Usage value there (``ReadPolicyValue``: which setting wins) and, in one field, the Approved control's counts
   per repository (``ControlSummariesByResource``).

A field that fails alone (a value not materialized, a resource gone meanwhile) is ``None`` for that alias; an
error without a path fails the read as any request does."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .base import ClientBase, field_of
from .batch import BatchPart, compose_batch
from .filters import control_summary_filter, setting_filter
from .models import ControlSummary, PolicySetting, PolicyValue, ResourceInfo

__all__ = ["RepositoryOperations", "RepositoryReads"]

T = TypeVar("T")


@dataclass(frozen=True)
class RepositoryReads:
    """Everything read: resources by ref as given, and per repository id its setting, value and counts."""

    resources: Mapping[str, ResourceInfo | None] = field(default_factory=dict)
    settings: Mapping[str, PolicySetting | None] = field(default_factory=dict)
    values: Mapping[str, PolicyValue | None] = field(default_factory=dict)
    summaries: Sequence[ControlSummary] = ()


class RepositoryOperations(ClientBase):
    """Mixed into :class:`GuardrailsClient`."""

    async def _query_batch(self, name: str, parts: list[BatchPart]) -> tuple[dict[str, Any], set[str]]:
        """Run the composed query; return its data and the aliases that failed alone."""
        batch = compose_batch(name, parts)
        reply = await self._transport.execute(batch.text, batch.name, batch.variables, allow_partial=True)
        failed = {str((e.get("path") or [""])[0]) for e in reply.errors}
        return dict(reply.data or {}), failed

    def _one(
        self,
        name: str,
        data: Mapping[str, Any],
        failed: set[str],
        alias: str,
        build: Callable[[Mapping[str, Any]], T],
    ) -> T | None:
        node = None if alias in failed else field_of(data, alias)
        return None if node is None else self._parse(name, lambda: build(node))

    async def read_repositories(
        self, refs: Sequence[str], targets: Sequence[str], setting_type: str, control_type: str
    ) -> RepositoryReads:
        """Two round trips (one when no repository exists)."""
        named = list(dict.fromkeys([*refs, *targets]))
        parts = [BatchPart("ReadResource", f"r{i}", {"id": ref}) for i, ref in enumerate(named)]
        data, failed = await self._query_batch("ReadExceptionResources", parts)
        resources = {
            ref: self._one("ReadExceptionResources", data, failed, f"r{i}", ResourceInfo.from_wire)
            for i, ref in enumerate(named)
        }
        ids = list(dict.fromkeys(info.id for ref in refs if (info := resources[ref]) is not None and info.id))
        if not ids:
            return RepositoryReads(resources=resources)
        parts = [
            *(
                BatchPart("ListPolicySettings", f"s{i}", {"filter": setting_filter(setting_type, rid)})
                for i, rid in enumerate(ids)
            ),
            *(
                BatchPart("ReadPolicyValue", f"v{i}", {"uri": setting_type, "resourceId": rid})
                for i, rid in enumerate(ids)
            ),
            BatchPart(
                "ControlSummariesByResource", "c", {"filter": control_summary_filter(control_type, ids)}
            ),
        ]
        name = "ReadExceptionSettings"
        data, failed = await self._query_batch(name, parts)
        settings: dict[str, PolicySetting | None] = {}
        values: dict[str, PolicyValue | None] = {}
        for i, rid in enumerate(ids):
            page = self._one(name, data, failed, f"s{i}", lambda node: list(node.get("items") or []))
            settings[rid] = PolicySetting.from_wire(page[0]) if page else None
            values[rid] = self._one(name, data, failed, f"v{i}", PolicyValue.from_wire)
        items = self._one(name, data, failed, "c", lambda node: list(node.get("items") or [])) or []
        summaries = self._parse(name, lambda: [ControlSummary.from_wire(i) for i in items])
        return RepositoryReads(resources=resources, settings=settings, values=values, summaries=summaries)
