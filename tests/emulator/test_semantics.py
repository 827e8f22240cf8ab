"""Emulator semantics over real HTTP: auth, packs, settings, attachments, resolution, the Approved control."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.emulator.gql import (
    ACCOUNT,
    APPROVED,
    ATTACH,
    CREATE_PACK,
    CREATE_SETTING,
    DELETE_PACK,
    DELETE_SETTING,
    DETACH,
    PACK_AKA,
    POLICY_VALUE,
    PUT,
    REGION,
    ROOT,
    SUMMARY,
    UPDATE_SETTING,
    USAGE,
    attach,
    attached,
    control_states,
    create_pack,
    errors,
    exists,
    repo,
    seed_pack,
    set_policy,
)
from tests.fixtures.emulator import READ_ONLY_KEY, EmulatorProcess

pytestmark = pytest.mark.contract
PROBE = "{ schema: __schema { queryType { name } } }"


def test_health_and_auth(emulator: EmulatorProcess) -> None:
    health = emulator.http.get("/api/latest/turbot/health")
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    for auth in (None, ("emulator-access-key", "wrong")):
        response = emulator.graphql(PROBE, auth=auth)
        assert response.status_code == 401
        assert response.json() == {"errors": [{"message": "Unauthorized"}]}
    assert emulator.data(PROBE, path="/api/v5/graphql") == {"schema": {"queryType": {"name": "Query"}}}


def test_read_only_key_cannot_write(emulator: EmulatorProcess) -> None:
    assert emulator.data(PROBE, auth=READ_ONLY_KEY)
    response = emulator.graphql(CREATE_PACK, {"input": {"title": "x", "parent": ROOT}}, auth=READ_ONLY_KEY)
    assert response.status_code == 200
    assert errors(response) == ["Forbidden: Insufficient permissions"]
    assert response.json()["data"] == {"smartFolder": None}


def test_invalid_document_is_400(emulator: EmulatorProcess) -> None:
    assert emulator.graphql("{ nope }").status_code == 400
    assert emulator.graphql("{ resource(id: ").status_code == 400
    update_parent = 'mutation { updateSmartFolder(input: {id: "1", parent: "x"}) { title } }'
    assert emulator.graphql(update_parent).status_code == 400


def test_pack_crud_and_aka_conflict(emulator: EmulatorProcess) -> None:
    pack = create_pack(emulator)
    again = emulator.graphql(CREATE_PACK, {"input": {"title": "B", "parent": ROOT, "akas": [PACK_AKA]}})
    assert errors(again) == ["Conflict. A matching item already exists."]
    taken = emulator.graphql(CREATE_PACK, {"input": {"title": "B", "parent": ROOT, "akas": [ACCOUNT]}})
    assert errors(taken) == ["Conflict. A matching item already exists."]
    digits = emulator.graphql(CREATE_PACK, {"input": {"title": "B", "parent": ROOT, "akas": ["123"]}})
    assert errors(digits)[0].startswith("Bad Request: ")
    missing = emulator.graphql(CREATE_PACK, {"input": {"title": "B", "parent": "nope"}})
    assert errors(missing) == ["Not Found: Resource not found or not accessible"]
    update = "mutation U($input: UpdateSmartFolderInput!) { updateSmartFolder(input: $input) { title } }"
    emulator.data(update, {"input": {"id": pack, "description": "d", "akas": ["other"], "tags": {"a": "b"}}})
    read = emulator.data(
        '{ p: resource(id: "other") { description: get(path: "description") '
        'tags: get(path: "turbot.tags") } }'
    )
    assert read["p"] == {"description": "d", "tags": {"a": "b"}}
    assert exists(emulator, PACK_AKA) is False
    assert emulator.data(DELETE_PACK, {"id": pack})["smartFolder"]["turbot"]["id"] == pack
    assert exists(emulator, pack) is False


def test_settings_validation_and_value_source_fallback(emulator: EmulatorProcess) -> None:
    pack = create_pack(emulator)
    bad = emulator.graphql(CREATE_SETTING, {"input": {"resource": pack, "type": APPROVED, "value": "Nope"}})
    assert errors(bad) == [
        f'Bad Request: Data validation failed: "Nope" is not an allowed value for {APPROVED}'
    ]
    setting = set_policy(emulator, pack, APPROVED, "Check: Approved")
    dup = emulator.graphql(CREATE_SETTING, {"input": {"resource": pack, "type": APPROVED, "value": "Skip"}})
    assert errors(dup) == ["Conflict. A matching item already exists."]
    # the valueSource path (the provider's fallback): YAML text, validated, kept verbatim
    source = "'Enforce: Delete unapproved if new'  # console edit\n"
    fallback = emulator.data(UPDATE_SETTING, {"input": {"id": setting, "valueSource": source}})[
        "policySetting"
    ]
    assert fallback["value"] == "Enforce: Delete unapproved if new"
    assert fallback["valueSource"] == source
    both = emulator.graphql(
        UPDATE_SETTING, {"input": {"id": setting, "value": "Skip", "valueSource": "Skip"}}
    )
    assert errors(both)[0].startswith("Bad Request: ")
    assert (
        emulator.data(DELETE_SETTING, {"input": {"id": setting}})["policySetting"]["turbot"]["id"] == setting
    )
    gone = emulator.graphql("query R($id: ID!) { policySetting(id: $id) { value } }", {"id": setting})
    assert errors(gone) == ["Not Found: Policy setting not found or not accessible"]


def test_attachments_order_idempotency_and_delete_conflict(emulator: EmulatorProcess) -> None:
    a, b, c = (create_pack(emulator, [f"p{i}"], f"P{i}") for i in range(3))
    attach(emulator, ACCOUNT, a, b)
    attach(emulator, ACCOUNT, b, c, a)
    assert attached(emulator, ACCOUNT) == [a, b, c]
    emulator.data(DETACH, {"input": {"resource": ACCOUNT, "smartFolders": [b, "99999"]}})
    assert attached(emulator, ACCOUNT) == [a, c]
    emulator.data(PUT, {"input": {"resource": ACCOUNT, "smartFolders": [c, a]}})
    assert attached(emulator, ACCOUNT) == [c, a]
    conflict = emulator.graphql(DELETE_PACK, {"id": a})
    assert errors(conflict) == [
        "Conflict: Policy pack is attached to 1 resource(s); detach it before deleting"
    ]
    aka = emulator.graphql(ATTACH, {"input": {"resource": ACCOUNT, "smartFolders": ["p1"]}})
    assert errors(aka) == ["Bad Request: smart folder ids not eligible for attachment"]
    on_pack = emulator.graphql(ATTACH, {"input": {"resource": a, "smartFolders": [b]}})
    assert errors(on_pack)[0].startswith("Bad Request: ")
    no_target = emulator.graphql(ATTACH, {"input": {"resource": "nope", "smartFolders": [b]}})
    assert errors(no_target) == ["Not Found: Resource not found or not accessible"]
    assert emulator.data(
        "query R($id: ID!) { resource(id: $id, options: {notFound: RETURN_NULL}) { turbot { id } } }",
        {"id": "nope"},
    ) == {"resource": None}


def test_policy_value_resolution_through_attached_pack(emulator: EmulatorProcess) -> None:
    web = repo("web")
    absent = emulator.graphql(POLICY_VALUE, {"uri": APPROVED, "resourceId": web})
    assert errors(absent) == ["Not Found: Policy value not found or not accessible"]
    pack = seed_pack(emulator)
    attach(emulator, ACCOUNT, pack)
    value = emulator.data(POLICY_VALUE, {"uri": APPROVED, "resourceId": web})["policyValue"]
    assert value["value"] == "Check: Approved"
    assert value["default"] is False
    assert value["setting"]["turbot"]["resourceId"] == pack
    # a setting made directly on the account beats the pack attached to it (equal precedence)
    set_policy(emulator, ACCOUNT, APPROVED, "Skip")
    assert emulator.data(POLICY_VALUE, {"uri": APPROVED, "resourceId": web})["policyValue"]["value"] == "Skip"
    version = emulator.data(
        POLICY_VALUE, {"uri": "tmod:@turbot/turbot#/policy/types/workspaceVersion", "resourceId": ROOT}
    )
    assert version["policyValue"]["value"] == "5.52.3"


def test_check_raises_alarms_and_summaries(emulator: EmulatorProcess) -> None:
    pack = seed_pack(emulator)
    attach(emulator, ACCOUNT, pack)
    assert control_states(emulator) == {"web": "alarm", "legacy": "alarm", "edge": "alarm"}
    by_type = [
        f"controlTypeId:'tmod:@turbot/aws-ecr#/control/types/publicRepositoryApproved' resource:'{ACCOUNT}'"
    ]
    data = emulator.data(
        SUMMARY, {"byType": by_type, "byTarget": [f"resource:'{ACCOUNT}','sandbox' level:self"]}
    )
    summary = data["controlSummariesByControlType"]["items"][0]["summary"]["control"]
    assert (summary["total"], summary["alarm"], summary["ok"]) == (3, 3, 0)
    targets = {
        i["resource"]["turbot"]["title"]: i["summary"]["control"]["alarm"] for i in data["byTarget"]["items"]
    }
    assert targets == {"Sandbox": 3, "123456789012": 3}
    bad = emulator.graphql(SUMMARY, {"byType": ["fulltext"], "byTarget": []})
    assert errors(bad) == ['Bad Request: Unsupported filter "fulltext"']


def test_enforce_deletes_new_repos_and_clock_ages_edge(emulator: EmulatorProcess) -> None:
    pack = seed_pack(emulator, approved="Check: Approved")
    attach(emulator, REGION, pack)
    emulator.advance_clock("2m")  # edge is now 61 minutes old: no longer new
    setting = emulator.data(
        "query F($f: [String!]) { policySettings(filter: $f) { items { turbot { id } type { uri } } } }",
        {"f": [f"resource:{pack} level:self policyTypeId:'{APPROVED}' policyTypeLevel:self"]},
    )["policySettings"]["items"][0]["turbot"]["id"]
    emulator.data(UPDATE_SETTING, {"input": {"id": setting, "value": "Enforce: Delete unapproved if new"}})
    assert not exists(emulator, repo("web"))
    assert exists(emulator, repo("edge"))
    assert exists(emulator, repo("legacy"))
    assert control_states(emulator) == {"legacy": "alarm", "edge": "alarm"}
    assert [e["akas"] for e in emulator.events()] == [[repo("web")]]
    # discovery of a new public repository under the Enforce pack: deleted at once
    added = emulator.add_resource(REGION, "fresh", created_at="-1m")
    assert added["exists"] is False
    old = emulator.add_resource(REGION, "old", created_at="-3h")
    assert old["exists"] is True
    assert control_states(emulator)["old"] == "alarm"


def test_enforce_at_fixture_time_deletes_web_and_edge(emulator: EmulatorProcess) -> None:
    pack = seed_pack(emulator, approved="Enforce: Delete unapproved if new")
    attach(emulator, ACCOUNT, pack)
    assert control_states(emulator) == {"legacy": "alarm"}
    assert sorted(e["akas"][0] for e in emulator.events()) == [repo("edge"), repo("web")]
    assert emulator.state()["resources"]


def test_usage_approved_turns_controls_ok(emulator: EmulatorProcess) -> None:
    pack = seed_pack(emulator, usage="Approved")
    attach(emulator, ACCOUNT, pack)
    assert set(control_states(emulator).values()) == {"ok"}
    emulator.data(DETACH, {"input": {"resource": ACCOUNT, "smartFolders": pack}})
    assert control_states(emulator) == {}
    assert USAGE


def test_scoped_key(emulator_factory: Callable[..., EmulatorProcess]) -> None:
    emu = emulator_factory(extra_args=["--scoped-key", f"scoped:scoped-secret:{ACCOUNT}"])
    pack = seed_pack(emu)
    scoped = ("scoped", "scoped-secret")
    outside = emu.graphql('{ r: resource(id: "sandbox") { title } }', auth=scoped)
    assert errors(outside) == ["Forbidden: Insufficient permissions"]
    assert emu.data(O6_IDENTITY, {"id": PACK_AKA}, auth=scoped)["policyPack"]["turbot"]["id"] == pack
    emu.data(ATTACH, {"input": {"resource": ACCOUNT, "smartFolders": [pack]}}, auth=scoped)
    denied = emu.graphql(ATTACH, {"input": {"resource": "sandbox", "smartFolders": [pack]}}, auth=scoped)
    assert errors(denied) == ["Forbidden: Insufficient permissions"]


O6_IDENTITY = "query ReadPolicyPackIdentity($id: ID!) { policyPack(id: $id) { turbot { id akas } } }"
