"""Apply: carry out a Plan's actions against Guardrails and record what changed (effectful).

Order is the plan's: pack, settings (one batched document), detaches, attaches, pack deletion. Attachment
writes to one target are read-modify-write in Guardrails, so they are serialised per target across every
object of the process, the attaches (detaches) waiting for one target go together (``targets.TargetLocks``),
and each is verified by reading the target's list back.

``apply`` never raises a Guardrails error: it stops at the first failure and returns what it did so far plus
the error, so that the status still records a pack that was created before a later step failed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ecr_privacy_operator.guardrails.client import GuardrailsClient
from ecr_privacy_operator.guardrails.errors import GuardrailsError, TransientError
from ecr_privacy_operator.guardrails.models import ControlSummary, PackInput, SettingInput, SettingWrite
from ecr_privacy_operator.guardrails.settings import SettingWriteResult
from ecr_privacy_operator.reconcile.actions import (
    Action,
    AdoptPack,
    Attach,
    CreatePack,
    CreateSetting,
    DeletePack,
    DeleteSetting,
    Detach,
    Plan,
    UpdatePack,
    UpdateSetting,
)
from ecr_privacy_operator.reconcile.observed import ObservedSetting
from ecr_privacy_operator.reconcile.targets import TargetLocks

SettingAction = CreateSetting | UpdateSetting | DeleteSetting


@dataclass(frozen=True)
class Change:
    """One write that Guardrails accepted: an Event reason, a message and the Guardrails id it touched;
    ``version_id``: the version the write made, as its reply named it (the activity feed names it too)."""

    reason: str
    message: str
    guardrails_id: str
    version_id: str | None = None


@dataclass
class ApplyResult:
    """What ``apply`` did: the pack id (possibly new), the settings as written, changes, and a failure."""

    pack_id: str | None
    settings: dict[str, ObservedSetting] = field(default_factory=dict)
    deleted_setting_types: set[str] = field(default_factory=set)
    changes: list[Change] = field(default_factory=list)
    attached: set[str] = field(default_factory=set)  # targets as given in the spec
    target_ids: dict[str, str] = field(default_factory=dict)  # target as given -> id, from attach read-backs
    detached: set[str] = field(default_factory=set)
    error: GuardrailsError | None = None
    pack_deleted: bool = False
    summaries: list[ControlSummary] | None = (
        None  # read with the last attach's verification (after all writes)
    )


def _setting_input(action: CreateSetting | UpdateSetting) -> SettingInput:
    """What to send: everything for a create; for an update only the fields the plan fixes, so a field that
    differs but is left as it is (drift under Report) is not overwritten with it."""
    sent = (
        set(action.fields)
        if isinstance(action, UpdateSetting)
        else {"value", "valueSource", "precedence", "note", "template"}
    )
    calculated = action.template is not None and "template" in sent
    content = "valueSource" in sent if action.value_source is not None else "value" in sent
    content = content and action.template is None
    return SettingInput(
        value=action.value if action.value_source is None and content else None,
        value_source=action.value_source if content else None,
        precedence=action.precedence if "precedence" in sent else None,
        note=action.note if "note" in sent else None,
        template=action.template if calculated else None,
        template_input=action.template_input if calculated else None,
    )


async def _create_pack(
    client: GuardrailsClient,
    action: CreatePack,
    owner_aka: str,
    result: ApplyResult,
    settings: list[SettingAction],
) -> None:
    """Create the pack and its settings in one document (the settings name the pack by its ownership AKA).
    After an ambiguous failure (the reply was lost), look for the pack by ownership AKA and write the settings
    on their own. A Conflict (an AKA is taken) is raised: the engine observes to tell whose pack holds it."""
    pack = PackInput(
        title=action.title, description=action.description, akas=list(action.akas), parent=action.parent
    )
    try:
        created, outcomes = await client.create_pack_with_settings(pack, _setting_writes(settings, owner_aka))
    except TransientError:
        existing = await client.find_pack(owner_aka)
        if existing is None:
            raise
        _pack_created(result, action, existing.id)
        if settings:
            await _write_settings(client, result, settings)
        return
    _pack_created(result, action, created.id)
    _record_settings(result, settings, outcomes)


def _pack_created(result: ApplyResult, action: CreatePack, pack_id: str) -> None:
    result.pack_id = pack_id
    result.changes.append(Change("PackCreated", f"created policy pack {action.title!r}", pack_id))


def _setting_writes(actions: list[SettingAction], pack_ref: str | None) -> list[SettingWrite]:
    """The client's writes for setting actions; creates without a pack id go on ``pack_ref``."""
    writes: list[SettingWrite] = []
    for action in actions:
        if isinstance(action, CreateSetting):
            writes.append(
                SettingWrite(
                    action="create",
                    resource=action.pack_id or pack_ref,
                    type_uri=action.type,
                    setting=_setting_input(action),
                )
            )
        elif isinstance(action, UpdateSetting):
            writes.append(
                SettingWrite(action="update", setting_id=action.setting_id, setting=_setting_input(action))
            )
        else:
            writes.append(SettingWrite(action="delete", setting_id=action.setting_id))
    return writes


async def _write_settings(
    client: GuardrailsClient, result: ApplyResult, actions: list[SettingAction]
) -> None:
    outcomes = await client.write_settings(_setting_writes(actions, result.pack_id))
    _record_settings(result, actions, outcomes)


def _record_settings(
    result: ApplyResult, actions: list[SettingAction], outcomes: list[SettingWriteResult]
) -> None:
    for action, outcome in zip(actions, outcomes, strict=True):
        if outcome.error is not None:
            raise outcome.error
        if isinstance(action, DeleteSetting):
            result.deleted_setting_types.add(action.type)
            result.changes.append(
                Change("SettingDeleted", f"deleted setting {action.type}", action.setting_id)
            )
            continue
        written = outcome.setting
        assert written is not None
        if isinstance(action, UpdateSetting) and not {"value", "valueSource", "template"} & set(
            action.fields
        ):
            result.changes.append(
                Change(
                    "SettingUpdated", f"updated setting {action.type} {', '.join(action.fields)}", written.id
                )
            )
            continue  # its value was left as found: the status shows the observed one
        result.settings[action.type] = ObservedSetting(
            id=written.id,
            type=action.type,
            value=action.value,
            value_source=action.value_source,
            precedence=action.precedence,
            note=action.note,
            template=action.template,
            template_input=action.template_input,
        )
        verb = "created" if isinstance(action, CreateSetting) else "updated"
        shown = action.value_source if action.value_source is not None else action.value
        result.changes.append(
            Change(
                f"Setting{verb.capitalize()}",
                f"{verb} setting {action.type} = {shown!r}",
                written.id,
                written.version_id,
            )
        )


async def _attachment(
    client: GuardrailsClient,
    locks: TargetLocks,
    result: ApplyResult,
    action: Attach | Detach,
    summarise: Sequence[str] = (),
) -> None:
    pack_id = action.pack_id or result.pack_id
    target = action.target_id or action.target
    assert pack_id is not None
    if isinstance(action, Attach):
        attached = await locks.attach(client, target, pack_id, summarise)
        if summarise:
            result.summaries = attached.summaries
        locks.learn(target, attached.target.id)
        result.target_ids[action.target] = attached.target.id
        result.attached.add(action.target)
        result.changes.append(Change("Attached", f"attached pack {pack_id} to {action.target}", pack_id))
    else:
        await locks.detach(client, target, pack_id)
        result.detached.add(action.target)
        result.changes.append(Change("Detached", f"detached pack {pack_id} from {action.target}", pack_id))


async def _run(
    client: GuardrailsClient,
    locks: TargetLocks,
    plan: Plan,
    owner_aka: str,
    result: ApplyResult,
    compliance_targets: Sequence[str],
) -> None:
    pending_settings: list[SettingAction] = []
    creating: list[CreatePack] = []  # a new pack waits for the settings that follow it: one document

    async def flush_settings() -> None:
        if creating:
            await _create_pack(client, creating.pop(), owner_aka, result, pending_settings)
        elif pending_settings:
            await _write_settings(client, result, pending_settings)
        pending_settings.clear()

    for action in plan.actions:
        if isinstance(action, CreateSetting | UpdateSetting | DeleteSetting):
            pending_settings.append(action)
            continue
        await flush_settings()
        if isinstance(action, CreatePack):
            creating.append(action)
            continue
        if isinstance(action, Attach) and action is plan.actions[-1] and compliance_targets:
            await _attachment(client, locks, result, action, compliance_targets)  # + compliance, one read
            continue
        await _apply_action(client, locks, action, owner_aka, result)
    await flush_settings()


async def _apply_action(
    client: GuardrailsClient, locks: TargetLocks, action: Action, owner_aka: str, result: ApplyResult
) -> None:
    """One action that is not batched with others: a pack update or adoption, an attach or detach, a pack
    deletion."""
    if isinstance(action, UpdatePack | AdoptPack):
        akas = list(action.akas) if action.akas is not None else None
        if isinstance(action, AdoptPack):
            adopted = await client.update_pack(action.pack_id, akas=akas)
            result.pack_id = action.pack_id
            result.changes.append(
                Change(
                    "PackAdopted", f"adopted policy pack {action.pack_id}", action.pack_id, adopted.version_id
                )
            )
        else:
            updated = await client.update_pack(
                action.pack_id, title=action.title, description=action.description, akas=akas
            )
            fields = [n for n in ("title", "description", "akas") if getattr(action, n) is not None]
            result.changes.append(
                Change(
                    "PackUpdated",
                    f"updated policy pack {', '.join(fields)}",
                    action.pack_id,
                    updated.version_id,
                )
            )
    elif isinstance(action, Attach | Detach):
        await _attachment(client, locks, result, action)
    elif isinstance(action, DeletePack):
        if await client.delete_pack(action.pack_id):
            result.changes.append(
                Change("PackDeleted", f"deleted policy pack {action.pack_id}", action.pack_id)
            )
        result.pack_deleted = True


async def apply(
    client: GuardrailsClient,
    locks: TargetLocks,
    plan: Plan,
    owner_aka: str,
    compliance_targets: Sequence[str] = (),
) -> ApplyResult:
    """Run the plan; stop at the first error and return the partial result with that error. When the plan
    ends with an attach, its verification also reads the compliance under ``compliance_targets``."""
    result = ApplyResult(pack_id=plan.pack_id)
    try:
        await _run(client, locks, plan, owner_aka, result, compliance_targets)
    except GuardrailsError as exc:
        result.error = exc
    return result
