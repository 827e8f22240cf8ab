"""Observe and apply one EcrPrivacyException's settings in Guardrails.

Per repository the exception keeps one Required ``publicRepositoryApprovedUsage = Approved`` setting on the
repository resource, its note the reason plus the exception's marker (``exception_rules.note_for``), its
``validToTimestamp`` the expiry. A setting is this exception's when its note carries the marker, or when its id
is one this exception made or kept before (``own``, remembered by the runtime: a console edit of the note that
drops the marker is drift to correct or report, not a foreign setting). A pass:

1. reads the repositories and the policy's attachment targets (paths), the Usage setting placed directly on
   each repository, the Usage value there (which setting wins: "in force") and the Approved control's state;
2. checks the rules (``exception_rules``) on what it read — nothing is written when one refuses;
3. creates the missing settings and, for settings that differ from the spec (a console edit), corrects them
   under the policy's ``driftPolicy: Correct`` or reports them under ``Report``; ``managementPolicy: Observe``
   writes nothing;
4. ``remove`` (deletion) deletes the settings that carry this exception's marker.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Collection, Sequence
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
from ecr_privacy_operator.guardrails.models import ControlCounts, PolicySetting, ResourceInfo, SettingInput
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
    changes: list[Change] = field(default_factory=list)  # the writes made, by the version ids replies named
    owned: list[str] = field(default_factory=list)  # ids of this exception's settings (pass them as ``own``)

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
    the targets as read. Two round trips (``read_repositories``), whatever the number of repositories."""
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


async def sync(
    client: GuardrailsClient,
    spec: EcrPrivacyExceptionSpec,
    marker: rules.ExceptionMarker,
    policy_name: str,
    policy: EcrPrivacyPolicySpec,
    scope: tuple[str, ClusterGuardrailsWorkspaceSpec | None],
    now: dt.datetime,
    own: Collection[str] = (),
) -> ExceptionOutcome:
    """One pass: read, check the rules, then create and correct (or report) the settings. ``own``: the ids
    of settings this exception made or kept in earlier passes (``ExceptionOutcome.owned``)."""
    workspace_name, workspace_scope = scope
    outcome = ExceptionOutcome()
    refusal = rules.workspace_refusal(workspace_scope, workspace_name, spec, now)
    if refusal is not None:
        outcome.refusal = refusal
        return outcome
    repos, target_infos = await observe(client, spec.repositories, policy.attachment_targets)
    outcome.repositories = repos
    expired = rules.expiry_refusal(spec, now)
    if expired is not None:
        outcome.refusal, outcome.expired = expired, True
        return outcome
    placed = rules.placement_refusal({r.ref: r.info for r in repos}, target_infos, policy_name)
    for repo in repos:
        owner = rules.marker_of(repo.setting.note) if repo.setting else None
        owner = marker if repo.setting and repo.setting.id in own else owner
        placed = placed or rules.conflict_refusal(repo.ref, owner, marker, repo.setting is not None)
    if placed is not None:
        outcome.refusal = placed
        return outcome
    desired = desired_setting(spec, marker)
    writes = policy.management_policy is ManagementPolicy.MANAGE
    correct = writes and policy.drift_policy is DriftPolicy.CORRECT
    for repo in repos:
        if repo.info is None or not repo.info.id:  # pending: the policy's calculated Usage covers it
            continue
        if repo.setting is None:
            if writes:
                made = await client.create_setting(repo.info.id, SEED_USAGE_TYPE, desired)
                outcome.created.append(repo.ref)
                outcome.changes.append(Change("SettingCreated", repo.ref, made.id, made.version_id))
                outcome.owned.append(made.id)
            continue
        outcome.owned.append(repo.setting.id)
        drift = drift_of(repo.ref, repo.setting, desired)
        if drift and correct:
            made = await client.update_setting(repo.setting.id, desired)
            outcome.corrected += drift
            outcome.changes.append(Change("SettingUpdated", repo.ref, made.id, made.version_id))
        else:
            outcome.reported += drift
    if outcome.created or outcome.corrected:
        outcome.repositories, _ = await observe(client, spec.repositories)
    if any(r.lapsed for r in outcome.repositories) and not outcome.reported:
        # Nothing sits below a repository, so its own Required setting loses only when Guardrails no longer
        # applies it: its validToTimestamp has passed by Guardrails' clock (which may run ahead of ours).
        outcome.refusal = Refusal(
            Reason.EXPIRED,
            f"Guardrails no longer applies the exception settings: expires ({spec.expires_iso}) has passed by "
            "its clock",
        )
        outcome.expired = True
    return outcome


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
