"""Variables for, and parsing of, the single-round-trip ``ObservePolicy`` document (pure functions).

The client's ``observe`` sends ``queries/ObservePolicy.graphql`` with :func:`observe_variables` and turns the
reply into an :class:`ObserveResult` with :func:`parse_observe`. Parts without input (no targets, no policy
types, no control type) are switched off with ``@include`` variables, so the document text never changes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .filters import control_summary_filter, policy_types_filter, resource_settings_filter, resources_filter
from .models import (
    ClaimedResource,
    ControlSummary,
    ObservedPack,
    ObservedTarget,
    ObserveResult,
    Pack,
    PolicySetting,
    PolicyType,
    ResourceRef,
)

__all__ = ["observe_variables", "pack_settings_next_page", "parse_observe"]


def observe_variables(
    pack_aka: str,
    targets: Sequence[str],
    policy_type_uris: Sequence[str],
    control_type_uri: str | None,
    claimed_akas: Sequence[str] = (),
) -> dict[str, Any]:
    """The variables of ``ObservePolicy`` for a pack AKA, target refs, policy type URIs, a control type and
    the AKAs whose holders to list (``claimed``)."""
    has_targets = bool(targets)
    has_summary = has_targets and control_type_uri is not None
    return {
        "packAka": pack_aka,
        "packSettingsFilter": resource_settings_filter(pack_aka),
        "hasTargets": has_targets,
        "targetsFilter": resources_filter(targets) if has_targets else None,
        "hasPolicyTypes": bool(policy_type_uris),
        "policyTypesFilter": policy_types_filter(policy_type_uris) if policy_type_uris else None,
        "hasSummary": has_summary,
        "summaryFilter": (
            control_summary_filter(control_type_uri, targets)
            if has_summary and control_type_uri is not None
            else None
        ),
        "hasClaimed": bool(claimed_akas),
        "claimedFilter": resources_filter(claimed_akas) if claimed_akas else None,
    }


def _items(node: Any) -> list[Mapping[str, Any]]:
    if not isinstance(node, Mapping):
        return []
    items = node.get("items")
    return [i for i in items if isinstance(i, Mapping)] if isinstance(items, list) else []


def _attached_pack_ids(target: Mapping[str, Any]) -> tuple[Any, ...]:
    """The ids of the packs attached to a target, in order (``ObservedTarget`` validates them as strings)."""
    turbots = (item.get("turbot") for item in _items(target.get("attachedSmartFolders")))
    return tuple(t.get("id") if isinstance(t, Mapping) else None for t in turbots)


def pack_settings_next_page(data: Mapping[str, Any]) -> str | None:
    """The paging token when the pack has more settings than one page held (rare; the client then pages)."""
    pack = data.get("pack")
    if not isinstance(pack, Mapping):
        return None
    settings = pack.get("policySettings")
    paging = settings.get("paging") if isinstance(settings, Mapping) else None
    token = paging.get("next") if isinstance(paging, Mapping) else None
    return token if isinstance(token, str) else None


def parse_observe(data: Mapping[str, Any]) -> ObserveResult:
    """Build the :class:`ObserveResult` from the ``data`` of an ``ObservePolicy`` reply."""
    pack: ObservedPack | None = None
    node = data.get("pack")
    if isinstance(node, Mapping):
        base = Pack.from_wire(node)
        type_node = node.get("type")
        pack = ObservedPack(
            **base.model_dump(),
            type_uri=type_node.get("uri") if isinstance(type_node, Mapping) else None,
            settings=[PolicySetting.from_wire(s) for s in _items(node.get("policySettings"))],
            attached_to=[ResourceRef.from_wire(r) for r in _items(node.get("attachedResources"))],
        )
    targets = [
        ObservedTarget(
            **ResourceRef.from_wire(t).model_dump(),
            attached_pack_ids=_attached_pack_ids(t),
        )
        for t in _items(data.get("targets"))
    ]
    types = [PolicyType.from_wire(t) for t in _items(data.get("policyTypes"))]
    return ObserveResult(
        pack=pack,
        targets=targets,
        policy_types={t.uri: t for t in types},
        summaries=[ControlSummary.from_wire(s) for s in _items(data.get("summaries"))],
        claimed=[
            ClaimedResource(**ResourceRef.from_wire(c).model_dump(), type_uri=_type_uri(c))
            for c in _items(data.get("claimed"))
        ],
    )


def _type_uri(node: Mapping[str, Any]) -> str | None:
    type_node = node.get("type")
    uri = type_node.get("uri") if isinstance(type_node, Mapping) else None
    return uri if isinstance(uri, str) else None
