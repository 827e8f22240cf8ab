"""``writes_checked``: the runtime's check that the keys are still the Secret's runs before the first write of a
pass, once, and never for reads (an idle pass makes no Kubernetes request); what it raises stops the write."""

from __future__ import annotations

import pytest

from ecr_privacy_operator.guardrails import GuardrailsClient
from ecr_privacy_operator.reconcile.clients import CredentialsRotatedError, writes_checked

from .conftest import FakeGraphQL

pytestmark = pytest.mark.unit
PACK_ID = "123"
DELETED = {"data": {"smartFolder": {"turbot": {"id": PACK_ID}}}}


async def test_the_check_runs_once_before_the_first_write_and_never_for_reads(
    client: GuardrailsClient, fake: FakeGraphQL
) -> None:
    fake.add("ReadResource", {"data": {"resource": None}})
    fake.add("DeleteSmartFolder", DELETED)
    checks: list[int] = []

    async def check() -> None:
        checks.append(len(fake.bodies))  # how many requests had gone out when it ran

    with writes_checked(check):
        await client.read_resource("x")
        assert checks == [], "a read made the check"
        await client.delete_pack(PACK_ID)
        await client.delete_pack(PACK_ID)
    assert checks == [1], "once, before the first write"
    await client.delete_pack(PACK_ID)  # outside: no check
    assert checks == [1]


async def test_a_failed_check_stops_the_write(client: GuardrailsClient, fake: FakeGraphQL) -> None:
    fake.add("DeleteSmartFolder", DELETED)

    async def rotated() -> None:
        raise CredentialsRotatedError("other keys")

    with writes_checked(rotated), pytest.raises(CredentialsRotatedError):
        await client.delete_pack(PACK_ID)
    assert fake.bodies == [], "the write went out"
