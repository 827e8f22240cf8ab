"""Fixtures for the client's contract tests: a GuardrailsClient bound to the (reset) emulator.

The ``emulator`` fixture comes from ``tests.fixtures.emulator`` (registered in ``tests/conftest.py``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import SecretStr

from ecr_privacy_operator.guardrails import Credentials, GuardrailsClient, RetryPolicy
from tests.fixtures.emulator import ADMIN_KEY, EmulatorProcess

FAST_RETRY = RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.05, max_elapsed=5.0, jitter=0.5)


def credentials(emulator: EmulatorProcess, key: tuple[str, str] = ADMIN_KEY) -> Credentials:
    return Credentials(access_key=key[0], secret_key=SecretStr(key[1]), workspace=emulator.url)


@pytest.fixture
def calls() -> dict[str, list[Any]]:
    """What the client's hooks saw: ``requests`` (operation, outcome) and ``retries`` (operation)."""
    return {"requests": [], "retries": []}


@pytest.fixture
async def gclient(emulator: EmulatorProcess, calls: dict[str, list[Any]]) -> AsyncIterator[GuardrailsClient]:
    async with GuardrailsClient(
        credentials(emulator),
        retry=FAST_RETRY,
        timeout=15.0,
        on_request=lambda op, outcome, seconds: calls["requests"].append((op, outcome)),
        on_retry=lambda op: calls["retries"].append(op),
    ) as client:
        yield client
