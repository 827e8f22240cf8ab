"""``driftPolicy: Report`` is strict, through the engine against the emulator: console edits survive a spec edit
that does not touch them (a new generation), and a spec edit of one field writes that field alone, not the
other fields of the same setting."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ecr_privacy_operator.crd.spec import parse_spec
from ecr_privacy_operator.crd.status import EcrPrivacyPolicyStatus
from ecr_privacy_operator.guardrails import GuardrailsClient, SettingInput
from ecr_privacy_operator.reconcile import engine, pass_result
from ecr_privacy_operator.reconcile.targets import TargetLocks
from tests.fixtures.emulator import ACCOUNT_AKA, EmulatorProcess
from tests.fixtures.ownership import claim

from .test_guardrails_client import APPROVED, USAGE
from .test_round_trips import requests

pytestmark = pytest.mark.contract

BODY = {
    "policyPack": {"akas": ["report:ecr-private"]},
    "attachments": [{"resource": ACCOUNT_AKA}],
    "driftPolicy": "Report",
}


async def test_report_writes_only_what_the_spec_changed(
    gclient: GuardrailsClient, emulator: EmulatorProcess
) -> None:
    locks, me = TargetLocks(), claim("7a7a7a7a-report")

    async def sync(status: EcrPrivacyPolicyStatus, generation: int, **spec: object) -> pass_result.PassResult:
        body = parse_spec({**BODY, **spec})
        return await engine.sync(gclient, locks, body, me, generation, status, datetime.now(UTC))

    first = await sync(EcrPrivacyPolicyStatus(), 1)
    assert first.status is not None
    assert first.pack_id is not None
    settings = {s.type_uri: s for s in await gclient.list_settings(first.pack_id)}
    # the console: usage approved, the Approved setting made only recommended
    await gclient.update_setting(settings[USAGE].id, SettingInput(value="Approved", precedence=None))
    await gclient.update_setting(settings[APPROVED].id, SettingInput(precedence="RECOMMENDED"))
    edited = {(USAGE, "value"), (APPROVED, "precedence")}

    requests(emulator)
    unrelated = await sync(first.status, 2, resyncInterval="10m")
    assert requests(emulator) == {"ObservePolicy": 1}  # nothing written
    assert unrelated.status is not None
    reported = {
        (d.object.removeprefix("setting:"), d.field) for d in unrelated.status.drift if not d.corrected
    }
    assert reported == edited

    enforced = await sync(unrelated.status, 3, resyncInterval="10m", enforcement="Enforce")
    assert enforced.outcome.kind.value == "Succeeded", enforced.outcome
    now = {s.type_uri: s for s in await gclient.list_settings(first.pack_id)}
    assert now[APPROVED].value == "Enforce: Delete unapproved if new"
    assert now[APPROVED].precedence == "RECOMMENDED"  # the same setting's other field: left as edited
    assert now[USAGE].value == "Approved"
    assert enforced.status is not None
    reported = {
        (d.object.removeprefix("setting:"), d.field) for d in enforced.status.drift if not d.corrected
    }
    assert reported == edited
