"""A console edit of an exception's setting found through the activity feed, from the user's side.

A dedicated operator follows the feed every second and checks its exceptions only every hour
(ECR_PRIVACY_EXCEPTION_RESYNC), so nothing but the feed can find an edit within 15 s. An edit of the setting's
note changes no control's state: only the view of the exceptions' settings (their repositories, from the
exception's status) shows it. Under the policy's ``driftPolicy: Correct`` it is put back, and the correction's
own activity is an echo that causes nothing; under ``Report`` it is reported (DriftDetected)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from tests.e2e.test_exceptions import Exceptions, control_state, exceptions, usage_settings
from tests.fixtures.emulator import EmulatorProcess
from tests.fixtures.kube import wait_for
from tests.fixtures.policies import Policies

pytestmark = pytest.mark.e2e
__all__ = ["exceptions"]  # the fixture, shared with test_exceptions.py

UPDATE = (
    "mutation U($input: UpdatePolicySettingInput!) { updatePolicySetting(input: $input) { turbot { id } } }"
)
DELETE = (
    "mutation D($input: DeletePolicySettingInput!) { deletePolicySetting(input: $input) { turbot { id } } }"
)
HANDLED = "ecrprivacy_feed_activities_total"


@pytest.fixture
def hour_resync(
    solo_ns: str,
    emulator: EmulatorProcess,
    policies: Policies,
    operator_factory: Callable[..., Any],
    operator_identity: Any,
) -> Callable[..., Any]:
    """``hour_resync(**policy_spec)``: a dedicated operator (feed every second, exception checks every hour)
    and a Ready policy ``ecr-private`` in ``solo_ns``; returns the operator."""

    def start(**spec: Any) -> Any:
        operator_identity.emulator_credentials(solo_ns, emulator)
        env = {"ECR_PRIVACY_FEED_INTERVAL": "1", "ECR_PRIVACY_EXCEPTION_RESYNC": "3600"}
        operator = operator_factory(solo_ns, env=env)
        policies.create(solo_ns, "ecr-private", resyncInterval="1h", **spec)
        policies.wait_ready(solo_ns, "ecr-private")
        return operator

    return start


def _granted(exceptions: Exceptions, namespace: str, emulator: EmulatorProcess) -> dict[str, Any]:
    exceptions.create(namespace, "base-images")
    exceptions.wait(namespace, "base-images", "Ready", "True")
    time.sleep(3)  # the feed has read back the creation's own writes and the control's change
    (setting,) = usage_settings(emulator, "legacy")
    return setting


def test_a_console_edit_of_the_note_and_a_deletion_are_corrected_through_the_feed(
    hour_resync: Callable[..., Any], solo_ns: str, emulator: EmulatorProcess, exceptions: Exceptions
) -> None:
    operator = hour_resync()
    setting = _granted(exceptions, solo_ns, emulator)
    routed = operator.metric(HANDLED, handling="exception")
    emulator.console(UPDATE, {"input": {"id": setting["id"], "note": "approved by the console"}})
    assert control_state(emulator, "legacy") == "ok"  # no control changes: only the setting's view shows it
    wait_for(
        lambda: usage_settings(emulator, "legacy")[0]["note"] == setting["note"],
        timeout=15,
        what="the note put back",
    )
    time.sleep(3)  # the correction's activity has been read: an echo, no further check
    assert operator.metric(HANDLED, handling="exception") == routed + 1
    assert operator.metric(HANDLED, handling="echo") >= 1
    (same,) = usage_settings(emulator, "legacy")
    assert same["id"] == setting["id"]

    emulator.console(DELETE, {"input": {"id": setting["id"]}})
    wait_for(lambda: len(usage_settings(emulator, "legacy")) == 1, timeout=15, what="the deletion corrected")
    # the control's return to alarm checks the exception too; the deletion itself was routed to it
    wait_for(
        lambda: operator.metric(HANDLED, handling="exception") >= routed + 2,
        timeout=15,
        what="the deletion routed to the exception",
    )
    (again,) = usage_settings(emulator, "legacy")
    assert (again["id"] != setting["id"], again["note"]) == (True, setting["note"])
    wait_for(lambda: control_state(emulator, "legacy") == "ok", timeout=15, what="legacy ok again")


def test_under_report_a_console_edit_of_the_note_is_reported_through_the_feed(
    hour_resync: Callable[..., Any],
    solo_ns: str,
    emulator: EmulatorProcess,
    policies: Policies,
    exceptions: Exceptions,
) -> None:
    hour_resync(driftPolicy="Report")
    setting = _granted(exceptions, solo_ns, emulator)
    emulator.console(UPDATE, {"input": {"id": setting["id"], "note": "approved by the console"}})
    started = time.monotonic()
    obj = exceptions.wait(solo_ns, "base-images", "Ready", "False", reason="DriftDetected")
    assert time.monotonic() - started < 15
    assert "1 exception setting field(s)" in next(
        c["message"] for c in obj["status"]["conditions"] if c["type"] == "Ready"
    )
    (kept,) = usage_settings(emulator, "legacy")
    assert kept["note"] == "approved by the console"  # reported, not corrected
