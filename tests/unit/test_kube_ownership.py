"""The two Kubernetes reads behind pack ownership, against a mock API server: the cluster's identity (the UID
of kube-system, read with ``list``, which the operator's RBAC already grants) and whether an owner object still
exists (same namespace/name and the same UID); and how start-up turns them into the engine's Ownership."""

from __future__ import annotations

from typing import Any

import httpx
import kopf
import pytest

from ecr_privacy_operator.config import OperatorConfig
from ecr_privacy_operator.handlers.policy import _ownership
from ecr_privacy_operator.kube import KubernetesError, KubernetesUnavailableError
from ecr_privacy_operator.reconcile.ownership import Owner
from tests.fixtures.runtime import kube_answering

pytestmark = pytest.mark.unit

POLICIES = "/apis/ecrprivacy.dev/v1alpha1/namespaces"


def api(seen: list[httpx.Request]) -> Any:
    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/api/v1/namespaces":
            if request.url.params.get("fieldSelector") == "metadata.name=kube-system":
                return httpx.Response(
                    200, json={"items": [{"metadata": {"name": "kube-system", "uid": "ks-uid"}}]}
                )
            return httpx.Response(200, json={"items": []})
        if request.url.path == f"{POLICIES}/team-a/ecrprivacypolicies/live":
            return httpx.Response(200, json={"metadata": {"name": "live", "uid": "uid-live"}})
        return httpx.Response(404, json={"kind": "Status", "message": "not found"})

    return answer


async def test_the_cluster_id_is_the_uid_of_kube_system_read_by_list() -> None:
    seen: list[httpx.Request] = []
    kube = kube_answering(api(seen))
    assert await kube.namespace_uid("kube-system") == "ks-uid"
    assert [r.method for r in seen] == ["GET"]  # a list (collection URL), not a get of the namespace
    with pytest.raises(KubernetesError, match="does not exist"):
        await kube.namespace_uid("nope")
    await kube.aclose()


async def test_an_owner_exists_only_with_its_own_uid() -> None:
    kube = kube_answering(api([]))
    assert await kube.policy_exists("team-a", "live", "uid-live")
    assert not await kube.policy_exists("team-a", "live", "uid-of-an-earlier-namesake")
    assert not await kube.policy_exists("team-a", "gone", "uid-gone")
    await kube.aclose()


async def test_startup_reads_the_cluster_id_unless_it_is_set() -> None:
    kube = kube_answering(api([]))
    assert (await _ownership(OperatorConfig(), kube)).cluster_id == "ks-uid"
    ownership = await _ownership(OperatorConfig(cluster_id="prod-eu-1"), kube)
    assert ownership.cluster_id == "prod-eu-1"
    live = Owner(uid="uid-live", cluster="prod-eu-1", namespace="team-a", name="live")
    assert await ownership.owner_exists(live)
    assert not await ownership.owner_exists(live.model_copy(update={"uid": "other"}))
    assert await ownership.owner_exists(Owner(uid="legacy"))  # cannot be looked up: never taken on a guess
    await kube.aclose()


async def test_an_owner_that_cannot_be_looked_up_is_a_retryable_kubernetes_problem() -> None:
    kube = kube_answering(
        lambda request: httpx.Response(403, json={"kind": "Status", "message": "forbidden"})
    )
    ownership = await _ownership(OperatorConfig(cluster_id="c1"), kube)
    with pytest.raises(KubernetesUnavailableError, match="team-a/live, the owner of the pack"):
        await ownership.owner_exists(Owner(uid="u", cluster="c1", namespace="team-a", name="live"))
    await kube.aclose()


async def test_startup_stops_when_the_cluster_id_cannot_be_read() -> None:
    kube = kube_answering(
        lambda request: httpx.Response(403, json={"kind": "Status", "message": "forbidden"})
    )
    with pytest.raises(kopf.PermanentError, match="ECR_PRIVACY_CLUSTER_ID"):
        await _ownership(OperatorConfig(), kube)
    await kube.aclose()


def test_a_cluster_id_that_cannot_stand_in_an_aka_is_refused() -> None:
    with pytest.raises(ValueError, match="cluster_id"):
        OperatorConfig.from_env({"ECR_PRIVACY_CLUSTER_ID": "a/b"})
    assert OperatorConfig.from_env({"ECR_PRIVACY_CLUSTER_ID": "prod-eu-1"}).cluster_id == "prod-eu-1"
