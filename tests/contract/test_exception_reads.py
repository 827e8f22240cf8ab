"""The exceptions' reads against the emulator: one request for any number of repositories, a missing
repository or an unmaterialized value is ``None`` for that one only, and the exception setting shows as in
force while it is, and lapsed once Guardrails' clock passes its ``validToTimestamp``."""

from __future__ import annotations

import pytest

from ecr_privacy_operator.guardrails import GuardrailsClient, SettingInput
from ecr_privacy_operator.reconcile import exceptions
from tests.fixtures.emulator import ACCOUNT_AKA, EmulatorProcess

from .test_guardrails_client import APPROVED, CONTROL, USAGE

pytestmark = pytest.mark.contract


def repo(name: str) -> str:
    return f"arn:aws:ecr-public::123456789012:repository/{name}"


async def test_one_request_and_per_repository_answers(
    gclient: GuardrailsClient, emulator: EmulatorProcess
) -> None:
    refs = [repo("legacy"), repo("web"), repo("not-yet")]
    emulator.requests(clear=True)
    reads = await gclient.read_repositories(refs, [ACCOUNT_AKA], USAGE, CONTROL)
    assert emulator.requests()["total"] == 1
    assert reads.resources[repo("not-yet")] is None
    assert reads.resources[ACCOUNT_AKA] is not None
    legacy = reads.resources[repo("legacy")]
    assert legacy is not None
    assert legacy.id
    assert reads.settings.get(legacy.id) is None
    assert reads.values.get(legacy.id) is None  # no pack sets the primary policy: not materialized, alone
    assert {s.resource.id: s.counts.total for s in reads.summaries} == {
        legacy.id: 0,
        reads.resources[repo("web")].id: 0,
    }  # type: ignore[union-attr]


async def test_in_force_then_lapsed(gclient: GuardrailsClient, emulator: EmulatorProcess) -> None:
    await gclient.create_setting(ACCOUNT_AKA, APPROVED, SettingInput(value="Check: Approved"))
    await gclient.create_setting(ACCOUNT_AKA, USAGE, SettingInput(value="Not approved"))
    emulator.set_clock("2030-01-01T00:00:00.000Z")
    setting = await gclient.create_setting(
        repo("legacy"),
        USAGE,
        SettingInput(value="Approved", note="why", valid_to_timestamp="2030-01-02T00:00:00.000Z"),
    )
    (found,), _ = await exceptions.observe(gclient, [repo("legacy")])
    assert (found.setting and found.setting.id, found.in_force, found.lapsed, found.control_state) == (
        setting.id,
        True,
        False,
        "ok",
    )
    emulator.advance_clock("1d")
    (found,), _ = await exceptions.observe(gclient, [repo("legacy")])
    assert (found.in_force, found.lapsed, found.control_state) == (False, True, "alarm")
