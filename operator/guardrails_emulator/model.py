"""Plain records of the emulated workspace: resources, types, settings, controls, activities (no behaviour)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ROOT_AKA = "tmod:@turbot/turbot#/"
T_ROOT = "tmod:@turbot/turbot#/resource/types/turbot"
T_FOLDER = "tmod:@turbot/turbot#/resource/types/folder"
T_PACK = "tmod:@turbot/turbot#/resource/types/smartFolder"
T_ACCOUNT = "tmod:@turbot/aws#/resource/types/account"
T_REGION = "tmod:@turbot/aws#/resource/types/region"
T_REPO = "tmod:@turbot/aws-ecr#/resource/types/publicRepository"
P_APPROVED = "tmod:@turbot/aws-ecr#/policy/types/publicRepositoryApproved"
P_USAGE = "tmod:@turbot/aws-ecr#/policy/types/publicRepositoryApprovedUsage"
P_ECR_ENABLED = "tmod:@turbot/aws-ecr#/policy/types/ecrEnabled"
P_WORKSPACE_VERSION = "tmod:@turbot/turbot#/policy/types/workspaceVersion"
C_APPROVED = "tmod:@turbot/aws-ecr#/control/types/publicRepositoryApproved"

SHORT_TYPES = {
    "turbot": T_ROOT,
    "folder": T_FOLDER,
    "smartFolder": T_PACK,
    "policyPack": T_PACK,
    "account": T_ACCOUNT,
    "region": T_REGION,
    "publicRepository": T_REPO,
}


@dataclass
class Resource:
    id: str
    type_uri: str
    parent_id: str | None
    akas: list[str] | None
    title: str
    data: dict[str, Any]
    tags: dict[str, Any] | None
    create_ts: str
    update_ts: str
    version_id: str
    path: list[str] = field(default_factory=list)


@dataclass
class ResourceType:
    id: str
    uri: str
    title: str
    mod_uri: str


@dataclass
class PolicyType:
    id: str
    uri: str
    title: str
    trunk_title: str
    mod_uri: str
    parent_uri: str | None
    schema: dict[str, Any]
    default: Any
    targets: list[str]
    always_materialized: bool = False


@dataclass
class ControlType:
    id: str
    uri: str
    title: str
    trunk_title: str
    mod_uri: str
    primary_policy_uri: str
    target_type_uri: str
    usage_policy_uri: str | None = None
    enabled_policy_uri: str | None = None


@dataclass
class Setting:
    id: str
    type_uri: str
    resource_id: str
    value: Any
    value_source: str | None
    via_source: bool
    precedence: str
    template: str | None
    template_input: Any
    note: str | None
    valid_from: str | None
    valid_to: str | None
    create_ts: str
    update_ts: str
    version_id: str

    @property
    def is_calculated(self) -> bool:
        return self.template is not None


@dataclass(frozen=True)
class Calculation:
    """The result of a calculated setting on one resource: ``state`` is ``ok`` (``value`` holds the result),
    ``error`` (a query or the template failed) or ``invalid`` (the output does not fit the policy type);
    ``reason`` says why when it is not ``ok``."""

    value: Any
    state: str
    reason: str | None = None


@dataclass
class Control:
    id: str
    type_uri: str
    resource_id: str
    state: str
    reason: str | None
    details: Any
    create_ts: str
    update_ts: str
    state_change_ts: str
    version_id: str


@dataclass
class Key:
    access_key: str
    secret_key: str
    role: str = "admin"  # admin | readonly | scoped:<resource id or AKA>


@dataclass(frozen=True)
class Actor:
    """The identity behind a write: one per key (and the admin surface's console); ``None`` = Guardrails
    itself (discovery, control evaluation, enforcement)."""

    id: str
    title: str


@dataclass
class Activity:
    """One entry of the activity feed (a Guardrails "notification"), with snapshots taken when it happened.

    ``resource``/``setting``/``control`` are the versions after the event (``None`` when it deleted them),
    ``old_*`` the versions before (``None`` when it created them). ``path`` and ``resource_type_uri`` describe
    the resource the activity is about, even after it is gone."""

    id: str
    type: str  # notificationType, e.g. policy_setting_updated
    create_ts: str
    resource_id: str
    path: list[str]
    resource_type_uri: str
    actor: Actor | None = None
    resource: Resource | None = None
    old_resource: Resource | None = None
    setting: Setting | None = None
    old_setting: Setting | None = None
    control: Control | None = None
    old_control: Control | None = None

    @classmethod
    def from_json(cls, row: dict[str, Any]) -> Activity:
        """Rebuild from ``dataclasses.asdict`` output (the state file)."""
        kinds: dict[str, Any] = {
            "actor": Actor,
            "resource": Resource,
            "old_resource": Resource,
            "setting": Setting,
            "old_setting": Setting,
            "control": Control,
            "old_control": Control,
        }
        nested = {k: (kind(**row[k]) if row.get(k) else None) for k, kind in kinds.items()}
        return cls(**{**row, **nested})
