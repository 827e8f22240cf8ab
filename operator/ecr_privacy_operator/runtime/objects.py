"""What the runtime remembers of each object between passes: its slim copy, cached status, lock and backoff.

State is lost on restart and rebuilt from the object's status. An object that is gone is marked ``gone`` on the
state a running pass still holds, so that pass drops what it would otherwise bring back (its metric series, a
rescheduled resync).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import kopf

from ecr_privacy_operator.crd.status import EcrPrivacyPolicyStatus

DEFAULT_RESYNC = 300.0
_KEPT_METADATA = ("name", "namespace", "uid", "generation")


@dataclass
class ObjectState:
    """One object's memory. ``body`` is the slim copy a resync works from: apiVersion, kind, the identifying
    metadata and the spec of the last version a handler saw (every spec change reaches a handler)."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    failures: int = 0
    next_delay: float = DEFAULT_RESYNC
    body: dict[str, Any] | None = None
    # the status as this process last wrote or read it, kept as its JSON (a tenth of the model's memory)
    _status: str | None = None
    deleting: bool = False
    gone: bool = False  # deleted: a pass still running must not bring its state or metrics back
    pending: str | None = None  # the trigger of a pass a handler asked for and the schedule has not run yet
    queued: bool = False  # its pass waits for a slot (fair_slots): a second due time adds no second pass

    @property
    def status(self) -> EcrPrivacyPolicyStatus | None:
        return None if self._status is None else EcrPrivacyPolicyStatus.model_validate_json(self._status)

    @status.setter
    def status(self, value: EcrPrivacyPolicyStatus | None) -> None:
        self._status = None if value is None else value.model_dump_json(by_alias=True)


def slim(body: kopf.Body) -> dict[str, Any]:
    """What a resync needs of the object: enough to identify it, post Events on it and read its spec."""
    meta = body["metadata"]
    return {
        "apiVersion": body.get("apiVersion"),
        "kind": body.get("kind"),
        "metadata": {key: meta[key] for key in _KEPT_METADATA if key in meta},
        "spec": body.get("spec") or {},
    }


def slot_key(body: Mapping[str, Any]) -> tuple[str, str]:
    """Whose turn a pass of the object is: (namespace, workspace), the fair-queue key (``fair_slots``)."""
    return workspace_slot_key(str(body["metadata"]["namespace"]), body.get("spec"))


def workspace_slot_key(namespace: str, policy_spec: Mapping[str, Any] | None) -> tuple[str, str]:
    """The fair-queue key of work done through a policy's workspace: (namespace, workspace kind/name)."""
    ref = (policy_spec or {}).get("workspaceRef") or {}
    return namespace, f"{ref.get('kind') or 'GuardrailsWorkspace'}/{ref.get('name') or ''}"


def identity(body: kopf.Body) -> tuple[str, str, str, int]:
    """(uid, namespace, name, generation) of an object."""
    meta = body["metadata"]
    return meta["uid"], meta["namespace"], meta["name"], int(meta.get("generation", 1))
