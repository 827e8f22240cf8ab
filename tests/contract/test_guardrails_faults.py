"""Contract tests: the client's retry rules against the emulator's injected faults (contract §2.6, §4.9)."""

from __future__ import annotations

from typing import Any

import pytest

from ecr_privacy_operator.guardrails import GuardrailsClient, PackInput, RetryPolicy, TransientError
from tests.fixtures.emulator import ACCOUNT_AKA, EmulatorProcess

from .conftest import FAST_RETRY, credentials

pytestmark = pytest.mark.contract

OWNER = "ecrprivacy.dev/owner/faults"


@pytest.mark.parametrize("status", [429, 502, 503, 504, 529])
@pytest.mark.parametrize("body", ["json", "html"])
async def test_query_retries_transient_statuses(
    gclient: GuardrailsClient, emulator: EmulatorProcess, calls: dict[str, list[Any]], status: int, body: str
) -> None:
    emulator.set_faults(nextN=2, statuses=[status], body=body, retryAfter=0.01, operations=["ReadResource"])
    assert await gclient.read_resource(ACCOUNT_AKA) is not None
    assert calls["retries"] == ["ReadResource", "ReadResource"]
    assert [o for _, o in calls["requests"]] == ["transient", "transient", "ok"]


async def test_retry_after_is_honoured(emulator: EmulatorProcess) -> None:
    delays: list[float] = []

    async def record(delay: float) -> None:
        delays.append(delay)

    policy = RetryPolicy(base_delay=0.001, jitter=0, sleep=record)
    async with GuardrailsClient(credentials(emulator), retry=policy) as client:
        emulator.set_faults(nextN=1, statuses=[429], retryAfter=2.5, operations=["ReadResource"])
        assert await client.read_resource(ACCOUNT_AKA) is not None
    assert delays == [2.5]


async def test_attempts_are_bounded(
    gclient: GuardrailsClient, emulator: EmulatorProcess, calls: dict[str, list[Any]]
) -> None:
    emulator.set_faults(nextN=50, statuses=[503], operations=["ReadResource"])
    with pytest.raises(TransientError) as info:
        await gclient.read_resource(ACCOUNT_AKA)
    assert info.value.status == 503
    assert len(calls["requests"]) == FAST_RETRY.max_attempts


async def test_dropped_connection_on_query_is_retried(
    gclient: GuardrailsClient, emulator: EmulatorProcess, calls: dict[str, list[Any]]
) -> None:
    emulator.set_faults(dropNext=1, operations=["ReadResource"])
    assert await gclient.read_resource(ACCOUNT_AKA) is not None
    assert calls["retries"] == ["ReadResource"]


@pytest.mark.parametrize("status", [429, 503])
async def test_mutation_retried_when_not_executed(
    gclient: GuardrailsClient, emulator: EmulatorProcess, calls: dict[str, list[Any]], status: int
) -> None:
    emulator.set_faults(nextN=1, statuses=[status], retryAfter=0.01, operations=["CreateSmartFolder"])
    pack = await gclient.create_pack(PackInput(title="t", akas=[OWNER]))
    assert calls["retries"] == ["CreateSmartFolder"]
    found = await gclient.find_pack(OWNER)
    assert found is not None
    assert found.id == pack.id


@pytest.mark.parametrize("status", [502, 504, 529])
async def test_mutation_not_retried_after_ambiguous_failure(
    gclient: GuardrailsClient, emulator: EmulatorProcess, calls: dict[str, list[Any]], status: int
) -> None:
    emulator.set_faults(nextN=1, statuses=[status], operations=["CreateSmartFolder"])
    with pytest.raises(TransientError) as info:
        await gclient.create_pack(PackInput(title="t", akas=[OWNER]))
    assert info.value.status == status
    assert info.value.operation == "CreateSmartFolder"
    assert calls["retries"] == []
    # The caller re-reads before writing again (here the fault hit before execution: nothing was created).
    assert await gclient.find_pack(OWNER) is None


async def test_dropped_connection_on_mutation_is_not_retried(
    gclient: GuardrailsClient, emulator: EmulatorProcess, calls: dict[str, list[Any]]
) -> None:
    emulator.set_faults(dropNext=1, operations=["CreateSmartFolder"])
    with pytest.raises(TransientError):
        await gclient.create_pack(PackInput(title="t", akas=[OWNER]))
    assert calls["retries"] == []
