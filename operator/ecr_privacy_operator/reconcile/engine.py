"""One reconcile pass and one finalizer pass for an EcrPrivacyPolicy: observe, plan, apply, and the new status.

Handlers call ``sync`` and ``finalize`` with the parsed spec, the current status and a Guardrails client;
they get back the status to write (or ``None`` when nothing changed, so an idle resync writes nothing to
Kubernetes), the Events to post and the outcome for metrics and backoff (``pass_result``). Errors of the
Guardrails client are turned into condition reasons (``pass_result.failure_outcome``); nothing in this module
raises them further.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from ecr_privacy_operator.crd.conditions import Outcome, OutcomeKind, Reason, derive_conditions, format_time
from ecr_privacy_operator.crd.spec import (
    DeletionPolicy,
    EcrPrivacyPolicySpec,
    ManagementPolicy,
)
from ecr_privacy_operator.crd.status import (
    AppliedValue,
    EcrPrivacyPolicyStatus,
    PolicyPackStatus,
)
from ecr_privacy_operator.guardrails.client import GuardrailsClient
from ecr_privacy_operator.reconcile.actions import Plan
from ecr_privacy_operator.reconcile.apply import ApplyResult, Change, apply
from ecr_privacy_operator.reconcile.desired import Desired, desired_from_spec
from ecr_privacy_operator.reconcile.observe import compliance_counts, observe, observe_compliance
from ecr_privacy_operator.reconcile.observed import Observed, ObservedPack, ObservedSetting
from ecr_privacy_operator.reconcile.ownership import Claim
from ecr_privacy_operator.reconcile.pass_result import (
    Event,
    PassResult,
    attachments_status,
    blocked_outcome,
    changed_status,
    compliance_status,
    drift_events,
    drift_status,
    error_pass,
    failure_outcome,
    settings_status,
)
from ecr_privacy_operator.reconcile.plan import (
    PlanPolicy,
    Previous,
    adoptable,
    applied_values,
    owner_to_check,
    plan,
    plan_deletion,
    plan_withdrawal,
)
from ecr_privacy_operator.reconcile.scopes import Refusal
from ecr_privacy_operator.reconcile.targets import TargetLocks

AdoptionCheck = Callable[[ObservedPack, Sequence[ObservedSetting]], Awaitable[Refusal | None]]
"""Whether the policy's workspace lets it adopt (or observe) a pack found by its AKA (None: yes)."""


_PACK_WRITES = frozenset({"PackCreated", "PackUpdated", "PackAdopted"})


# Problems an earlier pass found in Guardrails: a first sync that met one observes before it writes.
_OBSERVE_FIRST = frozenset({Reason.PACK_CONFLICT, Reason.POLICY_TYPE_NOT_FOUND, Reason.TARGET_NOT_FOUND})


async def _execute(
    client: GuardrailsClient, locks: TargetLocks, planned: Plan, desired: Desired, observing: bool
) -> tuple[ApplyResult, Outcome]:
    """Apply the plan unless it is blocked; the outcome carries the drift counts for the conditions."""
    drift = {"drift_found": len(planned.drift), "drift_remaining": planned.drift_remaining}
    if planned.blocked:
        return ApplyResult(pack_id=planned.pack_id), blocked_outcome(planned)
    applied = await apply(client, locks, planned, desired.pack.ownership_aka, desired.targets)
    if applied.error is not None:
        return applied, failure_outcome(applied.error).model_copy(update=drift)
    return applied, Outcome(kind=OutcomeKind.SUCCEEDED, observing=observing, **drift)


def _write_first(spec: EcrPrivacyPolicySpec, status: EcrPrivacyPolicyStatus) -> bool:
    """True when nothing of this object is known in Guardrails: no pack or attachment in the status, no
    problem found there by an earlier pass, and the operator may write.

    Such a pass creates without observing first. That is safe because the pack's ownership AKA embeds the
    object's UID and AKAs are unique in a workspace: if the pack or a user AKA exists already, Guardrails
    refuses the create, and so it refuses an unknown policy type or a missing target; the pass then observes
    and plans as usual."""
    return (
        spec.management_policy is ManagementPolicy.MANAGE
        and status.policy_pack is None
        and not status.applied_targets
        and not any(c.reason in _OBSERVE_FIRST for c in status.conditions)
    )


async def _undo_created_pack(
    client: GuardrailsClient,
    locks: TargetLocks,
    desired: Desired,
    made: list[Change],
    observed: Observed | None = None,
) -> bool:
    """Delete the pack that this very pass created, now that the pass cannot finish it: its informed plan is
    blocked by a problem (an unknown policy type, a missing target), or Guardrails refused a write for a
    reason retrying cannot cure (a rejected value). The object then leaves nothing half-made in Guardrails,
    exactly as if it had observed first. ``observed``: what the pass read after creating it (else it is read
    now, to find where it is attached). True when the pack is gone."""
    created = next((c.guardrails_id for c in made if c.reason == "PackCreated"), None)
    if created is None:
        return False
    if observed is None:
        observed = await observe(client, desired, desired.targets)
    if observed.pack is None or observed.pack.id != created:
        return False
    undo = plan_deletion(
        observed, deletion_policy=DeletionPolicy.DELETE, management_policy=ManagementPolicy.MANAGE
    )
    return (await apply(client, locks, undo, desired.pack.ownership_aka)).error is None


def _learn_targets(locks: TargetLocks, observed: Observed) -> None:
    """Tell the target locks every name of the targets just read, so that a write to a target holds one lock
    whether it names the target by id or by AKA."""
    for target in observed.targets:
        if target.id is not None:
            locks.learn(target.resource, target.id, *target.akas)


def _earlier_owner_akas(status: EcrPrivacyPolicyStatus) -> tuple[str, ...]:
    """The ownership AKA the status recorded (the pack still carries it if the cluster id changed since)."""
    return (status.ownership_aka,) if status.ownership_aka else ()


async def _observe(
    client: GuardrailsClient,
    locks: TargetLocks,
    desired: Desired,
    claim: Claim,
    status: EcrPrivacyPolicyStatus,
    policy: PlanPolicy,
    adoption_check: AdoptionCheck | None,
) -> Observed:
    """Observe, and when the object may adopt a pack another object of this cluster owns, ask Kubernetes
    whether that owner still exists (only then may it be taken back); a pack it may adopt is then checked
    against the workspace's scope (``adoption_check``)."""
    observed = await observe(client, desired, status.applied_targets, _earlier_owner_akas(status))
    _learn_targets(locks, observed)
    rival = owner_to_check(desired, observed, policy)
    if rival is not None:
        observed = observed.model_copy(update={"foreign_owner_exists": await claim.owner_exists(rival)})
    if (
        adoption_check is not None
        and observed.foreign_pack is not None
        and adoptable(desired, observed, policy)
    ):
        refusal = await adoption_check(observed.foreign_pack, observed.settings)
        if refusal is not None:
            observed = observed.model_copy(update={"foreign_out_of_scope": refusal.message})
    return observed


async def sync(
    client: GuardrailsClient,
    locks: TargetLocks,
    spec: EcrPrivacyPolicySpec,
    claim: Claim,
    generation: int,
    status: EcrPrivacyPolicyStatus,
    now: datetime,
    adoption_check: AdoptionCheck | None = None,
    approvals: tuple[str, ...] = (),
) -> PassResult:
    """Observe, plan and apply one object; return the new status (None if unchanged) and Events.
    ``approvals``: ARNs that exceptions approve before the repositories exist (``desired_from_spec``).

    ``adoption_check`` (a cluster workspace's): a pack found by its AKA is adopted or observed only if it passes
    (and then the messages name nothing of other tenants).

    A difference is a spec change still to apply while ``status.appliedGeneration`` lags
    ``metadata.generation`` (so a failed attempt is retried as pending work, even under Report), and drift
    once the generation has been applied in full. A first sync writes before it reads (``_write_first``):
    create the pack with its settings, attach, and verify, three round trips.
    """
    desired = desired_from_spec(spec, claim.owner, approvals)
    observing = spec.management_policy is ManagementPolicy.OBSERVE
    previous = Previous.from_status(status)
    policy = PlanPolicy.from_spec(
        spec, spec_changed=status.applied_generation != generation, shared=adoption_check is not None
    )
    observed = Observed.nothing_yet(desired.targets) if _write_first(spec, status) else None
    earlier: list[Change] = []
    if observed is not None:
        planned = plan(desired, observed, policy, previous)
        applied, outcome = await _execute(client, locks, planned, desired, observing)
        if applied.error is not None:  # refused: read what is there (and what this pass made) and plan again
            observed, earlier = None, applied.changes
    if observed is None:
        observed = await _observe(client, locks, desired, claim, status, policy, adoption_check)
        planned = plan(desired, observed, policy, previous)
        if planned.blocked and await _undo_created_pack(client, locks, desired, earlier, observed):
            earlier = []
            observed = observed.model_copy(update={"pack": None, "settings": ()})
            planned = plan(desired, observed, policy, previous)
        applied, outcome = await _execute(client, locks, planned, desired, observing)
        applied.changes[:0] = earlier
        if (
            applied.error is not None
            and not outcome.retryable
            and await _undo_created_pack(client, locks, desired, applied.changes)
        ):  # e.g. a rejected value: the pack made in this pass goes again, with what was written on it
            applied = ApplyResult(pack_id=None, error=applied.error)
            observed = observed.model_copy(update={"pack": None, "settings": ()})
    compliance = observed.compliance
    if applied.changes and desired.targets and applied.error is None:
        compliance = (
            compliance_counts(applied.summaries, desired.targets)
            if applied.summaries is not None
            else await observe_compliance(client, desired.targets)
        )
    events = drift_events(planned, status) + [Event("Normal", c.reason, c.message) for c in applied.changes]
    pack_id = applied.pack_id
    pack_written = any(c.reason in _PACK_WRITES for c in applied.changes)
    pack_akas = observed.pack.akas if observed.pack and not pack_written else desired.pack.akas
    succeeded = outcome.kind is OutcomeKind.SUCCEEDED
    in_line = succeeded and not outcome.drift_remaining
    was_ready = any(c.type == "Ready" and c.status == "True" for c in status.conditions)
    applied_now = succeeded and not observing
    new = EcrPrivacyPolicyStatus(
        observed_generation=generation,
        applied_generation=generation if applied_now else status.applied_generation,
        applied_values=(
            tuple(AppliedValue(object=o, field=f, value=v) for o, f, v in applied_values(desired))
            if applied_now
            else status.applied_values
        ),
        conditions=tuple(
            derive_conditions(status.conditions, outcome, observed_generation=generation, now=now)
        ),
        ownership_aka=desired.pack.ownership_aka,
        policy_pack=PolicyPackStatus(id=pack_id, akas=tuple(pack_akas)) if pack_id else None,
        settings=settings_status(desired, observed, applied) if pack_id else (),
        attachments=attachments_status(desired, observed, pack_id, applied),
        drift=drift_status(planned, status, now),
        compliance=compliance_status(
            compliance, status.compliance, now, bool(compliance) or bool(desired.targets)
        ),
        last_sync_time=format_time(now)
        if in_line and (applied.changes or not was_ready)
        else status.last_sync_time,
    )
    changed = changed_status(status, new)
    if outcome.kind is OutcomeKind.FAILED and changed is not None:
        events.append(Event("Warning", outcome.reason, outcome.message))
    return PassResult(
        status=changed, outcome=outcome, events=events, changes=applied.changes, pack_id=pack_id
    )


async def finalize(
    client: GuardrailsClient,
    locks: TargetLocks,
    spec: EcrPrivacyPolicySpec,
    claim: Claim,
    generation: int,
    status: EcrPrivacyPolicyStatus,
    now: datetime,
) -> PassResult:
    """Detach the pack everywhere and delete it (Delete), or leave it (Orphan / Observe). Only the object's
    own pack (by its ownership AKA) is ever deleted: never one that it found but did not adopt."""
    desired = desired_from_spec(spec, claim.owner)
    targets = tuple(dict.fromkeys([*desired.targets, *status.applied_targets]))
    observed = await observe(
        client, desired.model_copy(update={"targets": targets}), (), _earlier_owner_akas(status)
    )
    _learn_targets(locks, observed)
    planned = plan_deletion(
        observed, deletion_policy=spec.deletion_policy, management_policy=spec.management_policy
    )
    applied = await apply(client, locks, planned, desired.pack.ownership_aka)
    events = [Event("Normal", c.reason, c.message) for c in applied.changes]
    if applied.error is None:
        return PassResult(
            status=None,
            outcome=Outcome(kind=OutcomeKind.SUCCEEDED),
            events=events,
            changes=applied.changes,
            pack_id=planned.pack_id,
            finished=True,
        )
    failed = failure_outcome(applied.error)
    outcome = Outcome(
        kind=OutcomeKind.DELETING,
        reason=failed.reason,
        message=f"waiting to delete the policy pack: {failed.message}",
    )
    events.append(Event("Warning", failed.reason, outcome.message))
    new = status.model_copy(
        update={
            "conditions": tuple(
                derive_conditions(status.conditions, outcome, observed_generation=generation, now=now)
            ),
        }
    )
    return PassResult(
        status=changed_status(status, new),
        outcome=outcome,
        events=events,
        changes=applied.changes,
        pack_id=planned.pack_id,
        finished=False,
    )


async def withdraw(
    client: GuardrailsClient,
    locks: TargetLocks,
    spec: EcrPrivacyPolicySpec,
    claim: Claim,
    generation: int,
    status: EcrPrivacyPolicyStatus,
    now: datetime,
    refusal: Refusal,
) -> PassResult:
    """A pass refused by the workspace's scope, which no longer allows targets the pack was attached to
    (``refusal.withdraw``): detach the object's own pack from them (an Event each) and write nothing else;
    the status reports the refusal and keeps only the attachments that stay. Under Observe nothing is
    written and the refusal names the targets."""
    leaving = ", ".join(refusal.withdraw)
    if spec.management_policy is ManagementPolicy.OBSERVE:
        said = f"{refusal.message}; the pack stays attached to {leaving} (managementPolicy Observe writes nothing)"
        return error_pass(refusal.outcome().model_copy(update={"message": said}), status, generation, now)
    desired = desired_from_spec(spec, claim.owner)
    observed = await observe(
        client, desired.model_copy(update={"targets": refusal.withdraw}), (), _earlier_owner_akas(status)
    )
    _learn_targets(locks, observed)
    applied = await apply(client, locks, plan_withdrawal(observed), desired.pack.ownership_aka)
    outcome = (
        refusal.outcome().model_copy(
            update={"message": f"{refusal.message}; the pack is detached from {leaving}"}
        )
        if applied.error is None
        else failure_outcome(applied.error)
    )
    gone = set(refusal.withdraw) if applied.error is None else set(applied.detached)
    kept = tuple(a for a in status.attachments if a.resource not in gone)
    result = error_pass(outcome, status.model_copy(update={"attachments": kept}), generation, now)
    result.status = changed_status(status, result.status or status.model_copy(update={"attachments": kept}))
    result.events[:0] = [Event("Normal", c.reason, c.message) for c in applied.changes]
    result.changes = applied.changes
    return result
