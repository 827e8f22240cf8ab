"""Credentials Secrets in the runtime: a Secret the operator cannot read (missing or forbidden) is a credentials
problem, not a crash, and after a failed pass the Secret is read afresh, so fixed or rotated keys apply on
the next retry rather than when the Secret cache expires (30 s)."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from typing import Any

import httpx
import kopf
import pytest
from pydantic import SecretStr

from ecr_privacy_operator.config import OperatorConfig
from ecr_privacy_operator.kube import (
    Kube,
    KubernetesError,
    KubernetesUnavailableError,
    SecretNotFoundError,
    in_cluster,
)
from tests.fixtures.runtime import SERVER, CachingKube, body, kube_answering, queue_kopf_events, runtime_for

pytestmark = pytest.mark.unit


async def test_failed_pass_forgets_the_cached_secret() -> None:
    queue_kopf_events()
    kube = CachingKube({("team", "creds"): {"accessKey": "a"}})  # no secretKey: CredentialsNotFound
    runtime = runtime_for(kube)
    logger = logging.getLogger("test")

    await runtime.sync(body("creds"), "create", logger)
    assert kube.patches[-1]["conditions"][0]["reason"] == "CredentialsNotFound"
    await runtime.sync(body("creds"), "resync", logger)
    assert kube.reads == 2  # read afresh, not served from the cache
    await runtime.pool.aclose()


def refusing(status: int) -> Kube:
    return kube_answering(lambda request: httpx.Response(status, json={"kind": "Status", "message": "no"}))


@pytest.mark.parametrize(("status", "words"), [(404, "not found"), (403, "forbidden")])
async def test_unreadable_secret_is_a_credentials_problem(status: int, words: str) -> None:
    with pytest.raises(SecretNotFoundError, match=words) as raised:
        await refusing(status).read_secret("team", "creds")
    assert "team/creds" in str(raised.value)


async def test_other_api_errors_propagate_with_the_api_message() -> None:
    with pytest.raises(KubernetesError, match="HTTP 422: cannot read Secret team/creds: no") as raised:
        await refusing(422).read_secret("team", "creds")
    assert raised.value.status == 422


def unreachable(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


@pytest.mark.parametrize(
    "kube", [refusing(500), refusing(429), refusing(503), kube_answering(unreachable)], ids=str
)
async def test_an_unavailable_api_server_is_worth_retrying(kube: Kube) -> None:
    with pytest.raises(KubernetesUnavailableError, match="team/creds"):
        await kube.read_secret("team", "creds")
    with pytest.raises(KubernetesUnavailableError, match="team/p"):
        await kube.patch_status("team", "p", {"observedGeneration": 1})


async def test_secret_values_are_decoded_and_cached() -> None:
    calls: list[httpx.Request] = []

    def api(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        data = {"accessKey": base64.b64encode(b"ak").decode(), "secretKey": base64.b64encode(b"sk").decode()}
        return httpx.Response(200, json={"kind": "Secret", "data": data})

    kube = kube_answering(api)
    values = await kube.read_secret("team", "creds")
    assert {k: v.get_secret_value() for k, v in values.items()} == {"accessKey": "ak", "secretKey": "sk"}
    assert "sk" not in repr(values)
    assert await kube.read_secret("team", "creds") is values  # from the cache
    assert [(r.method, r.url.path) for r in calls] == [("GET", "/api/v1/namespaces/team/secrets/creds")]
    assert calls[0].headers["Authorization"] == "Bearer t-1"
    kube.forget_secret("team", "creds")
    await kube.read_secret("team", "creds")
    assert len(calls) == 2
    await kube.aclose()


async def test_status_is_a_merge_patch_of_the_status_subresource() -> None:
    seen: list[httpx.Request] = []

    def api(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={})

    kube = kube_answering(api)
    await kube.patch_status("team", "p", {"observedGeneration": 3})
    request = seen[0]
    assert request.method == "PATCH"
    assert request.url.path == "/apis/ecrprivacy.dev/v1alpha1/namespaces/team/ecrprivacypolicies/p/status"
    assert request.headers["Content-Type"] == "application/merge-patch+json"
    assert json.loads(request.content) == {"status": {"observedGeneration": 3}}
    await kube.aclose()


async def test_a_401_logs_in_again_once() -> None:
    """A rotated service-account token: the first call after rotation is refused, the retry with the token
    read afresh succeeds; a second 401 in a row is the API's answer."""
    tokens = iter(["old", "new", "newer"])
    answers = {"Bearer old": 401, "Bearer new": 200}

    def api(request: httpx.Request) -> httpx.Response:
        return httpx.Response(answers.get(request.headers["Authorization"], 401), json={"message": "who?"})

    kube = Kube(
        credentials=lambda: kopf.ConnectionInfo(server=SERVER, token=next(tokens)),
        transport=httpx.MockTransport(api),
    )
    await kube.patch_status("team", "p", {})
    answers["Bearer new"] = 401
    with pytest.raises(KubernetesError, match="HTTP 401"):
        await kube.patch_status("team", "p", {})
    await kube.aclose()


class FlakyKube(CachingKube):
    """The API server is down for Secret reads and status writes while ``down`` is set."""

    down = True

    async def read_secret(self, namespace: str, name: str) -> dict[str, SecretStr]:
        if self.down:
            raise KubernetesUnavailableError(f"cannot read Secret {namespace}/{name}: unreachable")
        return await super().read_secret(namespace, name)

    async def patch_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        if self.down:
            raise KubernetesUnavailableError(f"cannot patch the status of {namespace}/{name}: unreachable")
        await super().patch_status(namespace, name, status)


async def test_api_server_outage_is_a_retryable_condition_retried_soon() -> None:
    """No exception escapes to Kopf (which would wait 60 s with a traceback): the pass fails with
    KubernetesUnavailable, and since its status could not be written either, the next pass is due within the
    backoff cap rather than after a full resync."""
    queue_kopf_events()
    kube = FlakyKube({("team", "creds"): {"accessKey": "a"}})
    runtime = runtime_for(kube, OperatorConfig(max_backoff=4))
    logger = logging.getLogger("test")

    delay = await runtime.sync(body("creds"), "create", logger)
    assert delay <= 4
    assert kube.patches == []
    kube.down = False
    await runtime.sync(body("creds"), "resync", logger)
    assert kube.patches[-1]["conditions"][0]["reason"] == "CredentialsNotFound"  # no secretKey: as before
    await runtime.pool.aclose()


async def test_unwritten_status_is_retried_within_the_backoff_cap() -> None:
    queue_kopf_events()
    kube = FlakyKube({("team", "creds"): {"accessKey": "a"}})
    kube.down = False
    runtime = runtime_for(kube, OperatorConfig(max_backoff=4))
    suspended = kopf.Body({**body("creds"), "spec": {**body("creds")["spec"], "suspend": True}})
    logger = logging.getLogger("test")

    kube.down = True  # a pass that succeeds (Suspended) but cannot write its status
    assert await runtime.sync(suspended, "create", logger) <= 4
    kube.down = False
    assert await runtime.sync(suspended, "resync", logger) > 4  # written now: back to the resync interval
    assert kube.patches[-1]["conditions"][0]["reason"] == "Suspended"
    await runtime.pool.aclose()


def test_in_cluster_login_reads_the_mounted_service_account(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "token").write_text("tok-1\n")
    (tmp_path / "namespace").write_text("ops")
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "fd00::1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    info = in_cluster(str(tmp_path))
    assert info is not None
    assert (info.server, info.token, info.default_namespace) == ("https://[fd00::1]:443", "tok-1", "ops")
    assert info.ca_path == str(tmp_path / "ca.crt")
    (tmp_path / "token").write_text("tok-2")  # the kubelet rotated it: the next login reads it afresh
    again = in_cluster(str(tmp_path))
    assert again is not None
    assert again.token == "tok-2"
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST")
    assert in_cluster(str(tmp_path)) is None  # not in a Pod: the kubeconfig is used instead


async def test_a_spec_change_that_arrives_while_a_pass_waits_is_not_lost() -> None:
    """A resync has taken the old spec and waits for the object's lock when a handler asks for a pass on a
    new spec: the pass after it runs on the new spec (the waiting pass must not put the old one back)."""
    queue_kopf_events()
    kube = CachingKube({("team", "creds"): {"accessKey": "a"}})  # no secretKey: CredentialsNotFound
    runtime = runtime_for(kube)
    old = body("creds")
    runtime.request(old, "create")
    state = runtime.state("u-1")
    await state.lock.acquire()  # a pass in flight
    waiting = asyncio.create_task(runtime.resync("u-1"))  # takes the old spec, then waits for the lock
    await asyncio.sleep(0)
    runtime.request(kopf.Body({**old, "spec": {**old["spec"], "suspend": True}}), "update")
    state.lock.release()
    await waiting
    assert kube.patches[-1]["conditions"][0]["reason"] == "CredentialsNotFound"  # the old spec's pass
    assert runtime.schedule.due_in("u-1") == pytest.approx(0, abs=1)  # the update's pass is due now
    await runtime.resync("u-1")
    assert kube.patches[-1]["conditions"][0]["reason"] == "Suspended"  # ... and runs on the new spec
    await runtime.pool.aclose()
