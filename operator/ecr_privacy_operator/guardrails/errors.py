"""The Guardrails client's one error tree, and the classification of failed responses into it.

::

    GuardrailsError                     anything the client raises on purpose
    ├── ConfigurationError              bad workspace string, no usable credentials (nothing was sent)
    ├── NotFoundError                   "Not Found: …", "… resource not found …"
    ├── AuthError
    │   ├── UnauthorizedError           HTTP 401, "Unauthorized…", failed credential probe
    │   └── ForbiddenError              HTTP 403, "Forbidden…", "Permission Denied…"
    ├── ValidationError                 "Bad Request…", "data validation failed", "Invalid input…",
    │   │                               "… not eligible for attachment"
    │   └── PolicyTypeNotFoundError     a policy type is unknown (mod not installed)
    ├── ConflictError                   "Conflict…", "Protected…", "Locked…" (e.g. deleting an attached pack)
    ├── NotSupportedError               the workspace's schema lacks a field the document selects ("Cannot query
    │                                   field…", "Unknown argument…": an older Guardrails)
    ├── TransientError                  HTTP 429/502/503/504/529, connection errors, timeouts,
    │   │                               "Too many requests", "Try again later", "Unavailable", "Timeout"
    │   └── AttachmentNotVerifiedError  an attach/detach was accepted but the read-back never showed it
    └── ProtocolError                   not JSON, unexpected shape, unexpected HTTP status

Every error carries the GraphQL ``operation`` name, the HTTP ``status`` (``None`` when no response arrived)
and the GraphQL ``errors`` list, and is raised ``from`` its cause. Classification looks at prefixes and
substrings of the *first* error message (the most relevant one, contract §2.4), never at a whole message.
Messages are built from server texts and operation names only; credentials never reach them."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "AttachmentNotVerifiedError",
    "AuthError",
    "ConfigurationError",
    "ConflictError",
    "ForbiddenError",
    "GuardrailsError",
    "NotFoundError",
    "NotSupportedError",
    "PolicyTypeNotFoundError",
    "ProtocolError",
    "TransientError",
    "UnauthorizedError",
    "ValidationError",
    "classify",
]

TRANSIENT_STATUSES = frozenset({429, 502, 503, 504, 529})

_NOT_FOUND = re.compile(r"not found:|resource not found", re.IGNORECASE)
_VALIDATION_SUBSTRINGS = re.compile(r"data validation failed|not eligible for attachment", re.IGNORECASE)
_VALIDATION_PREFIXES = ("bad request", "invalid input")
_CONFLICT_PREFIXES = ("conflict", "protected", "locked")
_TRANSIENT_PREFIXES = ("too many requests", "try again later", "unavailable", "timeout")
_FORBIDDEN_PREFIXES = ("forbidden", "permission denied")
_NOT_SUPPORTED = re.compile(r"cannot query field|unknown argument", re.IGNORECASE)


class GuardrailsError(Exception):
    """Base of every error the client raises; ``outcome`` is the metrics label of the class."""

    outcome = "error"

    def __init__(
        self,
        message: str,
        *,
        operation: str | None = None,
        status: int | None = None,
        errors: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.operation = operation
        self.status = status
        self.errors: list[dict[str, Any]] = [dict(e) for e in errors]

    def __str__(self) -> str:
        where = f"{self.operation}: " if self.operation else ""
        status = f" (HTTP {self.status})" if self.status is not None else ""
        return f"{where}{self.message}{status}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, operation={self.operation!r}, status={self.status!r})"
        )


class ConfigurationError(GuardrailsError):
    """The client cannot be set up: invalid workspace string or no usable credentials."""

    outcome = "configuration"


class NotFoundError(GuardrailsError):
    """The addressed object does not exist (or is not visible to this identity)."""

    outcome = "not_found"


class AuthError(GuardrailsError):
    """Authentication or authorisation failed."""

    outcome = "auth"


class UnauthorizedError(AuthError):
    """The workspace rejected the credentials (or the credential probe failed)."""

    outcome = "unauthorized"


class ForbiddenError(AuthError):
    """The credentials are valid but lack a permission for this operation."""

    outcome = "forbidden"


class ValidationError(GuardrailsError):
    """The server rejected a value or an input; retrying the same request cannot help."""

    outcome = "validation"


class PolicyTypeNotFoundError(ValidationError):
    """One or more policy types are unknown to the workspace (usually: the mod is not installed)."""

    outcome = "policy_type_not_found"

    def __init__(self, missing: Sequence[str], *, operation: str | None = None) -> None:
        names = ", ".join(missing)
        super().__init__(f"policy type(s) not found, is the mod installed? {names}", operation=operation)
        self.missing: tuple[str, ...] = tuple(missing)


class ConflictError(GuardrailsError):
    """The request conflicts with the current state (duplicate AKA, attached pack, lock)."""

    outcome = "conflict"


class NotSupportedError(GuardrailsError):
    """The workspace does not offer a query, field or argument the document uses (an older Guardrails).

    Retrying cannot help; a caller with another way to the same answer (e.g. periodic reads instead of the
    activity feed) falls back to it."""

    outcome = "not_supported"


class TransientError(GuardrailsError):
    """A failure that may succeed later: throttling, unavailability, network trouble, timeouts."""

    outcome = "transient"


class AttachmentNotVerifiedError(TransientError):
    """An attach or detach was accepted, but reading the target's attachments back did not confirm it."""

    outcome = "attachment_not_verified"


class ProtocolError(GuardrailsError):
    """The response was not the expected GraphQL shape (bad JSON, missing fields, odd HTTP status)."""

    outcome = "protocol"


def _first_message(errors: Sequence[Mapping[str, Any]]) -> str:
    for error in errors:
        message = error.get("message") if isinstance(error, Mapping) else None
        if isinstance(message, str):
            return message
    return ""


def classify(
    *,
    operation: str,
    status: int | None,
    errors: Sequence[Mapping[str, Any]],
) -> GuardrailsError:
    """Map a GraphQL error list (and the HTTP status it came with) to the matching error class.

    The first error decides, by prefix or substring (contract §2.4); HTTP 401/403 win over the text.
    """
    message = _first_message(errors) or "request failed without an error message"
    lowered = message.lstrip().lower()
    cls: type[GuardrailsError]
    if status == 401 or lowered.startswith("unauthorized"):
        cls = UnauthorizedError
    elif status == 403 or lowered.startswith(_FORBIDDEN_PREFIXES):
        cls = ForbiddenError
    elif _NOT_SUPPORTED.search(message):
        cls = NotSupportedError
    elif _NOT_FOUND.search(message):
        cls = NotFoundError
    elif _VALIDATION_SUBSTRINGS.search(message) or lowered.startswith(_VALIDATION_PREFIXES):
        cls = ValidationError
    elif lowered.startswith(_CONFLICT_PREFIXES):
        cls = ConflictError
    elif lowered.startswith(_TRANSIENT_PREFIXES) or status in TRANSIENT_STATUSES:
        cls = TransientError
    else:
        cls = GuardrailsError
    return cls(message, operation=operation, status=status, errors=errors)


def is_value_validation_failure(error: GuardrailsError) -> bool:
    """True when the server's message says "data validation failed" (triggers the valueSource fallback)."""
    return isinstance(error, ValidationError) and bool(
        re.search("data validation failed", error.message, re.I)
    )
