"""One tenant cannot stop another's activity feed: one operator serves two namespaces (tenants A and B) that
share the emulator. Tenant A's Secret with an extra non-UTF-8 key leaves tenant B's console edit found through
the feed and corrected within 15 s; A's caBundle with a non-ASCII character is refused at admission (a workspace
that fails to resolve in any other way is left out alone: tests/unit/test_feed_resilience.py); a feed loop that
dies is restarted, and ``/readyz`` and a metric say so while it is down."""

from __future__ import annotations

import base64
import os
import signal
import time
import uuid
from collections.abc import Callable

import kubernetes.client as k8s
import pytest
from kubernetes.client.exceptions import ApiException
from tests.e2e.test_feed import (
    ACTIVITIES,
    FEED,
    RECONCILES,
    WORKSPACE,
    console_set,
    drift_corrected,
    hourly_policy,
)
from tests.fixtures.emulator import EmulatorProcess
from tests.fixtures.kube import wait_for
from tests.fixtures.operator import OperatorIdentity, OperatorProcess
from tests.fixtures.policies import Policies

SECRET_CACHE_SECONDS = 30  # kube.SECRET_CACHE_SECONDS
LOOP_UP = "ecrprivacy_feed_loop_up"
LOOP_RESTARTS = "ecrprivacy_feed_loop_restarts_total"
NON_ASCII_CA = "-----BEGIN CERTIFICATE-----\nMIIBé\n-----END CERTIFICATE-----\n"


@pytest.fixture
def tenant_b(api_client: k8s.ApiClient) -> str:
    """A second namespace (tenant B) that only the test's operator serves."""
    name = f"solo-{uuid.uuid4().hex[:10]}"
    core = k8s.CoreV1Api(api_client)
    core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name)))
    return name


def two_tenants(
    factory: Callable[..., OperatorProcess],
    identity: OperatorIdentity,
    emulator: EmulatorProcess,
    tenant_a: str,
    tenant_b: str,
    before: Callable[[], object] = lambda: None,
) -> OperatorProcess:
    """Both tenants' credentials, ``before`` (what tenant A does), then one operator for both namespaces."""
    identity.emulator_credentials(tenant_a, emulator)
    identity.emulator_credentials(tenant_b, emulator)
    before()
    return factory(tenant_a, extra_args=["--namespace", tenant_b], env=FEED)


def b_edit_is_corrected_by_the_feed(
    operator: OperatorProcess, emulator: EmulatorProcess, policies: Policies, tenant_b: str
) -> None:
    """Tenant B's policy followed by the feed; a console edit found and corrected within 15 s."""
    uid = hourly_policy(policies, tenant_b, "b")
    wait_for(lambda: operator.metric(ACTIVITIES, handling="echo") >= 2, timeout=20, what="B's pack followed")
    console_set(emulator, uid, "Skip")
    wait_for(lambda: drift_corrected(policies, tenant_b, "b"), timeout=15, what="B's console edit corrected")
    assert operator.metric(RECONCILES, trigger="feed") >= 1


def test_a_non_utf8_secret_key_of_one_tenant_does_not_stop_the_others_feed(
    operator_factory: Callable[..., OperatorProcess],
    operator_identity: OperatorIdentity,
    emulator: EmulatorProcess,
    policies: Policies,
    api_client: k8s.ApiClient,
    solo_ns: str,
    tenant_b: str,
) -> None:
    operator = two_tenants(operator_factory, operator_identity, emulator, solo_ns, tenant_b)
    hourly_policy(policies, solo_ns, "a")  # A's pack is followed by the feed from now on
    extra = base64.b64encode(b"\xff\xfe\x00binary").decode()
    k8s.CoreV1Api(api_client).patch_namespaced_secret(WORKSPACE, solo_ns, {"data": {"notes": extra}})
    time.sleep(SECRET_CACHE_SECONDS + 2)  # the operator reads A's Secret again, extra key and all
    b_edit_is_corrected_by_the_feed(operator, emulator, policies, tenant_b)
    assert operator.metric(LOOP_RESTARTS) == 0
    policies.patch_spec(solo_ns, "a", {"usage": "Approved"})  # A's next pass: the extra key is never decoded
    wait_for(
        lambda: policies.must_get(solo_ns, "a")["status"].get("appliedGeneration") == 2,
        timeout=20,
        what="A's change applied with the extra key in its Secret",
    )


def test_a_non_ascii_ca_bundle_is_refused_at_admission_and_the_others_feed_goes_on(
    operator_factory: Callable[..., OperatorProcess],
    operator_identity: OperatorIdentity,
    emulator: EmulatorProcess,
    policies: Policies,
    solo_ns: str,
    tenant_b: str,
) -> None:
    operator = two_tenants(operator_factory, operator_identity, emulator, solo_ns, tenant_b)
    hourly_policy(policies, solo_ns, "a")
    with pytest.raises(ApiException) as refused:
        operator_identity.workspace(
            solo_ns, WORKSPACE, url=emulator.url, secret=WORKSPACE, caBundle=NON_ASCII_CA
        )
    assert refused.value.status == 422
    assert "caBundle must be ASCII" in str(refused.value.body)
    b_edit_is_corrected_by_the_feed(operator, emulator, policies, tenant_b)
    assert operator.metric(LOOP_RESTARTS) == 0


def test_a_feed_loop_that_dies_restarts_and_readyz_says_so_meanwhile(
    operator_factory: Callable[..., OperatorProcess],
    operator_identity: OperatorIdentity,
    emulator: EmulatorProcess,
    policies: Policies,
    solo_ns: str,
    tenant_b: str,
) -> None:
    operator = two_tenants(operator_factory, operator_identity, emulator, solo_ns, tenant_b)
    hourly_policy(policies, solo_ns, "a")
    wait_for(lambda: operator.metric(LOOP_UP) == 1, timeout=15, what="the feed loop running")
    assert operator.readyz()[0] == 200
    assert operator.pid is not None
    os.kill(operator.pid, signal.SIGUSR2)  # the feed loop stops as a crash would
    _, reason = wait_for(
        lambda: (r := operator.readyz())[0] == 503 and r,
        timeout=5,
        what="/readyz reporting the feed loop down",
    )
    assert "activity feed loop is down" in reason
    assert operator.metric(LOOP_UP) == 0
    wait_for(lambda: operator.readyz()[0] == 200, timeout=15, what="the feed loop restarted")
    assert operator.metric(LOOP_UP) == 1
    assert operator.metric(LOOP_RESTARTS) == 1
    time.sleep(1)
    b_edit_is_corrected_by_the_feed(operator, emulator, policies, tenant_b)  # the restarted loop follows
