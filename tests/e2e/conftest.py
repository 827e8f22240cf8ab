"""Helpers of the e2e tier: namespaces for the shared and dedicated operators, EcrPrivacyPolicy objects
through the admin API client, and read-only views of the emulator's state.

- ``e2e_ns``: a fresh ``e2e-<hex>`` namespace served by the shared ``operator``, holding a credentials Secret
  (the shared emulator, admin key) that the operator may read.
- ``solo_ns``: a fresh ``solo-<hex>`` namespace that only a dedicated ``operator_factory`` process serves
  (no Secret: the test decides where it points).
- ``policies``: ``Policies`` — create/patch/delete objects in any namespace, read status/conditions/Events,
  wait on them. Every object it created is deleted after the test (through the operator while it runs,
  finalizer stripped as a last resort), so the shared operator does not keep serving old objects.
- ``Guardrails(emulator.state())``: packs by ownership AKA, their settings and attachments.

Pack AKAs are unique per workspace, so ``policy_body`` derives them from namespace and name.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from kubernetes import client as k8s
from tests.fixtures.emulator import ACCOUNT_AKA, EmulatorProcess
from tests.fixtures.kube import GROUP, PLURAL, VERSION, wait_for
from tests.fixtures.operator import OperatorIdentity, OperatorProcess

OWNER_PREFIX = "ecrprivacy.dev/owner/"
FINALIZER = "ecrprivacy.dev/finalizer"
T_PACK = "tmod:@turbot/turbot#/resource/types/smartFolder"
T_REPO = "tmod:@turbot/aws-ecr#/resource/types/publicRepository"
P_APPROVED = "tmod:@turbot/aws-ecr#/policy/types/publicRepositoryApproved"
P_USAGE = "tmod:@turbot/aws-ecr#/policy/types/publicRepositoryApprovedUsage"
P_ECR_ENABLED = "tmod:@turbot/aws-ecr#/policy/types/ecrEnabled"
C_APPROVED = "tmod:@turbot/aws-ecr#/control/types/publicRepositoryApproved"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/e2e/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.e2e)


# ---- objects ------------------------------------------------------------------------------------------
def policy_body(namespace: str, name: str, **spec: Any) -> dict[str, Any]:
    """An EcrPrivacyPolicy attached to the emulator's account, with AKAs unique to namespace/name."""
    full: dict[str, Any] = {
        "workspace": {"credentialsSecretRef": {"name": "guardrails-credentials"}},
        "policyPack": {"akas": [f"e2e:{namespace}:{name}"]},
        "attachments": [{"resource": ACCOUNT_AKA}],
        **spec,
    }
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "EcrPrivacyPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": full,
    }


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any] | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == type_:
            return dict(cond)
    return None


def condition_status(obj: dict[str, Any], type_: str) -> str | None:
    cond = condition(obj, type_)
    return None if cond is None else str(cond.get("status"))


@dataclass
class Policies:
    """EcrPrivacyPolicy objects through the admin client; remembers what it created for the cleanup."""

    api: k8s.ApiClient
    created: list[tuple[str, str]] = field(default_factory=list)

    @property
    def objects(self) -> k8s.CustomObjectsApi:
        return k8s.CustomObjectsApi(self.api)

    def create(self, namespace: str, name: str, **spec: Any) -> dict[str, Any]:
        body = policy_body(namespace, name, **spec)
        result: dict[str, Any] = self.objects.create_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, body
        )
        self.created.append((namespace, name))
        return result

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            result: dict[str, Any] = self.objects.get_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, name
            )
        except k8s.ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return result

    def must_get(self, namespace: str, name: str) -> dict[str, Any]:
        obj = self.get(namespace, name)
        assert obj is not None, f"{namespace}/{name} does not exist"
        return obj

    def patch_spec(self, namespace: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self.objects.patch_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, name, {"spec": spec}
        )
        return result

    def delete(self, namespace: str, name: str) -> None:
        try:
            self.objects.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
        except k8s.ApiException as exc:
            if exc.status != 404:
                raise

    def wait_condition(
        self,
        namespace: str,
        name: str,
        type_: str,
        status: str,
        reason: str | None = None,
        timeout: float = 30,
    ) -> dict[str, Any]:
        """Wait until ``type_`` has ``status`` (and ``reason``) for the current generation; return the object."""

        def check() -> dict[str, Any] | None:
            obj = self.must_get(namespace, name)
            cond = condition(obj, type_)
            if cond is None or cond.get("status") != status or (reason and cond.get("reason") != reason):
                return None
            if cond.get("observedGeneration") != obj["metadata"].get("generation"):
                return None
            return obj

        result: dict[str, Any] = wait_for(
            check, timeout=timeout, what=f"{namespace}/{name} {type_}={status} {reason or ''}"
        )
        return result

    def wait_ready(self, namespace: str, name: str, timeout: float = 30) -> dict[str, Any]:
        return self.wait_condition(namespace, name, "Ready", "True", timeout=timeout)

    def wait_gone(self, namespace: str, name: str, timeout: float = 30) -> None:
        wait_for(lambda: self.get(namespace, name) is None, timeout=timeout, what=f"{namespace}/{name} gone")

    def events(self, namespace: str, name: str) -> list[k8s.CoreV1Event]:
        items: list[k8s.CoreV1Event] = (
            k8s.CoreV1Api(self.api)
            .list_namespaced_event(namespace, field_selector=f"involvedObject.name={name}")
            .items
        )
        return items

    def event_reasons(self, namespace: str, name: str, type_: str | None = None) -> set[str]:
        return {str(e.reason) for e in self.events(namespace, name) if type_ is None or e.type == type_}

    def cleanup(self, timeout: float = 15) -> None:
        """Delete every object created here; after ``timeout`` seconds in all, strip the finalizer of those the
        operator could not finish (e.g. an object whose credentials never existed)."""
        for namespace, name in self.created:
            self.delete(namespace, name)
        deadline = time.monotonic() + timeout
        pending = list(self.created)
        while pending and time.monotonic() < deadline:
            pending = [(ns, name) for ns, name in pending if self.get(ns, name) is not None]
            time.sleep(0.2)
        for namespace, name in pending:
            with contextlib.suppress(k8s.ApiException):
                self.objects.patch_namespaced_custom_object(
                    GROUP, VERSION, namespace, PLURAL, name, {"metadata": {"finalizers": None}}
                )
        self.created.clear()


def _namespace(api: k8s.ApiClient, prefix: str) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:10]}"
    k8s.CoreV1Api(api).create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name)))
    return name


@pytest.fixture
def e2e_ns(
    api_client: k8s.ApiClient,
    operator_identity: OperatorIdentity,
    emulator: EmulatorProcess,
    operator: OperatorProcess,
) -> str:
    """A namespace served by the shared operator, with a credentials Secret for the shared emulator."""
    name = _namespace(api_client, "e2e")
    operator_identity.emulator_credentials(name, emulator)
    return name


@pytest.fixture
def solo_ns(api_client: k8s.ApiClient) -> str:
    """A namespace no shared operator serves (for ``operator_factory``)."""
    return _namespace(api_client, "solo")


@pytest.fixture
def policies(
    api_client: k8s.ApiClient,
    crd: dict[str, Any],
    operator_factory: Callable[..., OperatorProcess],
    emulator_factory: Callable[..., EmulatorProcess],
) -> Iterator[Policies]:
    """Objects of one test; deleted afterwards, before dedicated operators and emulators stop (it depends on
    their factories so that pytest tears it down first)."""
    helper = Policies(api_client)
    yield helper
    helper.cleanup()


# ---- Guardrails (emulator) state -------------------------------------------------------------------------
@dataclass
class Guardrails:
    """A snapshot of the emulator's state with the questions the e2e tests ask of it."""

    state: dict[str, Any]

    @classmethod
    def of(cls, emulator: EmulatorProcess) -> Guardrails:
        return cls(emulator.state())

    @property
    def resources(self) -> list[dict[str, Any]]:
        return list(self.state["resources"])

    def resource(self, ref: str) -> dict[str, Any] | None:
        for res in self.resources:
            if res["id"] == ref or ref in (res.get("akas") or []):
                return res
        return None

    def resource_id(self, ref: str) -> str:
        res = self.resource(ref)
        assert res is not None, f"no resource {ref}"
        return str(res["id"])

    def packs_owned(self, uid: str) -> list[dict[str, Any]]:
        aka = OWNER_PREFIX + uid
        return [r for r in self.resources if r["type_uri"] == T_PACK and aka in (r.get("akas") or [])]

    def pack(self, uid: str) -> dict[str, Any] | None:
        packs = self.packs_owned(uid)
        assert len(packs) <= 1, f"more than one pack owned by {uid}: {packs}"
        return packs[0] if packs else None

    def settings(self, pack_id: str) -> dict[str, dict[str, Any]]:
        """The pack's settings by policy type."""
        return {s["type_uri"]: s for s in self.state["settings"] if s["resource_id"] == pack_id}

    def attached_to(self, pack_id: str) -> list[str]:
        """Ids of the resources the pack is attached to."""
        return [target for target, packs in self.state["attachments"].items() if pack_id in packs]

    def repositories(self) -> list[dict[str, Any]]:
        return [r for r in self.resources if r["type_uri"] == T_REPO]

    def control_states(self) -> dict[str, str]:
        """Approved control state per repository id."""
        return {c["resource_id"]: c["state"] for c in self.state["controls"] if c["type_uri"] == C_APPROVED}
