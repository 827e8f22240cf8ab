"""Many objects, one target: attaches (detaches) that queue up for one target go out as one write and one
read-back (``reconcile.targets``), every object still gets its own verified answer, and a shared write that
fails is retried pack by pack so that only the object at fault sees the error. Against the emulator."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

import pytest

from ecr_privacy_operator.crd.spec import parse_spec
from ecr_privacy_operator.crd.status import EcrPrivacyPolicyStatus
from ecr_privacy_operator.guardrails import GuardrailsClient
from ecr_privacy_operator.guardrails.errors import GuardrailsError
from ecr_privacy_operator.reconcile import engine, pass_result
from ecr_privacy_operator.reconcile.targets import TargetLocks, Write
from tests.fixtures.emulator import ACCOUNT_AKA, EmulatorProcess
from tests.fixtures.ownership import claim
from tests.fixtures.polling import until

from .test_guardrails_client import SEED
from .test_round_trips import first_sync_requests, requests

pytestmark = pytest.mark.contract

T = TypeVar("T")


async def queued_behind_the_lock(
    locks: TargetLocks, calls: list[Callable[[], Awaitable[T]]], write: Write = "attach"
) -> list[T | BaseException]:
    """Run ``calls`` while the account's lock is held until all of them wait to write there; then let go."""
    async with locks(ACCOUNT_AKA):
        tasks = [asyncio.create_task(call()) for call in calls]
        await until(lambda: locks.waiting(ACCOUNT_AKA, write) == len(calls), what=f"{len(calls)} queued")
    return await asyncio.gather(*tasks, return_exceptions=True)


async def test_first_syncs_to_one_target_share_one_attach_and_one_read_back(
    gclient: GuardrailsClient, emulator: EmulatorProcess
) -> None:
    locks = TargetLocks()

    def first_sync(n: int) -> Callable[[], Awaitable[pass_result.PassResult]]:
        spec = parse_spec(
            {"policyPack": {"akas": [f"shared-{n}:ecr-private"]}, "attachments": [{"resource": ACCOUNT_AKA}]}
        )
        uid = f"0000000{n}-shared-target"
        return lambda: engine.sync(
            gclient, locks, spec, claim(uid), 1, EcrPrivacyPolicyStatus(), datetime.now(UTC)
        )

    requests(emulator)
    results = await queued_behind_the_lock(locks, [first_sync(n) for n in range(5)])
    assert requests(emulator) == first_sync_requests(objects=5)

    account = await gclient.read_resource(ACCOUNT_AKA)
    assert account is not None
    attached = {p.id for p in await gclient.list_attached_packs(ACCOUNT_AKA) or []}
    for result in results:
        assert isinstance(result, pass_result.PassResult)
        assert result.outcome.kind.value == "Succeeded", result.outcome
        assert result.status is not None
        assert result.status.policy_pack is not None
        assert result.status.policy_pack.id in attached
        assert [(a.resource, a.resource_id) for a in result.status.attachments] == [(ACCOUNT_AKA, account.id)]
        assert result.status.compliance is not None  # read with the shared read-back
        assert any(e.reason == "Attached" for e in result.events)
    assert len(attached) == 5


async def test_a_failed_shared_attach_is_retried_pack_by_pack(
    gclient: GuardrailsClient, emulator: EmulatorProcess
) -> None:
    locks = TargetLocks()
    good = await gclient.create_pack(SEED)
    gone = await gclient.create_pack(SEED.model_copy(update={"akas": ["deleted-meanwhile:ecr-private"]}))
    await gclient.delete_pack(gone.id)  # e.g. its object was deleted while it waited
    requests(emulator)

    ok, failed = await queued_behind_the_lock(
        locks,
        [
            lambda: locks.attach(gclient, ACCOUNT_AKA, good.id),
            lambda: locks.attach(gclient, ACCOUNT_AKA, gone.id),
        ],
    )
    # the shared attach is refused (one pack is not attachable); then each alone
    assert requests(emulator) == {"AttachSmartFolders": 3, "ReadAttachedPolicyPacks": 1}
    assert isinstance(failed, GuardrailsError)
    assert not isinstance(ok, BaseException)
    assert [p.id for p in ok.target.packs] == [good.id]
    assert [p.id for p in await gclient.list_attached_packs(ACCOUNT_AKA) or []] == [good.id]


async def test_detaches_from_one_target_share_one_detach_and_one_read_back(
    gclient: GuardrailsClient, emulator: EmulatorProcess
) -> None:
    locks = TargetLocks()
    packs = [
        await gclient.create_pack(SEED.model_copy(update={"akas": [f"leaving-{n}:ecr-private"]}))
        for n in range(4)
    ]
    staying = await gclient.create_pack(SEED.model_copy(update={"akas": ["staying:ecr-private"]}))
    await gclient.attach_and_verify(ACCOUNT_AKA, [p.id for p in [*packs, staying]])
    requests(emulator)

    def detach(pack_id: str) -> Callable[[], Awaitable[None]]:
        return lambda: locks.detach(gclient, ACCOUNT_AKA, pack_id)

    assert await queued_behind_the_lock(locks, [detach(p.id) for p in packs], "detach") == [None] * 4
    assert requests(emulator) == {"DetachSmartFolders": 1, "ReadAttachedPolicyPacks": 1}
    assert [p.id for p in await gclient.list_attached_packs(ACCOUNT_AKA) or []] == [staying.id]
