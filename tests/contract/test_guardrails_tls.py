"""Contract tests: the client over HTTPS to the emulator, trusting its test CA explicitly (contract §2.7)."""

from __future__ import annotations

import ssl
from collections.abc import Callable

import pytest

from ecr_privacy_operator.guardrails import ConfigurationError, GuardrailsClient
from tests.fixtures.emulator import ACCOUNT_AKA, EmulatorProcess

from .conftest import FAST_RETRY, credentials

pytestmark = pytest.mark.contract


async def test_https_with_explicit_ca(emulator_factory: Callable[..., EmulatorProcess]) -> None:
    emulator = emulator_factory(tls=True)
    assert emulator.url.startswith("https://")
    assert emulator.ca_path is not None
    ca = str(emulator.ca_path)
    for verify in (ca, emulator.ca_path, ssl.create_default_context(cafile=ca)):
        async with GuardrailsClient(credentials(emulator), verify=verify, retry=FAST_RETRY) as client:
            assert client.endpoint.startswith("https://")
            await client.validate_credentials()
            assert await client.read_resource(ACCOUNT_AKA) is not None
    async with GuardrailsClient(credentials(emulator), retry=FAST_RETRY) as untrusting:
        with pytest.raises(ConfigurationError, match="TLS certificate verification failed"):
            await untrusting.validate_credentials()
    async with GuardrailsClient(credentials(emulator), verify=False, retry=FAST_RETRY) as insecure:
        await insecure.validate_credentials()
