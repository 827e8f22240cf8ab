"""The check of all of a policy's exceptions against the emulator: one read for ten exceptions however many
repositories they name, their creates in one batched write and one read-back; the next (steady) check is one
request; two exceptions naming one repository conflict inside one check as they would in two."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from ecr_privacy_operator.crd.exception import parse_exception_spec
from ecr_privacy_operator.crd.spec import parse_spec
from ecr_privacy_operator.guardrails import GuardrailsClient, SettingInput
from ecr_privacy_operator.reconcile import exceptions
from ecr_privacy_operator.reconcile.exception_rules import ExceptionMarker
from tests.fixtures.emulator import ACCOUNT_AKA, EmulatorProcess

from .test_guardrails_client import APPROVED, USAGE

pytestmark = pytest.mark.contract

NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


def repo(name: str) -> str:
    return f"arn:aws:ecr-public::123456789012:repository/{name}"


def member(i: int, *refs: str) -> exceptions.Member:
    spec = parse_exception_spec(
        {
            "policyRef": {"name": "ecr-private"},
            "repositories": list(refs),
            "reason": f"reason {i}",
            "expires": "2027-03-01T00:00:00Z",
        }
    )
    return exceptions.Member(spec, ExceptionMarker("team-a", f"x{i}", f"uid-{i}"))


def policy() -> Any:
    return parse_spec(
        {
            "workspaceRef": {"name": "ws"},
            "attachments": [{"resource": ACCOUNT_AKA}],
        }
    )


async def test_ten_exceptions_one_read_one_write_one_read_back(
    gclient: GuardrailsClient, emulator: EmulatorProcess
) -> None:
    await gclient.create_setting(ACCOUNT_AKA, APPROVED, SettingInput(value="Check: Approved"))
    await gclient.create_setting(ACCOUNT_AKA, USAGE, SettingInput(value="Not approved"))
    for i in range(20):
        emulator.add_resource(ACCOUNT_AKA, f"many-{i}")
    members = [member(i, repo(f"many-{2 * i}"), repo(f"many-{2 * i + 1}")) for i in range(10)]
    emulator.requests(clear=True)
    outcomes = await exceptions.check(gclient, members, policy(), ("ws", None), NOW)
    counted = emulator.requests()
    assert counted["total"] == 3, counted  # the read, the batched creates, the read-back
    assert [o.refusal for o in outcomes] == [None] * 10
    assert all(len(o.created) == 2 and all(r.in_force for r in o.repositories) for o in outcomes)
    assert {r.control_state for o in outcomes for r in o.repositories} == {"ok"}
    emulator.requests(clear=True)
    again = await exceptions.check(gclient, members, policy(), ("ws", None), NOW)
    assert emulator.requests()["total"] == 1  # steady: one read for all ten
    assert all(not o.created and not o.corrected and not o.refusal for o in again)


async def test_two_exceptions_naming_one_repository_conflict_within_one_check(
    gclient: GuardrailsClient, emulator: EmulatorProcess
) -> None:
    await gclient.create_setting(ACCOUNT_AKA, APPROVED, SettingInput(value="Check: Approved"))
    emulator.add_resource(ACCOUNT_AKA, "shared")
    first, second = member(1, repo("shared")), member(2, repo("shared"))
    outcomes = await exceptions.check(gclient, [first, second], policy(), ("ws", None), NOW)
    assert outcomes[0].created == [repo("shared")]
    assert outcomes[1].refusal is not None
    assert outcomes[1].refusal.reason == "RepositoryConflict"
    assert outcomes[1].error is None
