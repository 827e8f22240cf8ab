"""Fixtures for the Guardrails client unit tests: a fake GraphQL server behind ``httpx.MockTransport``."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from ecr_privacy_operator.guardrails import Credentials, GuardrailsClient, RetryPolicy

SECRET = "s3cr3t-Value-that-must-never-leak"
ACCESS = "AKIDEXAMPLE"

Reply = httpx.Response | dict[str, Any] | Callable[[httpx.Request], httpx.Response]


class FakeGraphQL:
    """Answers by ``operationName`` from queued replies (the last one repeats) and records every request."""

    def __init__(self) -> None:
        self.replies: dict[str, list[Reply]] = defaultdict(list)
        self.requests: list[httpx.Request] = []
        self.bodies: list[dict[str, Any]] = []

    def add(self, operation: str, *replies: Reply) -> None:
        self.replies[operation].extend(replies)

    def operations(self) -> list[str]:
        return [b.get("operationName", "") for b in self.bodies]

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.method == "GET":
            operation = "Health"
            self.bodies.append({"operationName": operation})
        else:
            body = json.loads(request.content)
            self.bodies.append(body)
            operation = body.get("operationName", "")
        queue = self.replies.get(operation)
        if not queue:
            raise AssertionError(f"unexpected operation {operation}")
        reply = queue.pop(0) if len(queue) > 1 else queue[0]
        if callable(reply):
            return reply(request)
        if isinstance(reply, httpx.Response):
            return reply
        return httpx.Response(200, json=reply)


class SleepRecorder:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


@pytest.fixture
def creds() -> Credentials:
    from pydantic import SecretStr

    return Credentials(access_key=ACCESS, secret_key=SecretStr(SECRET), workspace="http://guardrails.test")


@pytest.fixture
def fake() -> FakeGraphQL:
    return FakeGraphQL()


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
def events() -> dict[str, list[Any]]:
    return {"requests": [], "retries": []}


@pytest.fixture
async def client(
    creds: Credentials, fake: FakeGraphQL, sleeps: SleepRecorder, events: dict[str, list[Any]]
) -> Any:
    retry = RetryPolicy(max_attempts=5, base_delay=0.5, max_delay=8, max_elapsed=30, jitter=0, sleep=sleeps)
    async with GuardrailsClient(
        creds,
        retry=retry,
        transport=httpx.MockTransport(fake.handler),
        on_request=lambda op, outcome, seconds: events["requests"].append((op, outcome)),
        on_retry=lambda op: events["retries"].append(op),
    ) as gc:
        yield gc


def gql_error(message: str, path: list[str] | None = None, status: int = 200) -> httpx.Response:
    error: dict[str, Any] = {"message": message}
    if path:
        error["path"] = path
    return httpx.Response(status, json={"data": None, "errors": [error]})
