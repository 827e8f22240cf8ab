"""The operator's own Kubernetes calls besides Kopf's: read credential Secrets and patch object status.

Kopf owns watching, finalizers and events; this module covers the two things a long-running daemon needs to
do outside a handler's patch. The official client is synchronous, so every call runs in a worker thread.
Secret values are returned as ``SecretStr`` and never logged.
"""

from __future__ import annotations

import asyncio
import base64
import time
from dataclasses import dataclass, field
from typing import Any

import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from pydantic import SecretStr

GROUP, VERSION, PLURAL = "ecrprivacy.dev", "v1alpha1", "ecrprivacypolicies"
SECRET_CACHE_SECONDS = 30.0


class SecretNotFoundError(LookupError):
    """The named Secret, or a required key in it, does not exist or the operator may not read it."""


class KubernetesUnavailableError(RuntimeError):
    """The Kubernetes API did not answer (unreachable, timed out, HTTP 429 or 5xx): worth retrying soon."""


def load_config() -> k8s.ApiClient:
    """An API client from the in-cluster service account, else from KUBECONFIG / ~/.kube/config."""
    try:
        k8s_config.load_incluster_config()  # type: ignore[no-untyped-call]
    except k8s_config.ConfigException:
        k8s_config.load_kube_config()  # type: ignore[no-untyped-call]
    return k8s.ApiClient()


@dataclass
class Kube:
    """Secret reads (cached briefly, so 1000 objects sharing a Secret read it once) and status patches."""

    api: k8s.ApiClient
    _secrets: dict[tuple[str, str], tuple[float, dict[str, SecretStr]]] = field(default_factory=dict)

    async def read_secret(self, namespace: str, name: str) -> dict[str, SecretStr]:
        key = (namespace, name)
        cached = self._secrets.get(key)
        if cached and time.monotonic() - cached[0] < SECRET_CACHE_SECONDS:
            return cached[1]

        def read() -> dict[str, SecretStr]:
            try:
                secret = k8s.CoreV1Api(self.api).read_namespaced_secret(name, namespace)
            except k8s.ApiException as exc:
                if exc.status == 404:
                    raise SecretNotFoundError(f"Secret {namespace}/{name} not found") from None
                if exc.status == 403:
                    raise SecretNotFoundError(
                        f"Secret {namespace}/{name} cannot be read: forbidden to the operator (bind the "
                        f"ClusterRole ecr-privacy-operator-credentials to it in namespace {namespace})"
                    ) from None
                if exc.status is not None and (exc.status == 429 or exc.status >= 500):
                    raise KubernetesUnavailableError(
                        f"cannot read Secret {namespace}/{name}: the Kubernetes API answered HTTP {exc.status}"
                    ) from None
                raise
            except urllib3.exceptions.HTTPError as exc:  # refused, reset, timed out: an API-server restart
                raise KubernetesUnavailableError(
                    f"cannot read Secret {namespace}/{name}: the Kubernetes API is unreachable "
                    f"({type(exc).__name__})"
                ) from None
            data = secret.data or {}
            return {k: SecretStr(base64.b64decode(v).decode()) for k, v in data.items()}

        values = await asyncio.to_thread(read)
        self._secrets[key] = (time.monotonic(), values)
        return values

    def forget_secret(self, namespace: str, name: str) -> None:
        self._secrets.pop((namespace, name), None)

    async def patch_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        """Merge-patch ``status`` of one EcrPrivacyPolicy (lists such as conditions are replaced whole)."""

        def patch() -> None:
            k8s.CustomObjectsApi(self.api).patch_namespaced_custom_object_status(
                GROUP, VERSION, namespace, PLURAL, name, {"status": status}
            )

        await asyncio.to_thread(patch)
