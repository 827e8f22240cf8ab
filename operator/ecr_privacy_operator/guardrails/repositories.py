"""Reads for exceptions, batched: what the exceptions of a policy need about their repositories in ONE round
trip, whatever their number (composed from the list documents by ``batch.py``). Each chunk of at most
``CHUNK`` repositories (and targets) is one set of aliased views, each naming them in one filter term:

- ``r<i>``: ``ListResources`` for the repositories and the attachment targets (paths: "under the policy");
- ``s<i>``: ``ListPolicySettings``, the Usage settings placed directly on those repositories;
- ``v<i>``: ``ListPolicyValues``, the Usage value resolved on each (which setting wins: "in force");
- ``c<i>``: ``ControlSummariesByResource``, the Approved control's counts per repository.

The filters name the repositories as given (ids or AKAs); a repository that does not exist is simply absent, a
value not materialized is absent. Any error fails the whole read (a check acts on all of its facts or none: a
settings view lost alone would look like "no setting" and lead to a create)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .base import ClientBase, field_of
from .batch import BatchPart, compose_batch
from .filters import control_summary_filter, resources_filter, type_on_resources_filter
from .models import ControlSummary, PolicySetting, PolicyValue, ResourceInfo

__all__ = ["CHUNK", "RepositoryOperations", "RepositoryReads"]

CHUNK = 50  # ids or AKAs named by one filter term


@dataclass(frozen=True)
class RepositoryReads:
    """Everything read: resources by ref as given, and per repository id its setting, value and counts."""

    resources: Mapping[str, ResourceInfo | None] = field(default_factory=dict)
    settings: Mapping[str, PolicySetting | None] = field(default_factory=dict)
    values: Mapping[str, PolicyValue | None] = field(default_factory=dict)
    summaries: Sequence[ControlSummary] = ()


class RepositoryOperations(ClientBase):
    """Mixed into :class:`GuardrailsClient`."""

    async def read_repositories(
        self, refs: Sequence[str], targets: Sequence[str], setting_type: str, control_type: str
    ) -> RepositoryReads:
        """One round trip (none when there is nothing to read)."""
        refs = list(dict.fromkeys(refs))
        named = list(dict.fromkeys([*refs, *targets]))
        if not named:
            return RepositoryReads()
        parts = [
            BatchPart("ListResources", f"r{i}", {"filter": resources_filter(chunk)})
            for i, chunk in enumerate(_chunks(named))
        ]
        for i, chunk in enumerate(_chunks(refs)):
            on_them = type_on_resources_filter(setting_type, chunk)
            parts += [
                BatchPart("ListPolicySettings", f"s{i}", {"filter": on_them}),
                BatchPart("ListPolicyValues", f"v{i}", {"filter": on_them}),
                BatchPart(
                    "ControlSummariesByResource",
                    f"c{i}",
                    {"filter": control_summary_filter(control_type, chunk)},
                ),
            ]
        batch = compose_batch("ReadExceptionChecks", parts)
        name = batch.name
        data = (await self._transport.execute(batch.text, name, batch.variables)).data or {}

        def items(prefix: str, count: int) -> list[Mapping[str, Any]]:
            found: list[Mapping[str, Any]] = []
            for i in range(count):
                found += list((field_of(data, f"{prefix}{i}") or {}).get("items") or [])
            return found

        views = len(_chunks(refs))
        infos = self._parse(
            name, lambda: [ResourceInfo.from_wire(i) for i in items("r", len(_chunks(named)))]
        )
        resources = {ref: next((r for r in infos if r.matches(ref)), None) for ref in named}
        settings = self._parse(name, lambda: [PolicySetting.from_wire(i) for i in items("s", views)])
        values = self._parse(name, lambda: [PolicyValue.from_wire(i) for i in items("v", views)])
        summaries = self._parse(name, lambda: [ControlSummary.from_wire(i) for i in items("c", views)])
        return RepositoryReads(
            resources=resources,
            settings={s.resource_id: s for s in settings if s.resource_id},
            values={v.resource_id: v for v in values if v.resource_id},
            summaries=summaries,
        )


def _chunks(refs: Sequence[str]) -> list[Sequence[str]]:
    """``refs`` in slices of at most ``CHUNK`` (one filter term names no more)."""
    return [refs[i : i + CHUNK] for i in range(0, len(refs), CHUNK)]
