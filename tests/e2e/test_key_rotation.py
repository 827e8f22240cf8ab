"""A rotated key pair is used from the next write on: someone who rotates a leaked key and updates the Secret
expects no write to go out with the old keys any more, even within the operator's Secret cache time."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.controlplane.harness import free_port
from tests.fixtures.emulator import ADMIN_KEY, EmulatorProcess
from tests.fixtures.operator import OperatorIdentity, OperatorProcess
from tests.fixtures.policies import Policies

NEW_KEY = ("rotated-access-key", "rotated-secret-key")


def test_no_write_goes_out_with_the_old_keys_after_the_secret_changes(
    solo_ns: str,
    tmp_path: Path,
    emulator_factory: Callable[..., EmulatorProcess],
    operator_identity: OperatorIdentity,
    operator_factory: Callable[..., OperatorProcess],
    policies: Policies,
) -> None:
    port = free_port()  # the emulator comes back on the same address, with its state, and the new key
    emulator = emulator_factory(state_file=tmp_path / "workspace.json", extra_args=["--port", str(port)])
    operator_identity.emulator_credentials(solo_ns, emulator)
    operator_factory(solo_ns)
    policies.create(solo_ns, "p")
    policies.wait_ready(solo_ns, "p")  # the operator has just read (and cached) the old keys
    writes_before = len(emulator.activities())

    # the admin rotates: the new key pair may write; the old one may still read, but no longer write
    emulator.extra_args += ["--access-key", NEW_KEY[0], "--secret-key", NEW_KEY[1]]
    emulator.read_only_key = ADMIN_KEY
    emulator.restart()
    operator_identity.secret(solo_ns, "guardrails-credentials", access_key=NEW_KEY[0], secret_key=NEW_KEY[1])
    policies.patch_spec(solo_ns, "p", {"enforcement": "Enforce"})  # a write, within the Secret cache time
    policies.wait_ready(solo_ns, "p", timeout=30)

    reasons = policies.event_reasons(solo_ns, "p")
    assert "Forbidden" not in reasons, "a write went out with the old keys"
    writes = emulator.activities()[writes_before:]
    actors = {(a.get("actor") or {}).get("title") for a in writes if a.get("actor")}
    assert actors == {NEW_KEY[0]}, actors
