"""Observe and apply one EcrPrivacyException's settings in Guardrails.

Per repository the exception keeps one Required ``publicRepositoryApprovedUsage = Approved`` setting on the
repository resource, its note the reason plus the exception's marker (``exception_rules.note_for``), its
``validToTimestamp`` the expiry. A setting is an exception's when its note carries the marker, or when its id
is one that exception made or kept before (``Member.own``, remembered by the runtime: a console edit of the
note that drops the marker is drift to correct or report, not a foreign setting). The exceptions of one policy
are checked together (``check``):

1. one request reads every repository they name and the policy's attachment targets (paths), the Usage setting
   placed directly on each repository, the Usage value there (which setting wins: "in force") and the Approved
   control's state;
2. the rules (``exception_rules``) per exception on what was read — nothing is written for one that is refused;
3. the missing settings are created and settings that differ from the spec (a console edit) corrected under
   the policy's ``driftPolicy: Correct`` (reported under ``Report``), in one batched write for all of them;
   ``managementPolicy: Observe`` writes nothing;
4. ``remove`` (deletion) deletes the settings that carry this exception's marker or are its own.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from ecr_privacy_operator.crd.conditions import Reason
from ecr_privacy_operator.crd.exception import EcrPrivacyExceptionSpec, RepositoryStatus
from ecr_privacy_operator.crd.spec import (
    SEED_CONTROL_TYPE,
    SEED_USAGE_TYPE,
    DriftPolicy,
    EcrPrivacyPolicySpec,
    ManagementPolicy,
)
from ecr_privacy_operator.crd.workspace import ClusterGuardrailsWorkspaceSpec
from ecr_privacy_operator.guardrails.client import GuardrailsClient
from ecr_privacy_operator.guardrails.errors import GuardrailsError
from ecr_privacy_operator.guardrails.models import (
    ControlCounts,
    PolicySetting,
    ResourceInfo,
    SettingInput,
    SettingWrite,
)
from ecr_privacy_operator.reconcile import exception_rules as rules
from ecr_privacy_operator.reconcile.apply import Change
from ecr_privacy_operator.reconcile.scopes import Refusal

APPROVED = "Approved"
STATES = ("ok", "alarm", "error", "invalid", "skipped", "tbd")


@dataclass(frozen=True)
class Repository:
    """One repository as read: the resource, the Usage setting directly on it, whether that setting wins."""

    ref: str
    info: ResourceInfo | None
    setting: PolicySetting | None = None
    in_force: bool = False
    control_state: str | None = None
    lapsed: bool = False  # the setting exists and a value is resolved there, but Guardrails skips the setting

    def status(self) -> RepositoryStatus:
        return RepositoryStatus(
            repository=self.ref,
            resource_id=self.info.id if self.info else None,
            setting_id=self.setting.id if self.setting else None,
            in_force=self.in_force,
            control_state=self.control_state,
        )


@dataclass(frozen=True)
class Drift:
    """A setting of this exception that differs from the spec."""

    repository: str
    field: str
    desired: str | None
    actual: str | None


@dataclass
class ExceptionOutcome:
    """What a pass found and did."""

    repositories: list[Repository] = field(default_factory=list)
    refusal: Refusal | None = None
    expired: bool = False
    created: list[str] = field(default_factory=list)
    corrected: list[Drift] = field(default_factory=list)
    reported: list[Drift] = field(default_factory=list)
    error: GuardrailsError | None = None  # a write of this exception failed (the others went on)
    changes: list[Change] = field(default_factory=list)  # the writes made, by the version ids replies named
    owned: list[str] = field(default_factory=list)  # ids of this exception's settings (its next ``own``)

    @property
    def pending(self) -> tuple[str, ...]:
        """Repositories named by ARN that Guardrails does not have yet."""
        return tuple(r.ref for r in self.repositories if r.info is None)

    @property
    def statuses(self) -> tuple[RepositoryStatus, ...]:
        return tuple(r.status() for r in self.repositories)


def desired_setting(spec: EcrPrivacyExceptionSpec, marker: rules.ExceptionMarker) -> SettingInput:
    """The exception setting every repository carries."""
    return SettingInput(
        value=APPROVED,
        precedence="REQUIRED",
        note=rules.note_for(spec.reason, marker),
        valid_to_timestamp=spec.expires_iso,
    )


def _same_time(a: str | None, b: str | None) -> bool:
    if a is None or b is None:
        return a == b
    try:
        return dt.datetime.fromisoformat(a.replace("Z", "+00:00")) == dt.datetime.fromisoformat(
            b.replace("Z", "+00:00")
        )
    except ValueError:
        return a == b


def drift_of(ref: str, setting: PolicySetting, desired: SettingInput) -> list[Drift]:
    """The fields of an existing setting that differ from ``desired``."""
    found: list[Drift] = []
    if setting.value != desired.value:
        found.append(
            Drift(ref, "value", str(desired.value), None if setting.value is None else str(setting.value))
        )
    if setting.precedence != desired.precedence:
        found.append(Drift(ref, "precedence", desired.precedence, setting.precedence))
    if setting.note != desired.note:
        found.append(Drift(ref, "note", desired.note, setting.note))
    if not _same_time(setting.valid_to_timestamp, desired.valid_to_timestamp):
        found.append(Drift(ref, "validToTimestamp", desired.valid_to_timestamp, setting.valid_to_timestamp))
    if setting.template is not None or setting.valid_from_timestamp is not None:
        found.append(Drift(ref, "template/validFromTimestamp", None, "set"))
    return found


def _state(counts: ControlCounts) -> str | None:
    return next((s for s in STATES if getattr(counts, s)), None)


async def observe(
    client: GuardrailsClient, refs: Sequence[str], targets: Sequence[str] = ()
) -> tuple[list[Repository], dict[str, ResourceInfo | None]]:
    """Each repository with its Usage setting, whether that setting wins there, and the control's state; and
    the targets as read. One round trip (``read_repositories``), whatever the number of repositories."""
    reads = await client.read_repositories(refs, targets, SEED_USAGE_TYPE, SEED_CONTROL_TYPE)
    states = {s.resource.id: _state(s.counts) for s in reads.summaries}
    out: list[Repository] = []
    for ref in refs:
        info = reads.resources.get(ref)
        if info is None or not info.id:
            out.append(Repository(ref, None))
            continue
        setting, value = reads.settings.get(info.id), reads.values.get(info.id)
        in_force = bool(setting and value and value.setting_id == setting.id and value.value == APPROVED)
        lapsed = bool(setting and value and value.setting_id != setting.id)
        out.append(Repository(ref, info, setting, in_force, states.get(info.id), lapsed))
    return out, {t: reads.resources.get(t) for t in targets}


@dataclass(frozen=True)
class Member:
    """One exception in a policy's check."""

    spec: EcrPrivacyExceptionSpec
    marker: rules.ExceptionMarker
    own: frozenset[str] = frozenset()  # ids of the settings it made or kept in earlier checks


@dataclass
class _Write:
    """A write one member needs: create (``drift`` empty) or correct."""

    outcome: ExceptionOutcome
    write: SettingWrite
    ref: str
    drift: list[Drift]


def _plan(
    member: Member,
    outcome: ExceptionOutcome,
    policy: EcrPrivacyPolicySpec,
    targets: Mapping[str, ResourceInfo | None],
    claimed: dict[str, rules.ExceptionMarker],
    now: dt.datetime,
) -> list[_Write]:
    """The rules for one member on what the check read, then the writes it needs (none when refused).
    ``claimed``: repository id -> the member whose setting is there, or placed earlier in this check (two
    exceptions naming one repository conflict as they would in two passes)."""
    spec, marker = member.spec, member.marker
    expired = rules.expiry_refusal(spec, now)
    if expired is not None:
        outcome.refusal, outcome.expired = expired, True
        return []
    repos = outcome.repositories
    placed = rules.placement_refusal({r.ref: r.info for r in repos}, targets, spec.policy_ref.name)
    for repo in repos:
        owner = rules.marker_of(repo.setting.note) if repo.setting else None
        owner = marker if repo.setting and repo.setting.id in member.own else owner
        if owner is None and repo.setting is None and repo.info is not None:
            owner = claimed.get(repo.info.id)
        has_setting = repo.setting is not None or owner is not None
        placed = placed or rules.conflict_refusal(repo.ref, owner, marker, has_setting)
    if placed is not None:
        outcome.refusal = placed
        return []
    desired = desired_setting(spec, marker)
    writes = policy.management_policy is ManagementPolicy.MANAGE
    correct = writes and policy.drift_policy is DriftPolicy.CORRECT
    planned: list[_Write] = []
    for repo in repos:
        if repo.info is None or not repo.info.id:  # pending: the policy's calculated Usage covers it
            continue
        claimed.setdefault(repo.info.id, marker)
        if repo.setting is not None:
            outcome.owned.append(repo.setting.id)
        if repo.setting is None:
            if writes:
                create = SettingWrite(
                    action="create", resource=repo.info.id, type_uri=SEED_USAGE_TYPE, setting=desired
                )
                planned.append(_Write(outcome, create, repo.ref, []))
            continue
        drift = drift_of(repo.ref, repo.setting, desired)
        if drift and correct:
            update = SettingWrite(action="update", setting_id=repo.setting.id, setting=desired)
            planned.append(_Write(outcome, update, repo.ref, drift))
        else:
            outcome.reported += drift
    return planned


def _unique(refs: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(refs))


async def check(
    client: GuardrailsClient,
    members: Sequence[Member],
    policy: EcrPrivacyPolicySpec,
    scope: tuple[str, ClusterGuardrailsWorkspaceSpec | None],
    now: dt.datetime,
) -> list[ExceptionOutcome]:
    """The check of all of one policy's exceptions, in ``members`` order: ONE read of every repository they
    name (and the policy's targets), the rules per exception (a refusal writes nothing for that exception),
    the creates and corrections of all of them in one batched write, and, only after a write, one read-back
    of the repositories written. A write that fails fails its exception only (``ExceptionOutcome.error``)."""
    workspace_name, workspace_scope = scope
    outcomes = [ExceptionOutcome() for _ in members]
    live: list[tuple[Member, ExceptionOutcome]] = []
    for member, outcome in zip(members, outcomes, strict=True):
        outcome.refusal = rules.workspace_refusal(workspace_scope, workspace_name, member.spec, now)
        if outcome.refusal is None:
            live.append((member, outcome))
    if not live:
        return outcomes
    refs = _unique(ref for member, _ in live for ref in member.spec.repositories)
    found, targets = await observe(client, refs, policy.attachment_targets)
    by_ref = {r.ref: r for r in found}
    claimed: dict[str, rules.ExceptionMarker] = {}
    planned: list[_Write] = []
    for member, outcome in live:
        outcome.repositories = [by_ref[ref] for ref in member.spec.repositories]
        planned += _plan(member, outcome, policy, targets, claimed, now)
    if planned:
        results = await client.write_settings([p.write for p in planned])
        for plan, result in zip(planned, results, strict=True):
            if result.error is not None or result.setting is None:
                plan.outcome.error = plan.outcome.error or result.error
                continue
            made = result.setting
            if plan.drift:
                plan.outcome.corrected += plan.drift
                plan.outcome.changes.append(Change("SettingUpdated", plan.ref, made.id, made.version_id))
            else:
                plan.outcome.created.append(plan.ref)
                plan.outcome.owned.append(made.id)
                plan.outcome.changes.append(Change("SettingCreated", plan.ref, made.id, made.version_id))
        written = [(m, o) for m, o in live if o.created or o.corrected]
        if written:  # read back what was written, once for all
            again, _ = await observe(client, _unique(r for m, _ in written for r in m.spec.repositories))
            by_ref.update({r.ref: r for r in again})
            for member, outcome in written:
                outcome.repositories = [by_ref[ref] for ref in member.spec.repositories]
    for member, outcome in live:
        if outcome.refusal is None and any(r.lapsed for r in outcome.repositories) and not outcome.reported:
            # Nothing sits below a repository, so its own Required setting loses only when Guardrails no
            # longer applies it: its validToTimestamp has passed by Guardrails' clock (which may run ahead).
            outcome.refusal = Refusal(
                Reason.EXPIRED,
                "Guardrails no longer applies the exception settings: expires "
                f"({member.spec.expires_iso}) has passed by its clock",
            )
            outcome.expired = True
    return outcomes


async def remove(
    client: GuardrailsClient, refs: Sequence[str], marker: rules.ExceptionMarker, own: Collection[str] = ()
) -> int:
    """Delete the Usage settings on ``refs`` that carry this exception's marker or are ``own``; returns how
    many went."""
    repos, _ = await observe(client, refs)
    mine = [
        r.setting
        for r in repos
        if r.setting
        and (r.setting.id in own or ((m := rules.marker_of(r.setting.note)) and m.uid == marker.uid))
    ]
    done = await asyncio.gather(*(client.delete_setting(s.id) for s in mine))
    return sum(done)
