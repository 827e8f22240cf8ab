"""Credentials Secrets in the runtime: a Secret the operator cannot read (missing or forbidden) is a credentials
problem, not a crash, and after a failed pass the Secret is read afresh, so fixed or rotated keys apply on
the next retry rather than when the Secret cache expires (30 s)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kopf
import pytest
import urllib3
from kopf._core.engines import posting
from kubernetes import client as k8s
from pydantic import SecretStr

from ecr_privacy_operator.config import OperatorConfig
from ecr_privacy_operator.handlers.runtime import Runtime
from ecr_privacy_operator.kube import Kube, KubernetesUnavailableError, SecretNotFoundError
from ecr_privacy_operator.metrics import Metrics
from ecr_privacy_operator.reconcile.clients import ClientPool

pytestmark = pytest.mark.unit


class CachingKube(Kube):
    """Kube's Secret cache over an in-memory Secret store; status patches are recorded."""

    def __init__(self, secrets: dict[tuple[str, str], dict[str, str]]) -> None:
        super().__init__(api=k8s.ApiClient())
        self.store = secrets
        self.reads = 0
        self.patches: list[dict[str, Any]] = []

    async def read_secret(self, namespace: str, name: str) -> dict[str, SecretStr]:
        cached = self._secrets.get((namespace, name))
        if cached is not None:
            return cached[1]
        self.reads += 1
        values = {k: SecretStr(v) for k, v in self.store[(namespace, name)].items()}
        self._secrets[(namespace, name)] = (0.0, values)
        return values

    async def patch_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        self.patches.append(status)


def body(secret: str) -> kopf.Body:
    return kopf.Body(
        {
            "apiVersion": "ecrprivacy.dev/v1alpha1",
            "kind": "EcrPrivacyPolicy",
            "metadata": {"name": "p", "namespace": "team", "uid": "u-1", "generation": 1},
            "spec": {
                "workspace": {"credentialsSecretRef": {"name": secret}},
                "attachments": [{"resource": "arn:aws:::123456789012"}],
                "suspend": False,
            },
        }
    )


async def test_failed_pass_forgets_the_cached_secret() -> None:
    posting.event_queue_loop_var.set(asyncio.get_running_loop())
    posting.event_queue_var.set(asyncio.Queue())
    posting.settings_var.set(kopf.OperatorSettings())
    kube = CachingKube({("team", "creds"): {"accessKey": "a"}})  # no secretKey: CredentialsNotFound
    runtime = Runtime(config=OperatorConfig(), kube=kube, pool=ClientPool(), metrics=Metrics())
    logger = logging.getLogger("test")

    await runtime.sync(body("creds"), "create", logger)
    assert kube.patches[-1]["conditions"][0]["reason"] == "CredentialsNotFound"
    await runtime.sync(body("creds"), "resync", logger)
    assert kube.reads == 2  # read afresh, not served from the cache
    await runtime.pool.aclose()


class RefusingApi(k8s.ApiClient):
    """An API client whose every call is answered with ``status``, as the apiserver would."""

    def __init__(self, status: int) -> None:
        super().__init__()
        self.status = status

    def call_api(self, *args: Any, **kwargs: Any) -> Any:
        raise k8s.ApiException(status=self.status, reason="Refused")


@pytest.mark.parametrize(("status", "words"), [(404, "not found"), (403, "forbidden")])
async def test_unreadable_secret_is_a_credentials_problem(status: int, words: str) -> None:
    with pytest.raises(SecretNotFoundError, match=words) as raised:
        await Kube(api=RefusingApi(status)).read_secret("team", "creds")
    assert "team/creds" in str(raised.value)


async def test_other_api_errors_propagate() -> None:
    with pytest.raises(k8s.ApiException):
        await Kube(api=RefusingApi(401)).read_secret("team", "creds")


class UnreachableApi(k8s.ApiClient):
    """An API client whose API server is down (connection refused), as during an API-server restart."""

    def call_api(self, *args: Any, **kwargs: Any) -> Any:
        raise urllib3.exceptions.MaxRetryError(None, "/api/v1", reason=ConnectionRefusedError(111, "refused"))


@pytest.mark.parametrize("api", [RefusingApi(500), RefusingApi(429), RefusingApi(503), UnreachableApi()])
async def test_an_unavailable_api_server_is_worth_retrying(api: k8s.ApiClient) -> None:
    with pytest.raises(KubernetesUnavailableError, match="team/creds"):
        await Kube(api=api).read_secret("team", "creds")


class FlakyKube(CachingKube):
    """The API server is down for Secret reads and status writes while ``down`` is set."""

    down = True

    async def read_secret(self, namespace: str, name: str) -> dict[str, SecretStr]:
        if self.down:
            raise KubernetesUnavailableError(f"cannot read Secret {namespace}/{name}: unreachable")
        return await super().read_secret(namespace, name)

    async def patch_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        if self.down:
            raise urllib3.exceptions.MaxRetryError(None, "/apis", reason=ConnectionRefusedError())
        await super().patch_status(namespace, name, status)


async def test_api_server_outage_is_a_retryable_condition_retried_soon() -> None:
    """No exception escapes to Kopf (which would wait 60 s with a traceback): the pass fails with
    KubernetesUnavailable, and since its status could not be written either, the next pass is due within the
    backoff cap rather than after a full resync."""
    posting.event_queue_loop_var.set(asyncio.get_running_loop())
    posting.event_queue_var.set(asyncio.Queue())
    posting.settings_var.set(kopf.OperatorSettings())
    kube = FlakyKube({("team", "creds"): {"accessKey": "a"}})
    runtime = Runtime(config=OperatorConfig(max_backoff=4), kube=kube, pool=ClientPool(), metrics=Metrics())
    logger = logging.getLogger("test")

    delay = await runtime.sync(body("creds"), "create", logger)
    assert delay <= 4
    assert kube.patches == []
    kube.down = False
    await runtime.sync(body("creds"), "resync", logger)
    assert kube.patches[-1]["conditions"][0]["reason"] == "CredentialsNotFound"  # no secretKey: as before
    await runtime.pool.aclose()


async def test_unwritten_status_is_retried_within_the_backoff_cap() -> None:
    posting.event_queue_loop_var.set(asyncio.get_running_loop())
    posting.event_queue_var.set(asyncio.Queue())
    posting.settings_var.set(kopf.OperatorSettings())
    kube = FlakyKube({("team", "creds"): {"accessKey": "a"}})
    kube.down = False
    runtime = Runtime(config=OperatorConfig(max_backoff=4), kube=kube, pool=ClientPool(), metrics=Metrics())
    suspended = kopf.Body({**body("creds"), "spec": {**body("creds")["spec"], "suspend": True}})
    logger = logging.getLogger("test")

    kube.down = True  # a pass that succeeds (Suspended) but cannot write its status
    assert await runtime.sync(suspended, "create", logger) <= 4
    kube.down = False
    assert await runtime.sync(suspended, "resync", logger) > 4  # written now: back to the resync interval
    assert kube.patches[-1]["conditions"][0]["reason"] == "Suspended"
    await runtime.pool.aclose()
