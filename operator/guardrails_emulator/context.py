"""Per-request execution context: the workspace, the caller's role and identity, the root fields it may not
use, and the write hooks (activity log, control evaluation)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from . import activities
from .errors import forbidden
from .faults import Faults
from .model import Activity, Actor, Resource, Setting
from .policy import affected, evaluate
from .workspace import Workspace


@dataclass
class Context:
    """What resolvers need: ``ws``, the caller's ``role`` and ``actor``, the fault settings, the root fields
    ``denied`` to the caller (answered Forbidden); ``mutated`` marks a write."""

    ws: Workspace
    faults: Faults
    role: str = "admin"
    actor: Actor | None = None
    denied: frozenset[str] = frozenset()
    hidden: frozenset[str] = frozenset()  # list fields answered empty (no metadata permission)
    mutated: bool = False
    subject: Resource | None = None  # the resource a calculated setting's templateInput runs for
    on_write: list[Callable[[], None]] = field(default_factory=list)

    @property
    def scope_id(self) -> str | None:
        if self.role.startswith("scoped:"):
            res = self.ws.lookup(self.role.partition(":")[2])
            return res.id if res else "-"
        return None

    def in_scope(self, res: Resource) -> bool:
        scope = self.scope_id
        return scope is None or scope in res.path

    def check_read(self, res: Resource) -> None:
        if not self.in_scope(res):
            raise forbidden()

    def check_write(self, res: Resource | None = None) -> None:
        """Read-only keys may not write; scoped keys only inside their subtree."""
        if self.role == "readonly":
            raise forbidden()
        if res is not None and not self.in_scope(res):
            raise forbidden()

    def can_read_secrets(self) -> bool:
        return self.scope_id is None

    def record(
        self,
        kind: str,
        res: Resource,
        *,
        old_resource: Resource | None = None,
        setting: Setting | None = None,
        old_setting: Setting | None = None,
    ) -> Activity:
        """Record an activity of this caller about ``res`` (with the setting's versions for settings)."""
        return activities.record(
            self.ws,
            kind,
            res,
            self.actor,
            old_resource=old_resource,
            setting=setting,
            old_setting=old_setting,
        )

    def remove(self, res: Resource) -> None:
        """Delete ``res`` as this caller, recording it (and its settings and controls) in the activity log."""
        activities.remove(self.ws, res.id, self.actor)

    def changed(self, touched: Iterable[str] | None = None) -> None:
        """Record a write and re-evaluate the controls (synchronously unless async evaluation is on): those a
        write to the ``touched`` resources can change, or all of them."""
        self.mutated = True
        cfg = self.faults.config
        under = None if touched is None else affected(self.ws, touched)
        evaluate(
            self.ws, async_mode=cfg.async_evaluation, enforcement_failure=cfg.enforcement_failure, under=under
        )
