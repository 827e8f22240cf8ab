"""The EcrPrivacyException spec and status as frozen pydantic models (defaults equal the CRD's,
``deploy/crds/ecrprivacy.dev_ecrprivacyexceptions.yaml``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from pydantic import field_validator

from ecr_privacy_operator.crd.conditions import Condition
from ecr_privacy_operator.crd.spec import DeletionPolicy, _SpecModel

EXCEPTION_KIND = "EcrPrivacyException"
EXCEPTION_PLURAL = "ecrprivacyexceptions"


class PolicyRef(_SpecModel):
    """spec.policyRef: an EcrPrivacyPolicy in the exception's namespace."""

    name: str


class EcrPrivacyExceptionSpec(_SpecModel):
    """The whole spec (``.spec`` of an EcrPrivacyException)."""

    policy_ref: PolicyRef
    repositories: tuple[str, ...]
    reason: str
    expires: dt.datetime
    deletion_policy: DeletionPolicy = DeletionPolicy.DELETE

    @field_validator("expires")
    @classmethod
    def _aware(cls, value: dt.datetime) -> dt.datetime:
        return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)

    @field_validator("repositories")
    @classmethod
    def _unique(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("repositories must name at least one repository")
        if len(set(value)) != len(value):
            raise ValueError("repositories must be unique")
        return value

    @property
    def expires_iso(self) -> str:
        """``expires`` as Guardrails' timestamps are written (UTC, milliseconds)."""
        moment = self.expires.astimezone(dt.UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class RepositoryStatus(_SpecModel):
    """One repository: its id, the exception setting on it, whether it is in force, and the control's state."""

    repository: str
    resource_id: str | None = None
    setting_id: str | None = None
    in_force: bool = False
    control_state: str | None = None


class EcrPrivacyExceptionStatus(_SpecModel):
    """The ``.status`` the operator writes."""

    observed_generation: int | None = None
    conditions: tuple[Condition, ...] = ()
    repository_count: int = 0
    repositories: tuple[RepositoryStatus, ...] = ()
    pending_repositories: tuple[str, ...] = ()
    last_sync_time: str | None = None


def parse_exception_spec(spec: Mapping[str, Any]) -> EcrPrivacyExceptionSpec:
    """Parse Kopf's ``spec`` into the frozen model; raises ``pydantic.ValidationError``."""
    return EcrPrivacyExceptionSpec.model_validate(dict(spec))
