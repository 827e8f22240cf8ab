"""The emulator re-evaluates, after a write, only the controls that write can change (those under the resource
written, or under the targets of the pack written): a write cost every control in the workspace, each walking
the packs attached above it, O(N) per write with 10,000 packs. The states are those of a full evaluation."""

from __future__ import annotations

from typing import Any

import pytest

from guardrails_emulator import policy
from guardrails_emulator.model import Actor, Key
from guardrails_emulator.server import Emulator
from tests.emulator.gql import APPROVED, ATTACH, CREATE_PACK, CREATE_SETTING, ROOT, UPDATE_SETTING, USAGE

ACCOUNTS = 5


def _account(i: int) -> str:
    return f"arn:aws:::{100000000000 + i}"


def _fixture() -> dict[str, Any]:
    repository = {"type": "publicRepository", "name": "r", "createdAt": "-2d"}
    region = {"type": "region", "name": "us-east-1", "children": [repository]}
    accounts = [
        {"type": "account", "accountId": str(100000000000 + i), "children": [region]} for i in range(ACCOUNTS)
    ]
    return {"resources": [{"type": "folder", "title": "Bench", "akas": ["bench"], "children": accounts}]}


class _Calls:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        original = policy.outcome_for

        def counted(*args: Any) -> Any:
            self.count += 1
            return original(*args)

        monkeypatch.setattr(policy, "outcome_for", counted)


async def test_a_write_re_evaluates_only_the_controls_it_can_change(monkeypatch: pytest.MonkeyPatch) -> None:
    emu = Emulator(keys=[Key("a", "b")], fixture=_fixture())
    actor = Actor("1", "a")

    async def run(document: str, variables: dict[str, Any]) -> dict[str, Any]:
        status, body = await emu.execute(document, variables, None, "admin", actor)
        assert (status, body.get("errors")) == (200, None)
        return dict(body["data"])

    packs = []
    for i in range(ACCOUNTS):
        made = await run(CREATE_PACK, {"input": {"title": f"p{i}", "parent": ROOT, "akas": [f"pack:{i}"]}})
        pack = made["smartFolder"]["turbot"]["id"]
        await run(CREATE_SETTING, {"input": {"resource": pack, "type": USAGE, "value": "Not approved"}})
        await run(ATTACH, {"input": {"resource": _account(i), "smartFolders": [pack]}})
        packs.append(pack)
    made = await run(
        CREATE_SETTING, {"input": {"resource": packs[0], "type": APPROVED, "value": "Check: Approved"}}
    )
    calls = _Calls(monkeypatch)
    await run(UPDATE_SETTING, {"input": {"id": made["policySetting"]["turbot"]["id"], "value": "Skip"}})
    assert calls.count == 1  # the one repository under account 0, not one per account
    states = {key: (c.state, c.reason) for key, c in emu.ws.controls.items()}
    assert sorted(state for state, _ in states.values()) == ["skipped"]
    assert policy.evaluate(emu.ws) == 0  # a full evaluation finds nothing left to change
    assert {key: (c.state, c.reason) for key, c in emu.ws.controls.items()} == states
