"""The exceptions' reads against the emulator: one request for any number of repositories, a missing
repository or an unmaterialized value is ``None`` for that one only, and the exception setting shows as in
force while it is, and lapsed once Guardrails' clock passes its ``validToTimestamp``."""

from __future__ import annotations

import datetime as dt

import pytest

from ecr_privacy_operator.crd.conditions import Reason
from ecr_privacy_operator.crd.exception import parse_exception_spec
from ecr_privacy_operator.crd.spec import parse_spec
from ecr_privacy_operator.guardrails import GuardrailsClient, SettingInput
from ecr_privacy_operator.reconcile import exceptions
from ecr_privacy_operator.reconcile.exception_rules import ExceptionMarker
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


async def test_a_setting_the_exception_made_stays_its_own_when_a_console_edit_drops_the_marker(
    gclient: GuardrailsClient,
) -> None:
    """Ownership by the setting's id (remembered by the runtime), not only by the note's marker: a console edit
    of the note is drift to correct, with the correction's version id for the feed's echo log."""
    await gclient.create_setting(ACCOUNT_AKA, APPROVED, SettingInput(value="Check: Approved"))
    await gclient.create_setting(ACCOUNT_AKA, USAGE, SettingInput(value="Not approved"))
    policy = parse_spec(
        {
            "workspaceRef": {"name": "ws"},
            "policyPack": {"akas": ["contract:ecr-private"]},
            "attachments": [{"resource": ACCOUNT_AKA}],
        }
    )
    spec = parse_exception_spec(
        {
            "policyRef": {"name": "ecr-private"},
            "repositories": [repo("legacy")],
            "reason": "why",
            "expires": "2099-01-01T00:00:00Z",
        }
    )
    marker = ExceptionMarker("ns", "base-images", "uid-1")
    now = dt.datetime.now(dt.UTC)
    (first,) = await exceptions.check(gclient, [exceptions.Member(spec, marker)], policy, ("ws", None), now)
    (made,) = first.owned
    assert [(c.reason, c.guardrails_id, bool(c.version_id)) for c in first.changes] == [
        ("SettingCreated", made, True)
    ]
    edited = exceptions.desired_setting(spec, marker).model_copy(update={"note": "edited in the console"})
    await gclient.update_setting(made, edited)
    (foreign,) = await exceptions.check(gclient, [exceptions.Member(spec, marker)], policy, ("ws", None), now)
    assert foreign.refusal is not None
    assert foreign.refusal.reason == Reason.REPOSITORY_CONFLICT
    own = exceptions.Member(spec, marker, frozenset(first.owned))
    (kept,) = await exceptions.check(gclient, [own], policy, ("ws", None), now)
    assert (kept.refusal, [d.field for d in kept.corrected], kept.owned) == (None, ["note"], [made])
    assert [c.reason for c in kept.changes] == ["SettingUpdated"]
    assert await exceptions.remove(gclient, [repo("legacy")], marker, kept.owned) == 1
