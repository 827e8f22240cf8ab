"""The planner: Desired x Observed x policy -> Plan (pure). This is where the operator's behaviour lives.

Vocabulary. A difference between Desired and Observed is either *pending work* (the spec asks for something
the operator has not applied yet: first creation, a new desired value of that very field, an entry never
applied before) or *drift* (something the operator applied, or never asked for, was changed in Guardrails by
someone else). ``Previous`` (from the status) tells them apart: it holds the desired value last applied for
each field (``status.appliedValues``, written by ``applied_values``), so a spec change makes pending work of
exactly the fields whose desired value it changed; under Report every other drifted field stays reported.
Only a status written before that record existed falls back to ``PlanPolicy.spec_changed``
(``metadata.generation`` != ``status.appliedGeneration``: every field counts as changed).

Rules:

1. Nothing differs -> an empty plan with no drift (idempotence: a second pass writes nothing).
2. ``managementPolicy: Observe`` -> never any action (not even on deletion); every difference is drift.
3. ``managementPolicy: Manage`` -> pending work is always planned; drift is planned back (``corrected``)
   only with ``driftPolicy: Correct`` and otherwise only reported (Report). First creation therefore
   happens under Report.
4. Identity: our pack is the one holding the ownership AKA, or its legacy form (``Observed.pack``; a legacy
   AKA is rewritten to the current form whenever the operator may write, never reported as drift). Another
   pack holding one of the user AKAs (``Observed.foreign_pack``) is adopted (AdoptPack: its AKAs become the
   desired ones) only when ``policyPack.adopt`` is true, we have no pack yet, and the pack is either owned by
   no EcrPrivacyPolicy, or owned by an object of this cluster that no longer exists
   (``Observed.foreign_owner_exists`` is False: a cluster rebuilt from Git), or owned by another cluster (or
   by a legacy AKA, which names no cluster) and ``policyPack.adoptFromOtherClusters`` is true. Otherwise it
   is a PackConflict problem whose message names the owner (through a cluster workspace, ``PlanPolicy.shared``,
   it names neither the pack nor an owner outside the object's own namespace). Under Observe, ``adopt``
   compares a pack by the same rules, so it never reports another live owner's pack. A pack the policy's cluster
   workspace does not wholly allow (``Observed.foreign_out_of_scope``) is neither adopted nor compared
   (AdoptionNotAllowed).
5. Our pack missing although the status recorded one -> drift (deleted outside the operator); recreated (with
   settings and attachments) only with Correct.
6. Pack attributes: title, description and AKAs (compared as sets) are updated; ``parent`` is immutable in the
   CRD and not compared (Guardrails reads it back as an id).
7. Settings: compared by policy type. ``value`` is compared as JSON, unless the spec sets the setting through
   ``valueSource``, then the valueSource text is compared (Guardrails stores it verbatim). Precedence is
   compared normalised (must/should read as REQUIRED/RECOMMENDED). A spec ``note`` of None leaves the note
   unmanaged. Settings on our pack that the spec does not ask for are deleted: as pending work when the
   operator set them before (status), else as drift (deleted only with Correct).
8. Unknown policy types (``Observed.policy_types``) -> PolicyTypeNotFound; a desired target that does not
   resolve -> TargetNotFound.
9. Attachments: missing ones are attached in spec order; the pack is detached from previously applied targets
   that left the spec (pending work) and from resources it is attached to outside the spec (drift).
10. Any problem blocks every action (the plan keeps the drift it found, all uncorrected).
11. Order: pack, settings (delete, update, create), detach, attach.

``plan_deletion`` handles the finalizer: detach from every target the pack is attached to, then delete it;
nothing for Orphan, for Observe, or when the pack is already gone.
"""

from __future__ import annotations

from pydantic import JsonValue

from ecr_privacy_operator.crd.conditions import Reason
from ecr_privacy_operator.crd.spec import DeletionPolicy, DriftPolicy, EcrPrivacyPolicySpec, ManagementPolicy
from ecr_privacy_operator.crd.status import EcrPrivacyPolicyStatus
from ecr_privacy_operator.reconcile.actions import (
    Action,
    AdoptPack,
    Attach,
    CreatePack,
    CreateSetting,
    DeletePack,
    DeleteSetting,
    Detach,
    DriftItem,
    Plan,
    Problem,
    UpdatePack,
    UpdateSetting,
)
from ecr_privacy_operator.reconcile.desired import Desired, DesiredSetting
from ecr_privacy_operator.reconcile.frozen import FrozenModel
from ecr_privacy_operator.reconcile.observed import Observed, ObservedPack, ObservedSetting, json_equal
from ecr_privacy_operator.reconcile.ownership import Owner

PACK = "policyPack"


class PlanPolicy(FrozenModel):
    """How differences are treated: from the spec, plus whether the spec changed since the last pass."""

    drift_policy: DriftPolicy = DriftPolicy.CORRECT
    management_policy: ManagementPolicy = ManagementPolicy.MANAGE
    spec_changed: bool = False  # only for a status without ``appliedValues`` (written by an earlier version)
    shared: bool = False  # through a cluster workspace: messages name nothing of other tenants

    @classmethod
    def from_spec(cls, spec: EcrPrivacyPolicySpec, *, spec_changed: bool, shared: bool = False) -> PlanPolicy:
        """The policy of one object for one pass."""
        return cls(
            drift_policy=spec.drift_policy,
            management_policy=spec.management_policy,
            spec_changed=spec_changed,
            shared=shared,
        )

    @property
    def manage(self) -> bool:
        """True when the operator may write."""
        return self.management_policy is ManagementPolicy.MANAGE

    def classify(
        self, previously_applied: bool, *, desired_changed: bool, external: bool = False
    ) -> tuple[bool, bool]:
        """(is drift, plan a fix) for one difference.

        ``previously_applied``: the operator applied this part before; ``desired_changed``: the spec changed
        this field's desired value since (so the difference is pending work, not drift). ``external``: the
        difference is something the spec never asked for (always drift).
        """
        if not self.manage:
            return True, False
        is_drift = external or (previously_applied and not desired_changed)
        return is_drift, (not is_drift) or self.drift_policy is DriftPolicy.CORRECT


Field = tuple[str, str]  # (object, field) as in a DriftItem


class Previous(FrozenModel):
    """What earlier passes applied, read from the status (the planner's memory). ``applied_values``: the
    desired value last applied per (object, field); None when the status has no such record."""

    pack_id: str | None = None
    setting_types: frozenset[str] = frozenset()
    targets: tuple[str, ...] = ()
    applied_values: dict[Field, JsonValue] | None = None

    @classmethod
    def from_status(cls, status: EcrPrivacyPolicyStatus) -> Previous:
        """Read the previously applied pack, setting types, targets and desired values from the status."""
        recorded = status.applied_values
        return cls(
            pack_id=status.policy_pack.id if status.policy_pack else None,
            setting_types=status.applied_setting_types,
            targets=status.applied_targets,
            applied_values=None if recorded is None else {(v.object, v.field): v.value for v in recorded},
        )

    def desired_changed(self, key: Field, desired: JsonValue, spec_changed: bool) -> bool:
        """True when ``desired`` is not the value last applied to that field (never applied counts as changed).
        Without a record, every field counts as changed exactly when the spec did."""
        if self.applied_values is None:
            return spec_changed
        return key not in self.applied_values or not json_equal(
            self.applied_values[key], _comparable(key, desired)
        )


def _comparable(key: Field, value: JsonValue) -> JsonValue:
    """A desired value as recorded and compared: AKAs are a set (sorted)."""
    if key[1] != "akas" or not isinstance(value, list):
        return value
    akas: list[JsonValue] = [*sorted(str(a) for a in value)]
    return akas


def applied_values(desired: Desired) -> tuple[tuple[str, str, JsonValue], ...]:
    """(object, field, desired value) of every field a successful pass has applied: what ``Previous`` reads
    back from ``status.appliedValues`` to tell a spec change from drift, field by field."""
    pack = desired.pack
    values: list[tuple[str, str, JsonValue]] = [
        (PACK, "exists", True),
        (PACK, "title", pack.title),
        (PACK, "description", pack.description),
        (PACK, "akas", _comparable((PACK, "akas"), list(pack.akas))),
    ]
    for setting in desired.settings:
        obj = f"setting:{setting.type}"
        values.append((obj, "exists", True))
        if setting.template is not None:
            values.append((obj, "template", setting.template))
        elif setting.value_source is not None:
            values.append((obj, "valueSource", setting.value_source))
        else:
            values.append((obj, "value", setting.value))
        values.append((obj, "precedence", setting.precedence))
        values.append((obj, "note", setting.note))
    values.extend((f"attachment:{resource}", "attached", True) for resource in desired.targets)
    return tuple(values)


class _Builder:
    """Collects actions, drift and problems for one plan."""

    def __init__(self, policy: PlanPolicy, prev: Previous) -> None:
        self.policy = policy
        self.prev = prev
        self.pack: list[Action] = []
        self.settings_delete: list[Action] = []
        self.settings_update: list[Action] = []
        self.settings_create: list[Action] = []
        self.detach: list[Action] = []
        self.attach: list[Action] = []
        self.drift: list[DriftItem] = []
        self.problems: list[Problem] = []

    def should_fix(
        self,
        previously_applied: bool,
        obj: str,
        field: str,
        desired: JsonValue,
        actual: JsonValue,
        *,
        external: bool = False,
    ) -> bool:
        """Record a difference (as drift, when it is drift); True when the plan should fix it."""
        changed = self.prev.desired_changed((obj, field), desired, self.policy.spec_changed)
        is_drift, fix = self.policy.classify(previously_applied, desired_changed=changed, external=external)
        if is_drift:
            self.drift.append(
                DriftItem(object=obj, field=field, desired=desired, actual=actual, corrected=fix)
            )
        return fix

    def build(self, pack_id: str | None) -> Plan:
        if self.problems:
            drift = tuple(d.model_copy(update={"corrected": False}) for d in self.drift)
            return Plan(drift=drift, problems=tuple(self.problems), pack_id=pack_id)
        actions = (
            *self.pack,
            *self.settings_delete,
            *self.settings_update,
            *self.settings_create,
            *self.detach,
            *self.attach,
        )
        return Plan(actions=actions, drift=tuple(self.drift), problems=(), pack_id=pack_id)


def plan(desired: Desired, observed: Observed, policy: PlanPolicy, previous: Previous | None = None) -> Plan:
    """Plan one reconcile pass (see the module docstring for the rules)."""
    prev = previous or Previous()
    b = _Builder(policy, prev)
    _check_policy_types(b, desired, observed)
    subject, adopting = _identify(b, desired, observed)
    if subject is None:
        _plan_missing_pack(b, desired, observed, prev)
        return b.build(None)
    if adopting and policy.manage:
        b.pack.append(AdoptPack(pack_id=subject.id, akas=desired.pack.akas))
    _plan_pack_attributes(b, desired, subject, prev, adopting)
    _plan_settings(b, desired, observed, subject.id, prev)
    _plan_attachments(b, desired, observed, subject, prev)
    return b.build(subject.id)


def _check_policy_types(b: _Builder, desired: Desired, observed: Observed) -> None:
    if observed.policy_types is None:
        return
    for type_uri in desired.setting_types:
        if type_uri not in observed.policy_types:
            b.problems.append(
                Problem(
                    reason=Reason.POLICY_TYPE_NOT_FOUND,
                    message=f"policy type {type_uri} not found. Is the mod installed?",
                )
            )


def _identify(b: _Builder, desired: Desired, observed: Observed) -> tuple[ObservedPack | None, bool]:
    """Rule 4: return (the pack to work on, whether it is being adopted)."""
    ours, foreign = observed.pack, observed.foreign_pack
    if foreign is None or (ours is not None and foreign.id == ours.id):
        return ours, False
    refusal = "" if ours is not None else _adoption_refusal(desired, observed, foreign)
    if refusal is None and observed.foreign_out_of_scope is not None:
        b.problems.append(Problem(reason=Reason.ADOPTION_NOT_ALLOWED, message=observed.foreign_out_of_scope))
        return ours, False
    if refusal is None:
        return foreign, True
    held = sorted(set(foreign.akas) & set(desired.pack.user_akas)) or list(desired.pack.user_akas)
    b.problems.append(
        Problem(
            reason=Reason.PACK_CONFLICT,
            message=f"AKA {', '.join(held)} is held by {_holder(desired, foreign, b.policy.shared)}{refusal}",
        )
    )
    return ours, False


def _holder(desired: Desired, foreign: ObservedPack, shared: bool) -> str:
    """The pack holding a wanted AKA and its owner, in words; through a cluster workspace (``shared``) without
    the pack's id, and naming an owner object only when it is in the object's own namespace of this cluster."""
    owner = Owner.holding(foreign.akas)
    me = desired.pack.owner
    if owner is None:
        whose = "not owned by any EcrPrivacyPolicy"
    elif not shared or (owner.cluster, owner.namespace) == (me.cluster, me.namespace):
        whose = f"owned by {owner.describe(me.cluster or '')}"
    else:
        whose = "owned by an EcrPrivacyPolicy of another namespace or cluster"
    return f"another pack, {whose}" if shared else f"pack {foreign.id}, {whose}"


def adoptable(desired: Desired, observed: Observed, policy: PlanPolicy) -> bool:
    """True when rule 4 would adopt (or, under Observe, compare) ``observed.foreign_pack``, scope aside: the
    engine then asks the policy's workspace whether everything the pack does is inside its scope."""
    ours, foreign = observed.pack, observed.foreign_pack
    if foreign is None or ours is not None or not desired.pack.adopt:
        return False
    return _adoption_refusal(desired, observed, foreign) is None


def owner_to_check(desired: Desired, observed: Observed, policy: PlanPolicy) -> Owner | None:
    """The owner object whose existence decides an adoption (rule 4), or None when nothing needs asking: the
    object may adopt, has no pack yet, and the pack holding its AKA is owned by another object of this cluster."""
    if not desired.pack.adopt or observed.pack is not None or observed.foreign_pack is None:
        return None
    owner = Owner.holding(observed.foreign_pack.akas)
    if owner is None or owner.cluster != desired.pack.owner.cluster or owner.uid == desired.pack.owner.uid:
        return None
    return owner


def _adoption_refusal(desired: Desired, observed: Observed, foreign: ObservedPack) -> str | None:
    """None when this object may adopt ``foreign``; else the end of the PackConflict message, saying why not
    and what would help."""
    pack = desired.pack
    owner = Owner.holding(foreign.akas)
    here = owner is not None and owner.cluster == pack.owner.cluster
    if not pack.adopt:
        if owner is None:
            return "; set policyPack.adopt: true to take it over, or change policyPack.akas"
        if here:
            return "; change policyPack.akas (if that object no longer exists, policyPack.adopt: true takes it back)"
        return "; change policyPack.akas"
    if owner is None:
        return None
    if here:
        if observed.foreign_owner_exists is False:
            return None
        return "; adopt takes a pack only from an owner object that no longer exists"
    if pack.adopt_from_other_clusters:
        return None
    return (
        "; policyPack.adoptFromOtherClusters: true would take it (dangerous: the other owner cannot be"
        " checked, see the documentation)"
    )


def _plan_missing_pack(b: _Builder, desired: Desired, observed: Observed, prev: Previous) -> None:
    """Rules 2, 3, 5: create everything, or report the missing pack."""
    if not b.should_fix(prev.pack_id is not None, PACK, "exists", True, False):
        return
    pack = desired.pack
    b.pack.append(
        CreatePack(title=pack.title, description=pack.description, akas=pack.akas, parent=pack.parent)
    )
    for setting in desired.settings:
        b.settings_create.append(_create(setting, None))
    for resource in desired.targets:
        target = observed.target(resource)
        if target is None or target.id is None:
            b.problems.append(_target_not_found(resource))
            continue
        b.attach.append(Attach(target=resource, target_id=target.id, pack_id=None))


def _plan_pack_attributes(
    b: _Builder, desired: Desired, subject: ObservedPack, prev: Previous, adopting: bool
) -> None:
    """Rule 6."""
    applied = prev.pack_id is not None and not adopting
    want = desired.pack
    title = want.title if subject.title != want.title else None
    description = want.description if (subject.description or "") != want.description else None
    user_akas = {a for a in subject.akas if not want.owner.names_me(a)}
    akas = want.akas if not adopting and user_akas != set(want.user_akas) else None
    fix_title = title is not None and b.should_fix(applied, PACK, "title", want.title, subject.title)
    fix_desc = description is not None and b.should_fix(
        applied, PACK, "description", want.description, subject.description
    )
    fix_akas = akas is not None and b.should_fix(applied, PACK, "akas", list(want.akas), list(subject.akas))
    if not fix_akas and not adopting and b.policy.manage and want.ownership_aka not in subject.akas:
        # found under an older form of its ownership AKA: rewrite it (housekeeping, never drift)
        akas = (*(a for a in subject.akas if not want.owner.names_me(a)), want.ownership_aka)
        fix_akas = True
    if fix_title or fix_desc or fix_akas:
        b.pack.append(
            UpdatePack(
                pack_id=subject.id,
                title=title if fix_title else None,
                description=description if fix_desc else None,
                akas=akas if fix_akas else None,
            )
        )


def _plan_settings(b: _Builder, desired: Desired, observed: Observed, pack_id: str, prev: Previous) -> None:
    """Rule 7."""
    wanted = set(desired.setting_types)
    for found in observed.settings:
        if found.type in wanted:
            continue
        # Set by us before and since removed from the spec: pending work; anything else: drift.
        applied_by_us = found.type in prev.setting_types
        if b.should_fix(False, f"setting:{found.type}", "exists", False, True, external=not applied_by_us):
            b.settings_delete.append(DeleteSetting(setting_id=found.id, type=found.type))
    for setting in desired.settings:
        obj = f"setting:{setting.type}"
        applied = setting.type in prev.setting_types
        current = observed.setting(setting.type)
        if current is None:
            if b.should_fix(applied, obj, "exists", True, False):
                b.settings_create.append(_create(setting, pack_id))
            continue
        fixes = [
            field
            for field, want, have in _setting_differences(setting, current)
            if b.should_fix(applied, obj, field, want, have)
        ]
        if fixes:
            b.settings_update.append(
                UpdateSetting(
                    setting_id=current.id,
                    type=setting.type,
                    value=setting.value,
                    value_source=setting.value_source,
                    precedence=setting.precedence,
                    note=setting.note,
                    template=setting.template,
                    template_input=setting.template_input,
                    fields=tuple(fixes),
                )
            )


def _setting_differences(
    want: DesiredSetting, have: ObservedSetting
) -> list[tuple[str, JsonValue, JsonValue]]:
    diffs: list[tuple[str, JsonValue, JsonValue]] = []
    if want.template is not None:  # calculated (exceptions for repositories that do not exist yet)
        if (want.template, want.template_input) != (have.template, have.template_input):
            diffs.append(("template", want.template, have.template))
    elif want.value_source is not None:
        if (have.value_source or "").rstrip() != want.value_source.rstrip():
            diffs.append(("valueSource", want.value_source, have.value_source))
    elif not json_equal(want.value, have.value):
        diffs.append(("value", want.value, have.value))
    if want.precedence != have.precedence:
        diffs.append(("precedence", want.precedence, have.precedence))
    if want.note is not None and want.note != (have.note or ""):
        diffs.append(("note", want.note, have.note))
    return diffs


def _plan_attachments(
    b: _Builder, desired: Desired, observed: Observed, subject: ObservedPack, prev: Previous
) -> None:
    """Rule 9."""
    desired_ids: set[str] = set()
    for resource in desired.targets:
        target = observed.target(resource)
        if target is None or target.id is None:
            b.problems.append(_target_not_found(resource))
            continue
        desired_ids.add(target.id)
        if subject.id in target.attached_pack_ids:
            continue
        if b.should_fix(resource in prev.targets, f"attachment:{resource}", "attached", True, False):
            b.attach.append(Attach(target=resource, target_id=target.id, pack_id=subject.id))
    handled: set[str] = set(desired_ids)
    for resource in prev.targets:
        if resource in desired.targets:
            continue
        target = observed.target(resource)
        if target is None or target.id is None or target.id in handled:
            continue
        handled.add(target.id)
        if subject.id in target.attached_pack_ids and b.should_fix(
            False, f"attachment:{resource}", "attached", False, True
        ):
            b.detach.append(Detach(target=resource, target_id=target.id, pack_id=subject.id))
    for target_id in subject.attached_to or ():
        if target_id in handled:
            continue
        handled.add(target_id)
        if b.should_fix(False, f"attachment:{target_id}", "attached", False, True, external=True):
            b.detach.append(Detach(target=target_id, target_id=target_id, pack_id=subject.id))


def plan_deletion(
    observed: Observed, *, deletion_policy: DeletionPolicy, management_policy: ManagementPolicy
) -> Plan:
    """The finalizer's plan: detach the pack from every target where it is attached, then delete it.

    Orphan, Observe, or a pack that is already gone -> an empty plan (already-gone is success).
    """
    pack = observed.pack
    if (
        deletion_policy is DeletionPolicy.ORPHAN
        or management_policy is ManagementPolicy.OBSERVE
        or pack is None
    ):
        return Plan(pack_id=pack.id if pack else None)
    detach = _detach_where_attached(observed, pack)
    seen = {d.target_id for d in detach}
    for target_id in pack.attached_to or ():
        if target_id not in seen:
            seen.add(target_id)
            detach.append(Detach(target=target_id, target_id=target_id, pack_id=pack.id))
    return Plan(actions=(*detach, DeletePack(pack_id=pack.id)), pack_id=pack.id)


def _detach_where_attached(observed: Observed, pack: ObservedPack) -> list[Detach]:
    """A Detach of ``pack`` from each observed target where it is attached (once per target id)."""
    detach: list[Detach] = []
    seen: set[str] = set()
    for target in observed.targets:
        if target.id is None or target.id in seen or pack.id not in target.attached_pack_ids:
            continue
        seen.add(target.id)
        detach.append(Detach(target=target.resource, target_id=target.id, pack_id=pack.id))
    return detach


def plan_withdrawal(observed: Observed) -> Plan:
    """Detach the object's own pack from each of ``observed.targets`` where it is attached (targets its
    workspace's scope no longer allows); nothing else. No pack: an empty plan."""
    pack = observed.pack
    if pack is None:
        return Plan()
    return Plan(actions=tuple(_detach_where_attached(observed, pack)), pack_id=pack.id)


def _create(setting: DesiredSetting, pack_id: str | None) -> CreateSetting:
    return CreateSetting(
        pack_id=pack_id,
        type=setting.type,
        value=setting.value,
        value_source=setting.value_source,
        precedence=setting.precedence,
        note=setting.note,
        template=setting.template,
        template_input=setting.template_input,
    )


def _target_not_found(resource: str) -> Problem:
    return Problem(
        reason=Reason.TARGET_NOT_FOUND, message=f"attachment target {resource} not found in Guardrails"
    )
