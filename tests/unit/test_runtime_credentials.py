"""Credentials Secrets in the runtime: a Secret the operator cannot read (missing or forbidden) is a credentials
problem, not a crash, and after a failed pass the Secret is read afresh, so fixed or rotated keys apply on
the next retry rather than when the Secret cache expires (30 s)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kopf
import pytest
from kopf._core.engines import posting
from kubernetes import client as k8s
from pydantic import SecretStr

from ecr_privacy_operator.config import OperatorConfig
from ecr_privacy_operator.handlers.runtime import Runtime
from ecr_privacy_operator.kube import Kube, SecretNotFoundError
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
        await Kube(api=RefusingApi(500)).read_secret("team", "creds")
