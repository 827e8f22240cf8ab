"""EcrPrivacyException from the user's side: a reviewer approves one public repository for a reason until a
date; Guardrails (the emulator) shows the repository ok, the policy's counts follow, expiry and console edits
are handled, rules refuse before any write, and only the exception role may grant one.

The shared operator checks exceptions every 3 s (ECR_PRIVACY_EXCEPTION_RESYNC); one test runs a dedicated
operator whose exception resync is an hour away, to show a console deletion found through the feed."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes import client as k8s
from tests.fixtures.emulator import ACCOUNT_AKA, REGION_AKA, EmulatorProcess
from tests.fixtures.kube import GROUP, VERSION, wait_for
from tests.fixtures.policies import Guardrails, Policies, condition
from tests.fixtures.tenancy import ClusterWorkspaces

pytestmark = pytest.mark.e2e

PLURAL = "ecrprivacyexceptions"
USAGE = "tmod:@turbot/aws-ecr#/policy/types/publicRepositoryApprovedUsage"
CONTROL = "tmod:@turbot/aws-ecr#/control/types/publicRepositoryApproved"
WRITES = ("Create", "Update", "Delete", "Attach", "Detach")


def repo(name: str) -> str:
    return f"arn:aws:ecr-public::123456789012:repository/{name}"


def in_days(days: float) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def exception_body(namespace: str, name: str, **spec: Any) -> dict[str, Any]:
    full = {
        "policyRef": {"name": "ecr-private"},
        "repositories": [repo("legacy")],
        "reason": "Publishes our open-source base images (SEC-1234)",
        "expires": in_days(30),
        **spec,
    }
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "EcrPrivacyException",
        "metadata": {"name": name, "namespace": namespace},
        "spec": full,
    }


class Exceptions:
    def __init__(self, api: k8s.ApiClient) -> None:
        self.objects = k8s.CustomObjectsApi(api)
        self.created: list[tuple[str, str]] = []

    def create(self, namespace: str, name: str, **spec: Any) -> dict[str, Any]:
        body = exception_body(namespace, name, **spec)
        found: dict[str, Any] = self.objects.create_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, body
        )
        self.created.append((namespace, name))
        return found

    def get(self, namespace: str, name: str) -> dict[str, Any]:
        found: dict[str, Any] = self.objects.get_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, name
        )
        return found

    def wait(
        self, namespace: str, name: str, type_: str, status: str, reason: str | None = None
    ) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            obj = self.get(namespace, name)
            cond = condition(obj, type_)
            if cond is None or cond.get("status") != status or (reason and cond.get("reason") != reason):
                return None
            return obj

        found: dict[str, Any] = wait_for(check, timeout=15, what=f"{name} {type_}={status} {reason or ''}")
        return found

    def cleanup(self) -> None:
        for namespace, name in self.created:
            try:
                self.objects.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
            except k8s.ApiException as exc:
                if exc.status != 404:
                    raise
        for namespace, name in self.created:
            wait_for(lambda ns=namespace, n=name: self._gone(ns, n), timeout=30, what=f"{name} gone")

    def _gone(self, namespace: str, name: str) -> bool:
        try:
            self.get(namespace, name)
        except k8s.ApiException as exc:
            return exc.status == 404
        return False


@pytest.fixture
def exceptions(api_client: k8s.ApiClient, policies: Policies) -> Any:
    helper = Exceptions(api_client)
    yield helper
    helper.cleanup()


def control_state(emulator: EmulatorProcess, name: str) -> str | None:
    state = Guardrails(emulator.state())
    rid = state.resource_id(repo(name))
    for control in state.state["controls"]:
        if control["resource_id"] == rid and control["type_uri"] == CONTROL:
            return str(control["state"])
    return None


def usage_settings(emulator: EmulatorProcess, name: str) -> list[dict[str, Any]]:
    state = Guardrails(emulator.state())
    rid = state.resource_id(repo(name))
    return [s for s in state.state["settings"] if s["resource_id"] == rid and s["type_uri"] == USAGE]


def writes(emulator: EmulatorProcess) -> dict[str, int]:
    by_operation: dict[str, int] = emulator.requests()["byOperation"]
    return {op: n for op, n in by_operation.items() if op.startswith(WRITES)}


def test_an_alarmed_repository_becomes_ok_and_the_policy_counts_it(
    e2e_ns: str, emulator: EmulatorProcess, policies: Policies, exceptions: Exceptions
) -> None:
    policies.create(e2e_ns, "ecr-private")
    policies.wait_ready(e2e_ns, "ecr-private")
    assert control_state(emulator, "legacy") == "alarm"
    started = time.monotonic()
    exceptions.create(e2e_ns, "base-images")
    wait_for(lambda: control_state(emulator, "legacy") == "ok", timeout=15, what="legacy ok")
    obj = exceptions.wait(e2e_ns, "base-images", "Ready", "True")
    assert time.monotonic() - started < 15
    (setting,) = usage_settings(emulator, "legacy")
    assert (setting["value"], setting["precedence"]) == ("Approved", "REQUIRED")
    assert setting["note"].startswith("Publishes our open-source base images (SEC-1234)")
    assert setting["valid_to"] == obj["spec"]["expires"].replace("Z", ".000Z")
    (status,) = obj["status"]["repositories"]
    assert (status["inForce"], status["controlState"]) == (True, "ok")
    assert condition(obj, "Expired")["status"] == "False"  # type: ignore[index]

    def counted() -> bool:
        compliance = (policies.must_get(e2e_ns, "ecr-private").get("status") or {}).get("compliance") or {}
        return (compliance.get("ok"), compliance.get("alarm")) == (1, 2)

    wait_for(counted, timeout=15, what="the policy counts legacy as ok")


def test_expiry_makes_the_object_expired_and_the_repository_alarm_again(
    e2e_ns: str, emulator: EmulatorProcess, policies: Policies, exceptions: Exceptions
) -> None:
    policies.create(e2e_ns, "ecr-private")
    policies.wait_ready(e2e_ns, "ecr-private")
    exceptions.create(e2e_ns, "short", expires=in_days(1))
    exceptions.wait(e2e_ns, "short", "Ready", "True")
    assert control_state(emulator, "legacy") == "ok"
    emulator.advance_clock("25h")
    assert control_state(emulator, "legacy") == "alarm"  # Guardrails stops applying it by itself
    obj = exceptions.wait(e2e_ns, "short", "Expired", "True")
    assert condition(obj, "Ready")["status"] == "False"  # type: ignore[index]
    assert obj["status"]["repositories"][0]["inForce"] is False


def test_a_console_edit_of_the_exception_setting_is_corrected(
    e2e_ns: str, emulator: EmulatorProcess, policies: Policies, exceptions: Exceptions
) -> None:
    policies.create(e2e_ns, "ecr-private")
    policies.wait_ready(e2e_ns, "ecr-private")
    exceptions.create(e2e_ns, "base-images")
    exceptions.wait(e2e_ns, "base-images", "Ready", "True")
    (setting,) = usage_settings(emulator, "legacy")
    emulator.console(
        "mutation U($input: UpdatePolicySettingInput!) { updatePolicySetting(input: $input) { turbot { id } } }",
        {"input": {"id": setting["id"], "value": "Not approved"}},
    )
    assert control_state(emulator, "legacy") == "alarm"
    wait_for(lambda: control_state(emulator, "legacy") == "ok", timeout=15, what="the edit corrected")
    emulator.console(
        "mutation D($input: DeletePolicySettingInput!) { deletePolicySetting(input: $input) { turbot { id } } }",
        {"input": {"id": setting["id"]}},
    )
    wait_for(lambda: len(usage_settings(emulator, "legacy")) == 1, timeout=15, what="the deletion corrected")
    assert control_state(emulator, "legacy") == "ok"


def test_a_repository_outside_the_policy_is_refused_with_no_write(
    e2e_ns: str, emulator: EmulatorProcess, policies: Policies, exceptions: Exceptions
) -> None:
    other = emulator.add_resource(
        "tmod:@turbot/turbot#/", "elsewhere", type="account", accountId="210987654321"
    )
    region = emulator.add_resource(other["id"], "us-west-2", type="region")
    emulator.add_resource(region["id"], "far", created_at="-3h")
    policies.create(e2e_ns, "ecr-private", attachments=[{"resource": REGION_AKA}])
    policies.wait_ready(e2e_ns, "ecr-private")
    emulator.requests(clear=True)
    far = "arn:aws:ecr-public::210987654321:repository/far"
    exceptions.create(e2e_ns, "far", repositories=[far])
    obj = exceptions.wait(e2e_ns, "far", "Ready", "False", reason="RepositoryNotUnderPolicy")
    assert condition(obj, "Stalled")["status"] == "True"  # type: ignore[index]
    time.sleep(2)
    assert writes(emulator) == {}
    assert ACCOUNT_AKA


def cluster_ref(name: str) -> dict[str, str]:
    return {"kind": "ClusterGuardrailsWorkspace", "name": name}


@pytest.mark.parametrize(
    ("scope", "expires", "reason"),
    [
        ({}, 30, "ExceptionsNotAllowed"),
        ({"allowExceptions": True, "maxExceptionDuration": "7d"}, 30, "ExpiryTooFar"),
    ],
)
def test_a_cluster_workspace_decides_whether_and_how_long(
    e2e_ns: str,
    emulator: EmulatorProcess,
    policies: Policies,
    exceptions: Exceptions,
    cluster_workspaces: ClusterWorkspaces,
    scope: dict[str, Any],
    expires: int,
    reason: str,
) -> None:
    org = cluster_workspaces.create(emulator, allow=e2e_ns, **scope)
    policies.create(e2e_ns, "ecr-private", workspaceRef=cluster_ref(org))
    policies.wait_ready(e2e_ns, "ecr-private")
    emulator.requests(clear=True)
    exceptions.create(e2e_ns, "base-images", expires=in_days(expires))
    obj = exceptions.wait(e2e_ns, "base-images", "Ready", "False", reason=reason)
    assert org in condition(obj, "Ready")["message"]  # type: ignore[index]
    time.sleep(2)
    assert writes(emulator) == {}
    assert usage_settings(emulator, "legacy") == []


def test_a_namespace_editor_cannot_grant_an_exception_and_the_exception_role_can(
    e2e_ns: str,
    api_client: k8s.ApiClient,
    tenant: Callable[[str], k8s.ApiClient],
    controller_manager: Any,
    exceptions: Exceptions,
) -> None:
    as_tenant = k8s.CustomObjectsApi(tenant(e2e_ns))
    body = exception_body(e2e_ns, "self-granted")

    def listed() -> bool:  # the aggregated roles let editors read exceptions
        try:
            as_tenant.list_namespaced_custom_object(GROUP, VERSION, e2e_ns, PLURAL)
        except k8s.ApiException:
            return False
        return True

    wait_for(listed, timeout=30, what="the tenant can list exceptions (role aggregation)")
    with pytest.raises(k8s.ApiException) as refused:
        as_tenant.create_namespaced_custom_object(GROUP, VERSION, e2e_ns, PLURAL, body)
    assert refused.value.status == 403
    binding = k8s.V1RoleBinding(
        metadata=k8s.V1ObjectMeta(name="exception-granter", namespace=e2e_ns),
        role_ref=k8s.V1RoleRef(
            api_group="rbac.authorization.k8s.io", kind="ClusterRole", name="ecr-privacy-operator-exceptions"
        ),
        subjects=[
            k8s.RbacV1Subject(kind="User", name=f"tenant-{e2e_ns}", api_group="rbac.authorization.k8s.io")
        ],
    )
    k8s.RbacAuthorizationV1Api(api_client).create_namespaced_role_binding(e2e_ns, binding)

    def granted() -> bool:
        try:
            as_tenant.create_namespaced_custom_object(GROUP, VERSION, e2e_ns, PLURAL, body)
        except k8s.ApiException as exc:
            if exc.status == 403:
                return False
            raise
        exceptions.created.append((e2e_ns, "self-granted"))
        return True

    wait_for(granted, timeout=15, what="the exception role lets the tenant create one")


def pack_usage(emulator: EmulatorProcess, ns: str) -> dict[str, Any]:
    state = Guardrails(emulator.state())
    (pack,) = state.packs_with_aka(f"e2e:{ns}:ecr-private")
    (usage,) = [
        s for s in state.state["settings"] if s["resource_id"] == pack["id"] and s["type_uri"] == USAGE
    ]
    return usage


def test_with_enforce_a_repository_named_before_it_exists_survives_its_creation(
    e2e_ns: str, emulator: EmulatorProcess, policies: Policies, exceptions: Exceptions
) -> None:
    policies.create(e2e_ns, "ecr-private", enforcement="Enforce", attachments=[{"resource": REGION_AKA}])
    policies.wait_ready(e2e_ns, "ecr-private")
    exceptions.create(e2e_ns, "to-come", repositories=[repo("base-images")])
    obj = exceptions.wait(e2e_ns, "to-come", "Ready", "False", reason="RepositoryPending")
    assert obj["status"]["pendingRepositories"] == [repo("base-images")]
    wait_for(lambda: pack_usage(emulator, e2e_ns)["template"], timeout=15, what="the pack's Usage calculated")
    kept = emulator.add_resource(REGION_AKA, "base-images", created_at="-1m")
    assert kept["exists"] is True, "the named repository was deleted on creation"
    gone = emulator.add_resource(REGION_AKA, "not-named", created_at="-1m")
    assert gone["exists"] is False, "an unnamed new public repository must still be deleted"
    assert control_state(emulator, "base-images") == "ok"
    # once it exists, the exception's own setting takes over and the pack's Usage is static again
    exceptions.wait(e2e_ns, "to-come", "Ready", "True")
    wait_for(
        lambda: pack_usage(emulator, e2e_ns)["template"] is None, timeout=15, what="the Usage static again"
    )
    assert pack_usage(emulator, e2e_ns)["value"] == "Not approved"
    assert control_state(emulator, "base-images") == "ok"


def test_a_repository_excepted_twice_is_a_conflict_that_names_no_other_tenant(
    e2e_ns: str,
    emulator: EmulatorProcess,
    policies: Policies,
    exceptions: Exceptions,
    api_client: k8s.ApiClient,
    operator_identity: Any,
) -> None:
    other_ns = f"e2e-{e2e_ns[-10:]}-b"
    k8s.CoreV1Api(api_client).create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=other_ns)))
    operator_identity.emulator_credentials(other_ns, emulator)
    for ns in (e2e_ns, other_ns):
        policies.create(ns, "ecr-private")
    for ns in (e2e_ns, other_ns):
        policies.wait_ready(ns, "ecr-private")
    exceptions.create(e2e_ns, "first")
    exceptions.wait(e2e_ns, "first", "Ready", "True")
    exceptions.create(e2e_ns, "second")
    same = exceptions.wait(e2e_ns, "second", "Ready", "False", reason="RepositoryConflict")
    assert "first" in condition(same, "Ready")["message"]  # type: ignore[index]
    exceptions.create(other_ns, "sneaky-name")
    other = exceptions.wait(other_ns, "sneaky-name", "Ready", "False", reason="RepositoryConflict")
    message = condition(other, "Ready")["message"]  # type: ignore[index]
    assert "first" not in message
    assert e2e_ns not in message
    (setting,) = usage_settings(emulator, "legacy")
    assert f"{e2e_ns}/first" in setting["note"]


@pytest.fixture
def solo_policy(
    solo_ns: str,
    emulator: EmulatorProcess,
    policies: Policies,
    operator_factory: Callable[..., Any],
    operator_identity: Any,
) -> Callable[[str], str]:
    """``solo_policy(feed_interval)``: a dedicated operator whose exception resync is an hour away, and a
    Ready policy ``ecr-private`` in its namespace (returned)."""

    def start(feed_interval: str) -> str:
        operator_identity.emulator_credentials(solo_ns, emulator)
        env = {"ECR_PRIVACY_FEED_INTERVAL": feed_interval, "ECR_PRIVACY_EXCEPTION_RESYNC": "3600"}
        operator_factory(solo_ns, env=env)
        policies.create(solo_ns, "ecr-private", resyncInterval="1h")
        policies.wait_ready(solo_ns, "ecr-private")
        return solo_ns

    return start


def test_a_console_deletion_and_the_expiry_are_found_through_the_feed_long_before_the_resync(
    solo_policy: Callable[[str], str], emulator: EmulatorProcess, exceptions: Exceptions
) -> None:
    """With the exception's resync an hour away, the repository's control going back to alarm (seen in the
    policy's activity feed) makes the exception check itself: it puts a deleted setting back, and says
    Expired once Guardrails' clock passes expires."""
    solo_ns = solo_policy("1")
    exceptions.create(solo_ns, "base-images")
    exceptions.wait(solo_ns, "base-images", "Ready", "True")
    time.sleep(3)  # the feed has read back the creation's own writes
    (setting,) = usage_settings(emulator, "legacy")
    emulator.console(
        "mutation D($input: DeletePolicySettingInput!) { deletePolicySetting(input: $input) { turbot { id } } }",
        {"input": {"id": setting["id"]}},
    )
    assert control_state(emulator, "legacy") == "alarm"
    wait_for(lambda: control_state(emulator, "legacy") == "ok", timeout=15, what="the deletion corrected")
    (again,) = usage_settings(emulator, "legacy")
    assert again["id"] != setting["id"]
    emulator.advance_clock("31d")
    obj = exceptions.wait(solo_ns, "base-images", "Expired", "True")
    assert obj["status"]["repositories"][0]["controlState"] == "alarm"


def test_deleting_an_exception_removes_its_setting_and_orphan_leaves_it(
    e2e_ns: str, emulator: EmulatorProcess, policies: Policies, exceptions: Exceptions
) -> None:
    policies.create(e2e_ns, "ecr-private")
    policies.wait_ready(e2e_ns, "ecr-private")
    exceptions.create(e2e_ns, "gone", repositories=[repo("legacy")])
    exceptions.create(e2e_ns, "kept", repositories=[repo("edge")], deletionPolicy="Orphan")
    for name in ("gone", "kept"):
        exceptions.wait(e2e_ns, name, "Ready", "True")
    for name in ("gone", "kept"):
        exceptions.objects.delete_namespaced_custom_object(GROUP, VERSION, e2e_ns, PLURAL, name)
    for name in ("gone", "kept"):
        wait_for(lambda n=name: exceptions._gone(e2e_ns, n), timeout=15, what=f"{name} deleted")
    assert usage_settings(emulator, "legacy") == []
    assert control_state(emulator, "legacy") == "alarm"
    (orphan,) = usage_settings(emulator, "edge")
    assert orphan["value"] == "Approved"


def test_an_exception_is_checked_right_after_it_expires(
    solo_policy: Callable[[str], str], emulator: EmulatorProcess, exceptions: Exceptions
) -> None:
    """No feed, the resync an hour away: the operator still looks right after ``expires`` (its own clock), and
    Guardrails (the emulator, as time passes) has stopped applying the setting by then."""
    solo_ns = solo_policy("0")
    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=8)).strftime("%Y-%m-%dT%H:%M:%SZ")
    exceptions.create(solo_ns, "brief", expires=soon)
    exceptions.wait(solo_ns, "brief", "Ready", "True")
    assert control_state(emulator, "legacy") == "ok"
    obj = exceptions.wait(solo_ns, "brief", "Expired", "True")
    assert control_state(emulator, "legacy") == "alarm"
    assert obj["status"]["repositories"][0]["controlState"] == "alarm"
