"""The exceptions' repository read is one request for any number of repositories: each chunk of at most 50
names is one set of aliased views (resources, settings, values, control summaries) that name them in one filter
term, with every value in variables; the answers are mapped back to the names as given."""

from __future__ import annotations

import json
from typing import Any

import httpx

from ecr_privacy_operator.guardrails import GuardrailsClient
from ecr_privacy_operator.guardrails.repositories import CHUNK

from .conftest import FakeGraphQL

USAGE = "tmod:@turbot/aws-ecr#/policy/types/publicRepositoryApprovedUsage"
CONTROL = "tmod:@turbot/aws-ecr#/control/types/publicRepositoryApproved"
TARGET = "arn:aws:::123456789012"


def arn(i: int) -> str:
    return f"arn:aws:ecr-public::123456789012:repository/r{i}"


def rid(i: int) -> str:
    return str(500000000000000 + i)


def _answer(request: httpx.Request) -> httpx.Response:
    """Answer every alias from its filter: repositories r<i> exist for even i only; the target exists."""
    body = json.loads(request.content)
    data: dict[str, Any] = {}
    for key, flt in body["variables"].items():
        alias = key.split("_")[0]
        names = [n.strip("'") for n in flt[0].split("resource:")[1].split(" ")[0].split(",")]
        numbers = [int(n.rsplit("/r", 1)[1]) for n in names if "/r" in n]
        present = [i for i in numbers if i % 2 == 0]
        if alias.startswith("r"):
            items = [{"turbot": {"id": rid(i), "akas": [arn(i)], "path": f"1.2.{rid(i)}"}} for i in present]
            if TARGET in names:
                items.append({"turbot": {"id": "2", "akas": [TARGET], "path": "1.2"}})
        elif alias.startswith("s"):
            items = [
                {
                    "turbot": {"id": f"7{i}", "resourceId": rid(i)},
                    "value": "Approved",
                    "precedence": "REQUIRED",
                }
                for i in present
            ]
        elif alias.startswith("v"):
            items = [
                {"value": "Approved", "turbot": {"id": f"8{i}", "resourceId": rid(i)},
                 "setting": {"turbot": {"id": f"7{i}"}}}
                for i in present
            ]  # fmt: skip
        else:
            items = [
                {"resource": {"turbot": {"id": rid(i)}}, "summary": {"control": {"ok": 1}}} for i in present
            ]
        data[alias] = {"items": items}
    return httpx.Response(200, json={"data": data})


async def test_one_request_for_all_repositories(client: GuardrailsClient, fake: FakeGraphQL) -> None:
    fake.add("ReadExceptionChecks", _answer)
    refs = [arn(i) for i in range(10)]
    reads = await client.read_repositories(refs, [TARGET], USAGE, CONTROL)
    assert fake.operations() == ["ReadExceptionChecks"]
    assert {ref for ref, info in reads.resources.items() if info} == {arn(i) for i in range(0, 10, 2)} | {
        TARGET
    }
    assert set(reads.settings) == set(reads.values) == {rid(i) for i in range(0, 10, 2)}
    assert reads.values[rid(4)].setting_id == reads.settings[rid(4)].id  # type: ignore[union-attr]
    assert len(reads.summaries) == 5
    text = fake.bodies[0]["query"]
    assert text.count("policySettings(") == 1
    assert text.count("policyValues(") == 1
    assert "arn:aws" not in text  # names travel in variables only


async def test_more_than_fifty_names_are_split_into_views(
    client: GuardrailsClient, fake: FakeGraphQL
) -> None:
    fake.add("ReadExceptionChecks", _answer)
    refs = [arn(i) for i in range(2 * CHUNK + 1)]
    reads = await client.read_repositories(refs, [TARGET], USAGE, CONTROL)
    assert fake.operations() == ["ReadExceptionChecks"]  # still one request
    variables = fake.bodies[0]["variables"]
    for flt in variables.values():
        term = flt[0].split("resource:")[1].split(" ")[0]
        assert len(term.split(",")) <= CHUNK
    assert {k.split("_")[0] for k in variables} >= {"r0", "r1", "r2", "s0", "s1", "s2", "v2", "c2"}
    assert len(reads.settings) == CHUNK + 1  # the even ones of 0..100
    assert reads.resources[TARGET] is not None


async def test_nothing_to_read_sends_nothing(client: GuardrailsClient, fake: FakeGraphQL) -> None:
    reads = await client.read_repositories([], [], USAGE, CONTROL)
    assert fake.operations() == []
    assert not reads.resources
