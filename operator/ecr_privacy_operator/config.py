"""Operator-wide settings, read once at start-up from the environment (each has a command-line twin in main).

| variable | meaning | default |
|---|---|---|
| ``ECR_PRIVACY_ALLOWED_HOSTS`` | workspace hosts keys may go to, comma-separated (``*.d`` = below d) | ``*.cloud.turbot.com`` |
| | each ``[http://]host[:port|:*]``: https and port 443 unless the entry names ``http://`` or a port | |
| ``ECR_PRIVACY_OPERATOR_NAMESPACE`` | where ClusterGuardrailsWorkspace Secrets live | ``POD_NAMESPACE`` / SA's |
| ``ECR_PRIVACY_CREDENTIALS_BINDING`` | RoleBinding granting a team's Secrets (kept) | ``ecr-privacy-operator-credentials`` |
| ``ECR_PRIVACY_CA_BUNDLE`` | a CA bundle to verify Guardrails' TLS certificate (verification is always on) | system roots |
| ``ECR_PRIVACY_REQUEST_TIMEOUT`` | seconds per Guardrails request | 30 |
| ``ECR_PRIVACY_METRICS_PORT`` | Prometheus port (0 = off) | 8080 |
| ``ECR_PRIVACY_LOG_FORMAT`` | ``plain`` or ``json`` | plain |
| ``ECR_PRIVACY_MAX_BACKOFF`` | seconds: the longest wait between retries of a failing object | 300 |
| ``ECR_PRIVACY_MAX_CONCURRENT_SYNCS`` | objects reconciled at once | 20 |
| ``ECR_PRIVACY_KUBE_MAX_REQUESTS`` | Kubernetes API calls Kopf makes at once (watch streams not counted) | 20 |
| ``ECR_PRIVACY_WEDGED_AFTER`` | seconds a pass may run before the liveness probe reports the operator wedged | 600 |
| ``ECR_PRIVACY_PASS_DEADLINE`` | seconds after which a pass or deletion is stopped (a condition; below WEDGED_AFTER) | 300 |
| ``ECR_PRIVACY_CLUSTER_ID`` | this cluster in ownership AKAs (1-63 of ``A-Za-z0-9._-``); keep it across rebuilds | UID of ``kube-system`` |
| ``ECR_PRIVACY_PEERING`` | ``true``: join Kopf's peering, one replica acts, the others stand by (``peering.py``) | false |
| ``ECR_PRIVACY_PEERING_NAME`` | the ``ClusterKopfPeering`` joined (or, standalone, checked for a live operator) | ecr-privacy-operator |
| ``ECR_PRIVACY_PEERING_LIFETIME`` | seconds a replica's keep-alive lasts: a killed active replica is replaced after it | 30 |
| ``ECR_PRIVACY_FEED_INTERVAL`` | seconds between two reads of each workspace's activity feed (0 = do not follow it) | 5 |
| ``ECR_PRIVACY_CLUSTER_MIN_RESYNC`` | seconds: the shortest resync of a policy on a ClusterGuardrailsWorkspace (floor) | 10 |
| ``ECR_PRIVACY_FEED_FALLBACK_RESYNC`` | seconds: the longest resync interval while an object's feed is not followed | 300 |
| ``ECR_PRIVACY_EXCEPTION_RESYNC`` | seconds between two checks of each EcrPrivacyException in Guardrails | 1800 |
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ecr_privacy_operator.reconcile.ownership import CLUSTER_ID_PATTERN
from ecr_privacy_operator.reconcile.scopes import HostEntry

ENV_PREFIX = "ECR_PRIVACY_"


SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
TURBOT_SAAS_HOSTS = ("*.cloud.turbot.com",)


def _own_namespace(env: Mapping[str, str]) -> str | None:
    """The Pod's namespace: POD_NAMESPACE (the chart sets it), else the mounted service account's."""
    if env.get("POD_NAMESPACE"):
        return env["POD_NAMESPACE"]
    try:
        return SERVICE_ACCOUNT_NAMESPACE.read_text().strip() or None
    except OSError:
        return None


class OperatorConfig(BaseModel):
    """Settings that apply to every EcrPrivacyPolicy this operator process handles."""

    model_config = ConfigDict(frozen=True)

    allowed_hosts: tuple[str, ...] = TURBOT_SAAS_HOSTS
    operator_namespace: str | None = None
    credentials_binding: str = "ecr-privacy-operator-credentials"
    ca_bundle: str | None = None
    request_timeout: float = Field(default=30.0, gt=0)
    metrics_port: int = Field(default=8080, ge=0, le=65535)
    log_format: Literal["plain", "json"] = "plain"
    max_backoff: float = Field(default=300.0, gt=0)
    max_concurrent_syncs: int = Field(default=20, ge=1)
    kube_max_requests: int = Field(default=20, ge=1)
    wedged_after: float = Field(default=600.0, gt=0)
    pass_deadline: float = Field(default=300.0, gt=0)
    cluster_id: str | None = Field(default=None, pattern=CLUSTER_ID_PATTERN)
    peering: bool = False
    peering_name: str = Field(
        default="ecr-privacy-operator", max_length=253, pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"
    )
    peering_lifetime: int = Field(default=30, ge=10, le=3600)
    feed_interval: float = Field(default=5.0, ge=0)
    feed_fallback_resync: float = Field(default=300.0, ge=10)
    exception_resync: float = Field(default=1800.0, ge=1)
    cluster_min_resync: float = Field(default=10.0, ge=10, le=86400)

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(h.strip() for h in value.split(",") if h.strip())
        return value

    @field_validator("allowed_hosts")
    @classmethod
    def _valid_hosts(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            HostEntry.parse(entry)  # raises ValueError: the operator does not start on a bad entry
        return value

    @model_validator(mode="after")
    def _deadline_below_liveness(self) -> OperatorConfig:
        if self.pass_deadline >= self.wedged_after:
            raise ValueError(
                "ECR_PRIVACY_PASS_DEADLINE must be shorter than ECR_PRIVACY_WEDGED_AFTER: a pass must end with a "
                "condition before the liveness probe restarts the operator"
            )
        return self

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> OperatorConfig:
        source = os.environ if env is None else env
        fields = {
            "allowed_hosts": "ALLOWED_HOSTS",
            "operator_namespace": "OPERATOR_NAMESPACE",
            "credentials_binding": "CREDENTIALS_BINDING",
            "ca_bundle": "CA_BUNDLE",
            "request_timeout": "REQUEST_TIMEOUT",
            "metrics_port": "METRICS_PORT",
            "log_format": "LOG_FORMAT",
            "max_backoff": "MAX_BACKOFF",
            "max_concurrent_syncs": "MAX_CONCURRENT_SYNCS",
            "kube_max_requests": "KUBE_MAX_REQUESTS",
            "wedged_after": "WEDGED_AFTER",
            "pass_deadline": "PASS_DEADLINE",
            "cluster_id": "CLUSTER_ID",
            "peering": "PEERING",
            "peering_name": "PEERING_NAME",
            "peering_lifetime": "PEERING_LIFETIME",
            "feed_interval": "FEED_INTERVAL",
            "feed_fallback_resync": "FEED_FALLBACK_RESYNC",
            "exception_resync": "EXCEPTION_RESYNC",
            "cluster_min_resync": "CLUSTER_MIN_RESYNC",
        }
        values = {
            key: source[ENV_PREFIX + var] for key, var in fields.items() if source.get(ENV_PREFIX + var)
        }
        if "operator_namespace" not in values:
            own = _own_namespace(source)
            if own:
                values["operator_namespace"] = own
        return cls.model_validate(values)
