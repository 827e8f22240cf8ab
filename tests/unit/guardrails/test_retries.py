"""Retries: transient only, bounded, Retry-After honoured, mutations retried only when provably not run."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from ecr_privacy_operator.guardrails import (
    ConfigurationError,
    GuardrailsClient,
    NotFoundError,
    PackInput,
    ProtocolError,
    RetryPolicy,
    TransientError,
    UnauthorizedError,
)
from ecr_privacy_operator.guardrails.retry import parse_retry_after

from .conftest import ACCESS, SECRET, FakeGraphQL, SleepRecorder, gql_error

ACCESS_B64 = base64.b64encode(f"{ACCESS}:{SECRET}".encode()).decode()

pytestmark = pytest.mark.unit

RESOURCE = {"data": {"resource": {"type": {"uri": "t"}, "turbot": {"id": "1", "akas": ["a"]}}}}
CREATED = {"data": {"smartFolder": {"turbot": {"id": "300000000000001", "akas": ["own"], "parentId": "1"}}}}


def connect_error(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("refused", request=request)


def read_timeout(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout("slow", request=request)


def too_many(retry_after: str | None = None, body: Any = None) -> httpx.Response:
    headers = {"Retry-After": retry_after} if retry_after else {}
    if body is None:
        return httpx.Response(429, headers=headers, text="<html>slow down</html>")
    return httpx.Response(429, headers=headers, json=body)


async def test_query_retries_then_succeeds(
    client: GuardrailsClient, fake: FakeGraphQL, sleeps: SleepRecorder, events: dict[str, list[Any]]
) -> None:
    fake.add("ReadResource", httpx.Response(503, text="busy"), connect_error, read_timeout, RESOURCE)
    assert (await client.read_resource("a")) is not None
    assert sleeps.delays == [0.5, 1.0, 2.0]
    assert events["retries"] == ["ReadResource"] * 3
    assert events["requests"] == [("ReadResource", "transient")] * 3 + [("ReadResource", "ok")]


async def test_retry_after_is_honoured(
    client: GuardrailsClient, fake: FakeGraphQL, sleeps: SleepRecorder
) -> None:
    fake.add("ReadResource", too_many("7"), RESOURCE)
    await client.read_resource("a")
    assert sleeps.delays == [7.0]


async def test_attempts_are_bounded(
    client: GuardrailsClient, fake: FakeGraphQL, sleeps: SleepRecorder
) -> None:
    fake.add("ReadResource", httpx.Response(502, text="bad gateway"))
    with pytest.raises(TransientError) as info:
        await client.read_resource("a")
    assert len(fake.requests) == 5
    assert info.value.status == 502
    assert info.value.operation == "ReadResource"


async def test_total_time_is_bounded(
    client: GuardrailsClient, fake: FakeGraphQL, sleeps: SleepRecorder
) -> None:
    fake.add("ReadResource", too_many("20"))
    with pytest.raises(TransientError):
        await client.read_resource("a")
    assert sleeps.delays == [20.0]  # a second 20 s wait would pass the 30 s budget
    assert len(fake.requests) == 2


async def test_non_transient_errors_are_not_retried(client: GuardrailsClient, fake: FakeGraphQL) -> None:
    fake.add("ReadPolicySetting", gql_error("Bad Request: nope"))
    with pytest.raises(Exception, match="Bad Request"):
        await client.read_setting("1")
    assert len(fake.requests) == 1


@pytest.mark.parametrize(
    "failure",
    [
        read_timeout,
        httpx.Response(502, text="bad gateway"),
        httpx.Response(504, text="gateway timeout"),
        httpx.Response(200, json={"data": {"smartFolder": None}, "errors": [{"message": "Try again later"}]}),
        httpx.Response(503, json={"data": None, "errors": [{"message": "Unavailable"}]}),
    ],
)
async def test_mutation_not_retried_after_ambiguous_failure(
    client: GuardrailsClient, fake: FakeGraphQL, failure: Any
) -> None:
    fake.add("CreateSmartFolder", failure, CREATED)
    with pytest.raises(TransientError):
        await client.create_pack(PackInput(title="t", akas=["own"]))
    assert len(fake.requests) == 1


@pytest.mark.parametrize(
    "failure",
    [
        connect_error,
        too_many(),
        too_many("1", {"errors": [{"message": "Too many requests."}]}),
        httpx.Response(503, text="<html>maintenance</html>"),
    ],
)
async def test_mutation_retried_when_provably_not_run(
    client: GuardrailsClient, fake: FakeGraphQL, failure: Any
) -> None:
    fake.add("CreateSmartFolder", failure, CREATED)
    pack = await client.create_pack(PackInput(title="t", akas=["own"]))
    assert pack.id == "300000000000001"
    assert len(fake.requests) == 2


async def test_transport_error_is_chained(client: GuardrailsClient, fake: FakeGraphQL) -> None:
    fake.add("CreateSmartFolder", read_timeout)
    with pytest.raises(TransientError) as info:
        await client.create_pack(PackInput(title="t"))
    assert isinstance(info.value.__cause__, httpx.ReadTimeout)
    assert info.value.status is None


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (httpx.Response(200, text="not json"), ProtocolError),
        (httpx.Response(200, json=[1, 2]), ProtocolError),
        (httpx.Response(200, json={"errors": "boom"}), ProtocolError),
        (httpx.Response(200, json={"data": None}), ProtocolError),
        (httpx.Response(404, text="<html>no such page</html>"), ProtocolError),
        (httpx.Response(401, json={"errors": [{"message": "Unauthorized"}]}), UnauthorizedError),
        (httpx.Response(401, text="nope"), UnauthorizedError),
        (httpx.Response(200, json={"data": {"resource": {"turbot": {"id": 5}}}}), ProtocolError),
    ],
)
async def test_protocol_and_auth_failures(
    client: GuardrailsClient, fake: FakeGraphQL, reply: Any, expected: Any
) -> None:
    fake.add("ReadResource", reply)
    with pytest.raises(expected):
        await client.read_resource("a")


async def test_http_404_is_never_not_found(client: GuardrailsClient, fake: FakeGraphQL) -> None:
    fake.add("DeleteSmartFolder", httpx.Response(404, text="wrong path"))
    with pytest.raises(ProtocolError):
        await client.delete_pack("1")
    fake.add("DeleteSmartFolder", gql_error("Not Found: Resource not found or not accessible"))
    fake.replies["DeleteSmartFolder"].pop(0)
    assert await client.delete_pack("1") is False
    assert not isinstance(ProtocolError("x"), NotFoundError)


async def test_envelope_and_no_secret_in_errors(client: GuardrailsClient, fake: FakeGraphQL) -> None:
    fake.add("ReadResource", httpx.Response(500, text="oops"))
    with pytest.raises(TransientError) as info:
        await client.read_resource("a")
    request = fake.requests[0]
    assert request.headers["Content-Type"] == "application/json; charset=utf-8"
    assert request.headers["Accept"] == "application/json; charset=utf-8"
    assert request.headers["Cache-Control"] == "no-cache"
    assert request.headers["Authorization"].startswith("Basic ")
    assert fake.bodies[0]["variables"] == {"id": "a"}
    for text in (str(info.value), repr(info.value), repr(client), str(info.value.__cause__)):
        assert SECRET not in text


async def test_no_variables_sends_null(client: GuardrailsClient, fake: FakeGraphQL) -> None:
    fake.add("ValidateCredentials", {"data": {"schema": {"queryType": {"name": "Query"}}}})
    await client.validate_credentials()
    assert fake.bodies[0]["variables"] is None


async def test_tls_failure_is_configuration_error(creds: Any) -> None:
    import ssl

    def fail(request: httpx.Request) -> httpx.Response:
        try:
            raise ssl.SSLCertVerificationError("certificate verify failed")
        except ssl.SSLError as exc:
            raise httpx.ConnectError("tls", request=request) from exc

    async with GuardrailsClient(creds, transport=httpx.MockTransport(fail)) as gc:
        with pytest.raises(ConfigurationError, match="TLS"):
            await gc.read_resource("a")


def test_parse_retry_after() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


def test_backoff_with_jitter_stays_in_range() -> None:
    policy = RetryPolicy(base_delay=0.5, jitter=0.5)
    for n in range(4):
        assert 0.5 * 2**n * 0.5 <= policy.backoff(n) <= 0.5 * 2**n


async def test_logs_never_hold_the_secret(
    client: GuardrailsClient, fake: FakeGraphQL, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    fake.add("ReadResource", httpx.Response(503, text="x"), RESOURCE)
    await client.read_resource("a")
    assert caplog.records
    assert all(SECRET not in r.getMessage() for r in caplog.records)
    assert ACCESS_B64 not in caplog.text
