"""Classification of GraphQL failures into the error tree (contract §2.4)."""

from __future__ import annotations

import pytest

from ecr_privacy_operator.guardrails import (
    AuthError,
    ConflictError,
    ForbiddenError,
    GuardrailsError,
    NotFoundError,
    NotSupportedError,
    TransientError,
    UnauthorizedError,
    ValidationError,
)
from ecr_privacy_operator.guardrails.errors import classify, is_value_validation_failure

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("status", "message", "expected"),
    [
        (200, "Not Found: Resource not found or not accessible", NotFoundError),
        (200, 'Not Found: Table "x" column "id" with value "1"', NotFoundError),
        (200, "Policy pack not found or not accessible; resource not found", NotFoundError),
        (200, "Policy pack Not Found: gone", NotFoundError),
        (401, "anything", UnauthorizedError),
        (200, "Unauthorized", UnauthorizedError),
        (403, "anything", ForbiddenError),
        (200, "Forbidden: Insufficient permissions", ForbiddenError),
        (200, "Permission Denied: Insufficient Permissions for x", ForbiddenError),
        (200, 'Bad Request: Data validation failed: "x" is not an allowed value', ValidationError),
        (200, "Something: data validation failed", ValidationError),
        (200, "Invalid input: x", ValidationError),
        (200, "Bad Request: smart folder ids not eligible for attachment", ValidationError),
        (200, "Conflict. A matching item already exists.", ConflictError),
        (200, "Conflict: Policy pack is attached to 1 resource(s); detach it before deleting", ConflictError),
        (200, "Protected", ConflictError),
        (200, "Locked", ConflictError),
        (429, "Too many requests.", TransientError),
        (200, "Try again later", TransientError),
        (200, "Unavailable", TransientError),
        (200, "Timeout", TransientError),
        (502, "Bad gateway thing", TransientError),
        (529, "whatever", TransientError),
        (200, "Internal Error", GuardrailsError),
        (400, "Cannot query field 'notifications' on type 'Query'.", NotSupportedError),
        (400, 'Cannot query field "notifications" on type "Query".', NotSupportedError),
        (400, 'Unknown argument "dataSource" on field "Query.notifications".', NotSupportedError),
        # "not found" alone (no colon, not "resource not found") is no not-found error.
        (200, "Conflict: the thing was not found anywhere", ConflictError),
    ],
)
def test_classify(status: int, message: str, expected: type[GuardrailsError]) -> None:
    error = classify(
        operation="Op", status=status, errors=[{"message": message}, {"message": "Not Found: x"}]
    )
    assert type(error) is expected
    assert error.operation == "Op"
    assert error.status == status
    assert error.errors[0]["message"] == message


def test_tree() -> None:
    assert issubclass(UnauthorizedError, AuthError)
    assert issubclass(ForbiddenError, AuthError)
    assert not issubclass(NotSupportedError, AuthError | ValidationError | TransientError)
    for cls in (NotFoundError, AuthError, ValidationError, ConflictError, TransientError, NotSupportedError):
        assert issubclass(cls, GuardrailsError)


def test_value_validation_failure() -> None:
    rejected = classify(
        operation="Op", status=200, errors=[{"message": "Bad Request: Data validation failed"}]
    )
    other = classify(operation="Op", status=200, errors=[{"message": "Bad Request: both value and source"}])
    assert is_value_validation_failure(rejected)
    assert not is_value_validation_failure(other)


def test_str_and_repr() -> None:
    error = classify(operation="CreatePolicySetting", status=200, errors=[{"message": "Conflict"}])
    assert str(error) == "CreatePolicySetting: Conflict (HTTP 200)"
    assert "ConflictError" in repr(error)
