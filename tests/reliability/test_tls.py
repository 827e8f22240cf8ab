"""TLS: the operator verifies Guardrails' certificate by default. Pointed at the emulator over HTTPS with a
certificate from a private CA, it refuses to talk (Ready=False with a message naming TLS verification, Stalled,
no request ever reaches GraphQL) until it is given the CA with ``--ca-bundle`` or ``ECR_PRIVACY_CA_BUNDLE``."""

from __future__ import annotations

from collections.abc import Callable

from tests.fixtures.emulator import EmulatorProcess
from tests.fixtures.operator import OperatorIdentity, OperatorProcess
from tests.fixtures.policies import Guardrails, Policies, condition, condition_status


def test_tls_is_verified_by_default_and_a_custom_ca_is_trusted(
    operator_factory: Callable[..., OperatorProcess],
    emulator_factory: Callable[..., EmulatorProcess],
    operator_identity: OperatorIdentity,
    policies: Policies,
    solo_ns: str,
) -> None:
    emulator = emulator_factory(tls=True)
    assert emulator.url.startswith("https://")
    assert emulator.ca_path is not None
    operator_identity.emulator_credentials(solo_ns, emulator)
    operator = operator_factory(solo_ns)
    uid = policies.create(solo_ns, "pinned")["metadata"]["uid"]

    obj = policies.wait_condition(solo_ns, "pinned", "Ready", "False", timeout=30)
    ready = condition(obj, "Ready")
    assert ready is not None
    assert "TLS certificate verification failed" in ready["message"], ready
    assert condition_status(obj, "Stalled") == "True", obj["status"]["conditions"]
    assert Guardrails.of(emulator).pack(uid) is None
    assert emulator.requests()["total"] == 0, "a request got through without a verified certificate"
    operator.stop()

    operator_factory(solo_ns, extra_args=["--ca-bundle", str(emulator.ca_path)])
    policies.wait_ready(solo_ns, "pinned", timeout=30)
    assert Guardrails.of(emulator).pack(uid) is not None


def test_ca_bundle_from_the_environment(
    operator_factory: Callable[..., OperatorProcess],
    emulator_factory: Callable[..., EmulatorProcess],
    operator_identity: OperatorIdentity,
    policies: Policies,
    solo_ns: str,
) -> None:
    emulator = emulator_factory(tls=True)
    operator_identity.emulator_credentials(solo_ns, emulator)
    operator_factory(solo_ns, env={"ECR_PRIVACY_CA_BUNDLE": str(emulator.ca_path)})
    uid = policies.create(solo_ns, "trusted")["metadata"]["uid"]
    policies.wait_ready(solo_ns, "trusted", timeout=30)
    assert Guardrails.of(emulator).pack(uid) is not None
