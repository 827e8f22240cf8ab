"""What an EcrPrivacyException may do, as pure checks that run before anything is written to Guardrails.

- ``workspace_refusal``: a cluster workspace must allow exceptions (``allowExceptions``) and may cap how far
  ahead ``expires`` lies (``maxExceptionDuration``); a namespaced workspace holds the team's own keys, so only
  the expiry rules apply there.
- ``expiry_refusal``: ``expires`` in the past is refused (the API server cannot tell the time at admission).
- ``placement_refusal``: every repository that exists must lie under one of the policy's attachment targets,
  by Guardrails' own resource path (the ids of its ancestors), never by comparing strings; one named by an
  ARN that does not exist yet is pending (the policy's calculated Usage approves it, only under its own
  attachments); an id that does not exist is refused.
- ``conflict_refusal``: a repository whose Usage setting belongs to another exception (or was made by someone
  else) is a conflict; the message names the other object only when it is in the same namespace.

The setting's ``note`` carries the reason and a marker naming the exception that made it (``note_for``,
``marker_of``): the marker is how a setting is recognised as an exception's own after a restart, from another
cluster, or after a console edit of the reason.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass

from ecr_privacy_operator.crd.conditions import Reason
from ecr_privacy_operator.crd.exception import EcrPrivacyExceptionSpec
from ecr_privacy_operator.crd.spec import parse_duration
from ecr_privacy_operator.crd.workspace import ClusterGuardrailsWorkspaceSpec
from ecr_privacy_operator.guardrails.models import ResourceInfo
from ecr_privacy_operator.reconcile.scopes import Refusal

_MARKER = re.compile(
    r"\[ecrprivacy\.dev/exception (?P<namespace>[^/\s\]]+)/(?P<name>[^\s\]]+) uid=(?P<uid>[^\s\]]+)\]$"
)


@dataclass(frozen=True)
class ExceptionMarker:
    """Which EcrPrivacyException made a setting, as its note says."""

    namespace: str
    name: str
    uid: str


def note_for(reason: str, marker: ExceptionMarker) -> str:
    """The setting's note: the reason, then the marker of the object that made it."""
    return f"{reason} [ecrprivacy.dev/exception {marker.namespace}/{marker.name} uid={marker.uid}]"


def marker_of(note: str | None) -> ExceptionMarker | None:
    """The marker at the end of a note, or None (a setting made by someone else)."""
    found = _MARKER.search(note or "")
    if found is None:
        return None
    return ExceptionMarker(found["namespace"], found["name"], found["uid"])


def workspace_refusal(
    scope: ClusterGuardrailsWorkspaceSpec | None, name: str, spec: EcrPrivacyExceptionSpec, now: dt.datetime
) -> Refusal | None:
    """``allowExceptions`` and ``maxExceptionDuration`` of the policy's cluster workspace ``name``."""
    if scope is None:
        return None
    if not scope.allow_exceptions:
        return Refusal(
            Reason.EXCEPTIONS_NOT_ALLOWED,
            f"ClusterGuardrailsWorkspace {name} does not allow exceptions (allowExceptions is false); nothing "
            "was written",
        )
    if scope.max_exception_duration:
        cap = dt.timedelta(seconds=parse_duration(scope.max_exception_duration))
        if spec.expires - now > cap:
            return Refusal(
                Reason.EXPIRY_TOO_FAR,
                f"expires {spec.expires_iso} is more than {scope.max_exception_duration} ahead "
                f"(maxExceptionDuration of ClusterGuardrailsWorkspace {name}); nothing was written",
            )
    return None


def expiry_refusal(spec: EcrPrivacyExceptionSpec, now: dt.datetime) -> Refusal | None:
    """``expires`` at or before ``now``: the exception does not count (any more)."""
    if spec.expires > now:
        return None
    return Refusal(Reason.EXPIRED, f"the exception expired at {spec.expires_iso}")


def path_ids(info: ResourceInfo) -> set[str]:
    """The ids on a resource's Guardrails path, itself included."""
    ids = {part for part in (info.path or "").split(".") if part}
    if info.id:
        ids.add(info.id)
    return ids


def is_arn(ref: str) -> bool:
    """An ARN can name a repository before it exists; an id cannot."""
    return not ref.isdigit()


def placement_refusal(
    repositories: Mapping[str, ResourceInfo | None], targets: Mapping[str, ResourceInfo | None], policy: str
) -> Refusal | None:
    """Each repository (as named → as read) under one of the policy's attachment targets (as read)."""
    target_ids = {info.id for info in targets.values() if info is not None and info.id}
    for ref, info in repositories.items():
        if info is None and is_arn(ref):
            continue  # pending: approved through the policy's calculated Usage until it exists
        if info is None:
            return Refusal(
                Reason.REPOSITORY_NOT_FOUND,
                f"repository {ref} does not exist in Guardrails (or these keys cannot see it); nothing was "
                "written for it",
                retryable=True,
            )
        if not path_ids(info) & target_ids:
            return Refusal(
                Reason.REPOSITORY_NOT_UNDER_POLICY,
                f"repository {ref} is not under any attachment of EcrPrivacyPolicy {policy}: an exception "
                "outside the policy means nothing; nothing was written",
            )
    return None


def conflict_refusal(
    ref: str, owner: ExceptionMarker | None, own: ExceptionMarker, has_setting: bool
) -> Refusal | None:
    """The repository ``ref`` already carries a Usage setting: ours (same uid), or a conflict."""
    if not has_setting or (owner is not None and owner.uid == own.uid):
        return None
    if owner is not None and owner.namespace == own.namespace:
        other = f"EcrPrivacyException {owner.name} in this namespace"
    elif owner is not None:
        other = "another EcrPrivacyException"
    else:
        other = "a setting made outside the operator"
    return Refusal(
        Reason.REPOSITORY_CONFLICT,
        f"repository {ref} already carries an Approved > Usage setting of {other}; nothing was written. "
        "A repository can be excepted by one object only",
        retryable=True,
    )
