"""Async client for the Turbot Guardrails GraphQL API (the parts the operator needs).

Public surface: :class:`GuardrailsClient`, :func:`load_credentials` / :class:`Credentials`,
:class:`RetryPolicy`, the models and the error tree of ``errors.py``."""

from .client import GuardrailsClient
from .credentials import Credentials, load_credentials
from .endpoint import graphql_endpoint, health_url
from .errors import (
    AttachmentNotVerifiedError,
    AuthError,
    ConfigurationError,
    ConflictError,
    ForbiddenError,
    GuardrailsError,
    NotFoundError,
    PolicyTypeNotFoundError,
    ProtocolError,
    TransientError,
    UnauthorizedError,
    ValidationError,
)
from .models import (
    PACK_TYPE_URI,
    ROOT_AKA,
    ControlCounts,
    ControlSummary,
    ObservedPack,
    ObservedTarget,
    ObserveResult,
    Pack,
    PackInput,
    PolicySetting,
    PolicyType,
    PolicyValue,
    Precedence,
    ResourceInfo,
    ResourceRef,
    SettingInput,
    SettingWrite,
)
from .retry import RetryPolicy
from .settings import SettingWriteResult
from .transport import RequestHook, RetryHook

__all__ = [
    "PACK_TYPE_URI",
    "ROOT_AKA",
    "AttachmentNotVerifiedError",
    "AuthError",
    "ConfigurationError",
    "ConflictError",
    "ControlCounts",
    "ControlSummary",
    "Credentials",
    "ForbiddenError",
    "GuardrailsClient",
    "GuardrailsError",
    "NotFoundError",
    "ObserveResult",
    "ObservedPack",
    "ObservedTarget",
    "Pack",
    "PackInput",
    "PolicySetting",
    "PolicyType",
    "PolicyTypeNotFoundError",
    "PolicyValue",
    "Precedence",
    "ProtocolError",
    "RequestHook",
    "ResourceInfo",
    "ResourceRef",
    "RetryHook",
    "RetryPolicy",
    "SettingInput",
    "SettingWrite",
    "SettingWriteResult",
    "TransientError",
    "UnauthorizedError",
    "ValidationError",
    "graphql_endpoint",
    "health_url",
    "load_credentials",
]
