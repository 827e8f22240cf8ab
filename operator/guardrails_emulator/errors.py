"""Guardrails-style error texts raised by resolvers (``<standard text>[: <reason>]``, see the contract §2.4).

Rule: only not-found errors contain the words "not found"; every other message avoids them.
"""

from __future__ import annotations


class GuardrailsError(Exception):
    """An execution error whose message is sent verbatim in the GraphQL ``errors`` list."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def not_found(what: str = "Resource") -> GuardrailsError:
    return GuardrailsError(f"Not Found: {what} not found or not accessible")


def bad_request(reason: str) -> GuardrailsError:
    return GuardrailsError(f"Bad Request: {reason}")


def validation_failed(reason: str) -> GuardrailsError:
    return GuardrailsError(f"Bad Request: Data validation failed: {reason}")


def conflict(reason: str | None = None) -> GuardrailsError:
    if reason is None:
        return GuardrailsError("Conflict. A matching item already exists.")
    return GuardrailsError(f"Conflict: {reason}")


def forbidden() -> GuardrailsError:
    return GuardrailsError("Forbidden: Insufficient permissions")


NOT_ELIGIBLE = "Bad Request: smart folder ids not eligible for attachment"
