"""Observe: read what Guardrails holds for one object into the ``Observed`` domain model (effectful).

One round trip: the client's single ``observe`` document reads the pack by its ownership AKA (with settings
and the resources it is attached to), the targets with their attached packs, the policy types, the control
summaries and the resources holding the user AKAs or the object's legacy ownership AKA. Only when our pack is not
found by its ownership AKA but a pack holds the legacy one (ours, made by an earlier version: it is then ours) or
a user AKA (to adopt it, or to report the conflict) is that pack read in full, one more round trip.
"""

from __future__ import annotations

from collections.abc import Sequence

from ecr_privacy_operator.crd.spec import SEED_CONTROL_TYPE
from ecr_privacy_operator.guardrails.client import GuardrailsClient
from ecr_privacy_operator.guardrails.models import ControlSummary, ObserveResult
from ecr_privacy_operator.guardrails.models import ObservedPack as WirePack
from ecr_privacy_operator.reconcile.desired import Desired
from ecr_privacy_operator.reconcile.observed import (
    ComplianceCounts,
    Observed,
    ObservedPack,
    ObservedSetting,
    ObservedTarget,
)


def _unique(items: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def _pack(wire: WirePack) -> ObservedPack:
    return ObservedPack(
        id=wire.id,
        akas=tuple(wire.akas),
        title=wire.title,
        description=wire.description,
        parent_id=wire.parent_id,
        attached_to=tuple(r.id for r in wire.attached_to),
    )


def _settings(wire: WirePack | None) -> tuple[ObservedSetting, ...]:
    if wire is None:
        return ()
    return tuple(
        ObservedSetting(
            id=s.id,
            type=s.type_uri or "",
            value=s.value,
            value_source=s.value_source,
            precedence=s.precedence,
            note=s.note,
            template=s.template,
            template_input=s.template_input,
        )
        for s in wire.settings
    )


def to_observed(
    result: ObserveResult,
    targets: Sequence[str],
    foreign: ObserveResult | None = None,
    own: ObserveResult | None = None,
) -> Observed:
    """Map the client's reply to Observed, with the reply for a pack found by a user AKA (``foreign``) or our
    own pack found under another form of its ownership AKA (``own``) when one was looked up."""
    observed_targets = []
    compliance: dict[str, ComplianceCounts] = {}
    for resource in targets:
        found = result.target(resource)
        observed_targets.append(
            ObservedTarget(
                resource=resource,
                id=found.id if found else None,
                akas=tuple(found.akas) if found else (),
                attached_pack_ids=found.attached_pack_ids if found else (),
            )
        )
        summary = next((s for s in result.summaries if s.resource.matches(resource)), None)
        if summary is not None:
            compliance[resource] = summary.counts
    foreign_pack = foreign.pack if foreign else None
    own_pack = result.pack if result.pack is not None else (own.pack if own else None)
    settings_source = own_pack if own_pack is not None else foreign_pack
    return Observed(
        pack=_pack(own_pack) if own_pack else None,
        foreign_pack=_pack(foreign_pack) if foreign_pack else None,
        settings=_settings(settings_source),
        targets=tuple(observed_targets),
        policy_types=frozenset(result.policy_types),
        compliance=compliance,
    )


async def observe(
    client: GuardrailsClient,
    desired: Desired,
    previous_targets: Sequence[str],
    earlier_owner_akas: Sequence[str] = (),
) -> Observed:
    """Read Guardrails for ``desired`` (and the targets applied before, so removed ones can be detached).

    Our pack is also looked for under the legacy ownership AKA and under ``earlier_owner_akas`` (the one the
    status recorded, should the cluster id have changed since), in the same request."""
    targets = _unique([*desired.targets, *previous_targets])
    types = desired.setting_types
    owner = desired.pack.owner
    ours = _unique(
        [owner.legacy_aka, *(a for a in earlier_owner_akas if owner.names_me(a) and a != owner.aka)]
    )
    result = await client.observe(
        owner.aka,
        targets=targets,
        policy_type_uris=types,
        control_type_uri=SEED_CONTROL_TYPE,
        claimed_akas=(*desired.pack.user_akas, *ours),
    )
    if result.pack is not None:
        return to_observed(result, targets)
    holder = next(filter(None, map(result.claimed_pack, (*ours, *desired.pack.user_akas))), None)
    if holder is None:
        return to_observed(result, targets)
    found = await client.observe(holder.id)
    if any(map(owner.names_me, holder.akas)):  # ours, under an older form of the ownership AKA
        return to_observed(result, targets, own=found)
    return to_observed(result, targets, foreign=found)


async def observe_compliance(client: GuardrailsClient, targets: Sequence[str]) -> dict[str, ComplianceCounts]:
    """Re-read only the control summaries (after a write that can change them, e.g. enforcement)."""
    return compliance_counts(await client.control_summaries(SEED_CONTROL_TYPE, list(targets)), targets)


def compliance_counts(
    summaries: Sequence[ControlSummary], targets: Sequence[str]
) -> dict[str, ComplianceCounts]:
    """The counts per target out of control summaries (targets without a summary are left out)."""
    counts: dict[str, ComplianceCounts] = {}
    for resource in targets:
        summary = next((s for s in summaries if s.resource.matches(resource)), None)
        if summary is not None:
            counts[resource] = summary.counts
    return counts
