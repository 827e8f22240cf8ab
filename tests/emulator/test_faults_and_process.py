"""Fault injection, persistence across restarts, TLS and the CLI, over real HTTP."""

from __future__ import annotations

import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.emulator.gql import (
    ACCOUNT,
    ATTACH,
    ATTACHED,
    attach,
    attached,
    control_states,
    create_pack,
    exists,
    repo,
    seed_pack,
)
from tests.fixtures.emulator import EmulatorProcess

pytestmark = pytest.mark.contract
PROBE = "{ schema: __schema { queryType { name } } }"


def test_429_with_retry_after_then_recovers(emulator: EmulatorProcess) -> None:
    emulator.set_faults(nextN=1, statuses=[429], retryAfter=2)
    response = emulator.graphql(PROBE)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "2"
    assert response.json() == {"errors": [{"message": "Too many requests."}]}
    assert emulator.graphql(PROBE).status_code == 200
    assert emulator.faults()["counts"]["status429"] == 1


def test_5xx_html_body_and_operation_targeting(emulator: EmulatorProcess) -> None:
    emulator.set_faults(nextN=1, statuses=[502], body="html", operations=["AttachSmartFolder"])
    assert emulator.graphql(PROBE).status_code == 200  # not targeted
    pack = create_pack(emulator)
    response = emulator.graphql(ATTACH, {"input": {"resource": ACCOUNT, "smartFolders": [pack]}})
    assert response.status_code == 502
    assert response.headers["Content-Type"].startswith("text/html")
    assert attached(emulator, ACCOUNT) == []


def test_dropped_connection(emulator: EmulatorProcess) -> None:
    emulator.set_faults(dropNext=1)
    with pytest.raises(httpx.TransportError):
        emulator.graphql(PROBE)
    assert emulator.graphql(PROBE).status_code == 200
    assert emulator.faults()["counts"]["dropped"] == 1


def test_latency(emulator: EmulatorProcess) -> None:
    emulator.set_faults(latencyMs=[150, 200])
    started = time.monotonic()
    assert emulator.graphql(PROBE).status_code == 200
    assert time.monotonic() - started >= 0.15


def test_lost_update_race_on_concurrent_attaches(emulator: EmulatorProcess) -> None:
    packs = [create_pack(emulator, [f"race-{i}"], f"R{i}") for i in range(6)]
    emulator.set_faults(race=True, raceWindowMs=300)

    def one(pack: str) -> int:
        with httpx.Client(base_url=emulator.url, timeout=30) as client:
            body = {"query": ATTACH, "variables": {"input": {"resource": ACCOUNT, "smartFolders": pack}}}
            response = client.post("/api/latest/graphql", json=body, auth=emulator_auth())
            assert "errors" not in response.json()
            return response.status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        assert list(pool.map(one, packs)) == [200] * 6
    assert 1 <= len(attached(emulator, ACCOUNT)) < 6
    emulator.clear_faults()
    attach(emulator, ACCOUNT, *packs)  # serialised writes lose nothing
    assert sorted(attached(emulator, ACCOUNT)) == sorted(packs)


def emulator_auth() -> tuple[str, str]:
    return ("emulator-access-key", "emulator-secret-key")


def test_attach_lag_shows_previous_list(emulator: EmulatorProcess) -> None:
    pack = create_pack(emulator)
    emulator.set_faults(attachLagMs=400)
    attach(emulator, ACCOUNT, pack)
    assert attached(emulator, ACCOUNT) == []
    time.sleep(0.5)
    assert (
        emulator.data(ATTACHED, {"id": ACCOUNT})["resource"]["attachedSmartFolders"]["items"][0]["turbot"][
            "id"
        ]
        == pack
    )


def test_async_evaluation_and_enforcement_failure(emulator: EmulatorProcess) -> None:
    emulator.set_faults(asyncEvaluation=True)
    pack = seed_pack(emulator)
    attach(emulator, ACCOUNT, pack)
    assert set(control_states(emulator).values()) == {"tbd"}
    emulator.set_faults(enforcementFailure=True)
    assert emulator.tick() > 0
    assert set(control_states(emulator).values()) == {"alarm"}
    enforce = seed_pack_enforce(emulator)
    attach(emulator, ACCOUNT, enforce)
    states = control_states(emulator)
    assert states == {"web": "error", "legacy": "alarm", "edge": "error"}
    assert exists(emulator, repo("web"))


def seed_pack_enforce(emulator: EmulatorProcess) -> str:
    pack = create_pack(emulator, ["enforce-pack"], "Enforce")
    from tests.emulator.gql import APPROVED, set_policy

    set_policy(emulator, pack, APPROVED, "Enforce: Delete unapproved if new")
    return pack


def test_state_file_survives_restart(
    emulator_factory: Callable[..., EmulatorProcess], tmp_path: Path
) -> None:
    emu = emulator_factory(state_file=tmp_path / "state.json")
    pack = create_pack(emu)
    attach(emu, ACCOUNT, pack)
    emu.advance_clock("1h")
    emu.restart()
    assert attached(emu, ACCOUNT) == [pack]
    assert exists(emu, "aws_ecr_enforce_private_repositories")
    assert create_pack(emu, ["next"]) > pack  # the id counter survived too


def test_tls_with_ca_file(emulator_factory: Callable[..., EmulatorProcess]) -> None:
    emu = emulator_factory(tls=True)
    assert emu.url.startswith("https://")
    assert emu.ca_path is not None
    context = ssl.create_default_context(cafile=str(emu.ca_path))
    assert httpx.get(f"{emu.url}/api/latest/turbot/health", verify=context).status_code == 200
    assert emu.data(PROBE) == {"schema": {"queryType": {"name": "Query"}}}


def test_help_documents_options() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "guardrails_emulator", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for option in ("--host", "--port", "--tls-ca-out", "--state-file", "--faults", "--read-only-access-key"):
        assert option in out


def test_requests_are_counted_by_operation(emulator: EmulatorProcess) -> None:
    emulator.requests(clear=True)
    emulator.graphql("query ProbeOne { schema: __schema { queryType { name } } }", operation_name="ProbeOne")
    emulator.graphql("query ProbeOne { schema: __schema { queryType { name } } }", operation_name="ProbeOne")
    emulator.graphql("{ schema: __schema { queryType { name } } }")
    emulator.graphql('{ policySetting(id: "1") { value } }')
    emulator.graphql("query Named { __typename }")  # named in the document only
    counts = emulator.requests()
    assert counts == {
        "total": 5,
        "byOperation": {"ProbeOne": 2, "__schema": 1, "policySetting": 1, "Named": 1},
        "maxInFlight": 1,  # one after the other
    }
    emulator.reset()
    assert emulator.requests()["total"] == 0


def test_log_requests_names_every_request_and_says_why_one_was_rejected(
    emulator_factory: Callable[..., EmulatorProcess],
) -> None:
    emu = emulator_factory(extra_args=["--log-requests"])
    emu.graphql("{ schema: __schema { queryType { name } } }")  # anonymous: named by its first field
    emu.http.post("/api/latest/graphql", content=b"not json")  # 400 before anything else
    emu.graphql("query Broken { resource(id: 1) { xyzzy } }")  # 400: the schema has no such field
    emu.graphql("query WrongKey { __typename }", auth=("emulator-access-key", "a-wrong-secret"))  # 401
    emu.graphql("query NoKey { __typename }", auth=None)  # 401
    emu.set_faults(nextN=1, statuses=[503])
    emu.graphql("query Unlucky { __typename }")
    deadline = time.monotonic() + 5
    while "op=Unlucky" not in emu.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    lines = [line.split("graphql ", 1)[1] for line in emu.log().splitlines() if " graphql op=" in line]
    assert [line.rsplit(" ", 1)[0] for line in lines] == [
        "op=__schema status=200 errors=0",
        "op=- status=400 rejected: Bad Request: the body must be JSON with a query string",
        "op=Broken status=400 rejected: Cannot query field 'xyzzy' on type 'Resource'.",
        "op=WrongKey status=401 rejected: Unauthorized: unknown key pair",
        "op=NoKey status=401 rejected: Unauthorized: no Basic Authorization header",
        "op=Unlucky status=503 rejected: fault: HTTP 503",
    ]
    assert "a-wrong-secret" not in emu.log()
