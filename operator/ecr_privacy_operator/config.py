"""Operator-wide settings, read once at start-up from the environment (each has a command-line twin in main).

| variable | meaning | default |
|---|---|---|
| ``ECR_PRIVACY_DEFAULT_CREDENTIALS_SECRET`` | ``namespace/name`` of a Secret used when an object names none | unset |
| ``TURBOT_WORKSPACE`` / ``TURBOT_ACCESS_KEY`` / ``TURBOT_SECRET_KEY`` (or a profile file) | last-resort default credentials | unset |
| ``ECR_PRIVACY_CA_BUNDLE`` | a CA bundle to verify Guardrails' TLS certificate (verification is always on) | system roots |
| ``ECR_PRIVACY_REQUEST_TIMEOUT`` | seconds per Guardrails request | 30 |
| ``ECR_PRIVACY_METRICS_PORT`` | Prometheus port (0 = off) | 8080 |
| ``ECR_PRIVACY_LOG_FORMAT`` | ``plain`` or ``json`` | plain |
| ``ECR_PRIVACY_MAX_BACKOFF`` | seconds: the longest wait between retries of a failing object | 300 |
| ``ECR_PRIVACY_MAX_CONCURRENT_SYNCS`` | objects reconciled at once | 20 |
| ``ECR_PRIVACY_KUBE_MAX_REQUESTS`` | Kubernetes API calls Kopf makes at once (watch streams not counted) | 20 |
| ``ECR_PRIVACY_WEDGED_AFTER`` | seconds a pass may run before the liveness probe reports the operator wedged | 600 |
| ``ECR_PRIVACY_PEERING`` | ``true``: join Kopf's peering, one replica acts, the others stand by (``peering.py``) | false |
| ``ECR_PRIVACY_PEERING_NAME`` | the ``ClusterKopfPeering`` joined (or, standalone, checked for a live operator) | ecr-privacy-operator |
| ``ECR_PRIVACY_PEERING_LIFETIME`` | seconds a replica's keep-alive lasts: a killed active replica is replaced after it | 30 |
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

ENV_PREFIX = "ECR_PRIVACY_"


class SecretRef(BaseModel):
    """A Secret by namespace and name."""

    model_config = ConfigDict(frozen=True)

    namespace: str
    name: str

    @classmethod
    def parse(cls, text: str) -> SecretRef:
        namespace, sep, name = text.partition("/")
        if not sep or not namespace or not name:
            raise ValueError(f"expected namespace/name, got {text!r}")
        return cls(namespace=namespace, name=name)


class OperatorConfig(BaseModel):
    """Settings that apply to every EcrPrivacyPolicy this operator process handles."""

    model_config = ConfigDict(frozen=True)

    default_credentials_secret: SecretRef | None = None
    ca_bundle: str | None = None
    request_timeout: float = Field(default=30.0, gt=0)
    metrics_port: int = Field(default=8080, ge=0, le=65535)
    log_format: Literal["plain", "json"] = "plain"
    max_backoff: float = Field(default=300.0, gt=0)
    max_concurrent_syncs: int = Field(default=20, ge=1)
    kube_max_requests: int = Field(default=20, ge=1)
    wedged_after: float = Field(default=600.0, gt=0)
    peering: bool = False
    peering_name: str = Field(
        default="ecr-privacy-operator", max_length=253, pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"
    )
    peering_lifetime: int = Field(default=30, ge=10, le=3600)

    @field_validator("default_credentials_secret", mode="before")
    @classmethod
    def _parse_ref(cls, value: object) -> object:
        return SecretRef.parse(value) if isinstance(value, str) and value else value or None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> OperatorConfig:
        source = os.environ if env is None else env
        fields = {
            "default_credentials_secret": "DEFAULT_CREDENTIALS_SECRET",
            "ca_bundle": "CA_BUNDLE",
            "request_timeout": "REQUEST_TIMEOUT",
            "metrics_port": "METRICS_PORT",
            "log_format": "LOG_FORMAT",
            "max_backoff": "MAX_BACKOFF",
            "max_concurrent_syncs": "MAX_CONCURRENT_SYNCS",
            "kube_max_requests": "KUBE_MAX_REQUESTS",
            "wedged_after": "WEDGED_AFTER",
            "peering": "PEERING",
            "peering_name": "PEERING_NAME",
            "peering_lifetime": "PEERING_LIFETIME",
        }
        values = {
            key: source[ENV_PREFIX + var] for key, var in fields.items() if source.get(ENV_PREFIX + var)
        }
        return cls.model_validate(values)
