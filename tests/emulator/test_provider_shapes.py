# ruff: noqa: E501 - the provider documents are kept verbatim, on one line each, as the provider sends them
"""The Terraform provider's own query shapes (contract §3.1 O1-O16 and the §3.2 legacy forms), sent verbatim."""

from __future__ import annotations

import pytest

from tests.emulator.gql import ACCOUNT, APPROVED, CONTROL, PACK_AKA, ROOT, USAGE, errors, repo
from tests.fixtures.emulator import EmulatorProcess

pytestmark = pytest.mark.contract
TITLE = "Enforce AWS ECR Repositories Are Private"
DESCRIPTION = "Ensures that AWS ECR repositories are not publicly accessible."

O2 = """mutation CreateSmartFolder($input: CreateSmartFolderInput!) { smartFolder: createSmartFolder(input: $input) { turbot { id parentId akas title } } }"""
O3 = """query ReadSmartFolder($id: ID!) { smartFolder: resource(id: $id) { title: get(path: "turbot.title")
  description: get(path: "description") filters: get(path: "filters") parent: get(path: "turbot.parentId") turbot: get(path: "turbot") } }"""
O3_GENERIC = (
    """query ReadResource($id: ID!) { resource(id: $id) { type { uri } turbot: get(path: "turbot") } }"""
)
O4 = """mutation UpdateSmartFolder($input: UpdateSmartFolderInput!) { smartFolder: updateSmartFolder(input: $input) { turbot { id parentId akas } } }"""
O5 = """mutation DeleteSmartFolder($id: ID!) { smartFolder: deleteSmartFolder(input: {id: $id}) { turbot { id } } }"""
O5_LEGACY = """mutation DeleteResource($input: DeleteResourceInput!) { resource: deleteResource(input: $input) { turbot: get(path: "turbot") } }"""
O6 = """query ReadPolicyPackIdentity($id: ID!) { policyPack(id: $id) { turbot { id akas } } }"""
O7_ATTACH = """mutation AttachSmartFolder($input: AttachSmartFolderInput!) { attachSmartFolders(input: $input) { turbot { id } } }"""
O7_DETACH = """mutation DetachSmartFolder($input: DetachSmartFolderInput!) { detachSmartFolder: detachSmartFolders(input: $input) { turbot { id } } }"""
O8 = """query ReadAttachedPolicyPacks($id: ID!) { resource(id: $id, options: {notFound: RETURN_NULL}) {
  attachedSmartFolders { paging { next } items { turbot { id akas } } } } }"""
O8_LEGACY = """{ smartFolder: resource(id:"%s") { title: get(path:"turbot.title") description: get(path:"description") filters: get(path:"filters")
    parent: get(path:"turbot.parentId") turbot: get(path:"turbot") attachedResources { items { turbot: get(path:"turbot") } } } }"""
O9 = """query FindPolicyType($filter: [String!]) { policyTypes(filter: $filter) { items { modUri turbot { id } } } }"""
O10 = """query FindPolicySetting($filter: [String!]) { policySettings: policySettingList(filter: $filter) { items {
  value: secretValue valueSource: secretValueSource template precedence templateInput input note validFromTimestamp validToTimestamp turbot { id } } } }"""
O11 = """mutation CreatePolicySetting($input: CreatePolicySettingInput!) { policySetting: createPolicySetting(input: $input) { type { uri }
  value: secretValue valueSource: secretValueSource template precedence templateInput input note validFromTimestamp validToTimestamp turbot { id } } }"""
O12 = """query ReadPolicySetting($id: ID!) { policySetting(id: $id) { type { uri } value: secretValue valueSource: secretValueSource
  template default precedence templateInput input note validFromTimestamp validToTimestamp turbot { id resourceId } } }"""
O13 = """mutation UpdatePolicySetting($input: UpdatePolicySettingInput!) { policySetting: updatePolicySetting(input: $input) { type { uri }
  value: secretValue valueSource: secretValueSource template precedence templateInput input note validFromTimestamp validToTimestamp turbot { id } } }"""
O14 = """mutation DeletePolicySetting($input: DeletePolicySettingInput!) { policySetting: deletePolicySetting(input: $input) {
  value: secretValue valueSource: secretValueSource template precedence templateInput input note validFromTimestamp validToTimestamp turbot { id } } }"""
O15 = """query ReadPolicyValue($uri: String, $resourceId: ID) { policyValue(uri: $uri, resourceId: $resourceId) {
  value: secretValue secretValue precedence state reason details setting { valueSource turbot { id } } turbot { id } } }"""
O16 = """{ control(uri: "tmod:@turbot/aws-ecr#/control/types/publicRepositoryApproved", resourceId: "%s") { type { uri } state mute reason details turbot { id resourceId } } }"""


def test_o1_probe(emulator: EmulatorProcess) -> None:
    assert emulator.data("{ schema: __schema { queryType { name } } }") == {
        "schema": {"queryType": {"name": "Query"}}
    }


def test_pack_lifecycle_shapes(emulator: EmulatorProcess) -> None:
    created = emulator.data(
        O2, {"input": {"title": TITLE, "parent": ROOT, "description": DESCRIPTION, "akas": [PACK_AKA]}}
    )
    turbot = created["smartFolder"]["turbot"]
    pack, root_id = turbot["id"], turbot["parentId"]
    assert isinstance(pack, str)
    assert len(pack) == 15
    assert pack.isdigit()
    assert turbot["akas"] == [PACK_AKA]
    assert turbot["title"] == TITLE
    read = emulator.data(O3, {"id": pack})["smartFolder"]
    assert (read["title"], read["description"], read["filters"], read["parent"]) == (
        TITLE,
        DESCRIPTION,
        None,
        root_id,
    )
    assert read["turbot"]["path"] == f"{root_id}.{pack}"
    assert read["turbot"]["tags"] is None
    generic = emulator.data(O3_GENERIC, {"id": PACK_AKA})["resource"]
    assert generic["type"]["uri"] == "tmod:@turbot/turbot#/resource/types/smartFolder"
    updated = emulator.data(
        O4, {"input": {"id": pack, "filter": "resourceType:x", "tags": {"team": "platform"}}}
    )
    assert updated["smartFolder"]["turbot"] == {"id": pack, "parentId": root_id, "akas": [PACK_AKA]}
    assert emulator.data(O3, {"id": pack})["smartFolder"]["filters"] == ["resourceType:x"]
    assert emulator.data(O6, {"id": PACK_AKA}) == {"policyPack": {"turbot": {"id": pack, "akas": [PACK_AKA]}}}
    not_pack = emulator.graphql(O6, {"id": ACCOUNT})
    assert errors(not_pack) == ["Not Found: Policy pack not found or not accessible"]
    # O7 with a single string for [ID!]! (list coercion), then O8 both sides
    assert emulator.data(O7_ATTACH, {"input": {"resource": ACCOUNT, "smartFolders": pack}}) == {
        "attachSmartFolders": {"turbot": {"id": pack}}
    }
    o8 = emulator.data(O8, {"id": ACCOUNT})["resource"]["attachedSmartFolders"]
    assert o8 == {"paging": {"next": None}, "items": [{"turbot": {"id": pack, "akas": [PACK_AKA]}}]}
    legacy = emulator.data(O8_LEGACY % pack)["smartFolder"]["attachedResources"]["items"]
    assert [i["turbot"]["akas"] for i in legacy] == [[ACCOUNT]]
    # legacy: a pack AKA in smartFolders is rejected (1.11.0-1.13.2)
    aka = emulator.graphql(O7_ATTACH, {"input": {"resource": ACCOUNT, "smartFolders": PACK_AKA}})
    assert errors(aka) == ["Bad Request: smart folder ids not eligible for attachment"]
    attached_delete = emulator.graphql(O5, {"id": pack})
    assert errors(attached_delete) == [
        "Conflict: Policy pack is attached to 1 resource(s); detach it before deleting"
    ]
    assert "not found" not in errors(attached_delete)[0].lower()
    emulator.data(O7_DETACH, {"input": {"resource": ACCOUNT, "smartFolders": pack}})
    assert emulator.data(O8, {"id": "arn:aws:::999999999999"}) == {"resource": None}
    # O5 legacy forms: Int literal for an ID (1.12.4-1.13.x) and deleteResource (<= 1.12.3)
    assert emulator.data(
        f"mutation {{ deleteSmartFolder(input: {{id: {pack}}}) {{ turbot {{ id }} }} }}"
    ) == {"deleteSmartFolder": {"turbot": {"id": pack}}}
    other = emulator.data(O2, {"input": {"title": "x", "parent": ROOT}})["smartFolder"]["turbot"]
    assert other["akas"] is None
    gone = emulator.data(O5_LEGACY, {"input": {"id": other["id"]}})["resource"]["turbot"]
    assert gone["id"] == other["id"]
    missing = emulator.graphql(O3, {"id": other["id"]})
    assert errors(missing) == ["Not Found: Resource not found or not accessible"]
    assert missing.json()["data"] == {"smartFolder": None}


def test_setting_and_value_shapes(emulator: EmulatorProcess) -> None:
    pack = emulator.data(O2, {"input": {"title": TITLE, "parent": ROOT, "akas": [PACK_AKA]}})["smartFolder"][
        "turbot"
    ]["id"]
    o9 = emulator.data(O9, {"filter": [f"policyTypeId:{APPROVED} level:self"]})["policyTypes"]["items"]
    assert len(o9) == 1
    assert o9[0]["modUri"] == "tmod:@turbot/aws-ecr"
    assert emulator.data(O9, {"filter": ["policyTypeId:tmod:@turbot/aws-x#/policy/types/y level:self"]}) == {
        "policyTypes": {"items": []}
    }
    # inline single string where a list is expected
    inline = emulator.data(
        f'{{ policyTypes(filter: "policyTypeId:{APPROVED} level:self") {{ items {{ uri }} }} }}'
    )
    assert inline["policyTypes"]["items"] == [{"uri": APPROVED}]
    created = emulator.data(
        O11,
        {"input": {"type": APPROVED, "resource": pack, "value": "Check: Approved", "precedence": "REQUIRED"}},
    )["policySetting"]
    assert created["type"] == {"uri": APPROVED}
    assert created["value"] == "Check: Approved"
    assert created["valueSource"] == "'Check: Approved'\n"
    assert created["precedence"] == "REQUIRED"
    assert [created[k] for k in ("template", "templateInput", "input", "note", "validFromTimestamp")] == [
        None
    ] * 5
    setting = created["turbot"]["id"]
    o12 = emulator.data(O12, {"id": setting})["policySetting"]
    assert o12["default"] is False
    assert o12["turbot"] == {"id": setting, "resourceId": pack}
    interpolated = emulator.data(f'{{ policySetting(id:"{setting}") {{ value: secretValue }} }}')
    assert interpolated == {"policySetting": {"value": "Check: Approved"}}
    o10 = emulator.data(O10, {"filter": [f"policyType:{APPROVED} resource:{pack}"]})["policySettings"][
        "items"
    ]
    assert [i["turbot"]["id"] for i in o10] == [setting]
    legacy_list = emulator.data(
        f'{{ policySettingList(filter: "policyType:{APPROVED} resource:{pack}") {{ items {{ turbot {{ id }} }} }} }}'
    )
    assert legacy_list["policySettingList"]["items"] == [{"turbot": {"id": setting}}]
    emulator.data(O11, {"input": {"type": USAGE, "resource": pack, "value": "Not approved"}})
    emulator.data(O7_ATTACH, {"input": {"resource": ACCOUNT, "smartFolders": [pack]}})
    o15 = emulator.data(O15, {"uri": APPROVED, "resourceId": repo("web")})["policyValue"]
    assert o15["value"] == o15["secretValue"] == "Check: Approved"
    assert (o15["precedence"], o15["state"], o15["reason"], o15["details"]) == ("REQUIRED", "ok", None, None)
    assert o15["setting"]["turbot"]["id"] == setting
    updated = emulator.data(
        O13,
        {"input": {"id": setting, "value": "Enforce: Delete unapproved if new", "precedence": "REQUIRED"}},
    )
    assert updated["policySetting"]["value"] == "Enforce: Delete unapproved if new"
    deleted = emulator.data(O14, {"input": {"id": setting}})["policySetting"]
    assert deleted["value"] == "Enforce: Delete unapproved if new"
    gone = emulator.graphql(O12, {"id": setting})
    assert errors(gone) == ["Not Found: Policy setting not found or not accessible"]


def test_controls_summaries_and_directives(emulator: EmulatorProcess) -> None:
    pack = emulator.data(O2, {"input": {"title": TITLE, "parent": ROOT, "akas": [PACK_AKA]}})["smartFolder"][
        "turbot"
    ]["id"]
    for uri, value in ((APPROVED, "Check: Approved"), (USAGE, "Not approved")):
        emulator.data(O11, {"input": {"type": uri, "resource": pack, "value": value}})
    emulator.data(O7_ATTACH, {"input": {"resource": ACCOUNT, "smartFolders": [pack]}})
    legacy_id = emulator.data(f'{{ r: resource(id: "{repo("legacy")}") {{ turbot {{ id }} }} }}')["r"][
        "turbot"
    ]["id"]
    control = emulator.data(O16 % legacy_id)["control"]
    assert control == {
        "type": {"uri": CONTROL},
        "state": "alarm",
        "mute": None,
        "reason": "Not approved",
        "details": [{"key": "Usage", "value": "Not approved"}],
        "turbot": {"id": control["turbot"]["id"], "resourceId": legacy_id},
    }
    by_id = emulator.data(f'{{ control(id: "{control["turbot"]["id"]}") {{ state }} }}')
    assert by_id == {"control": {"state": "alarm"}}
    run = emulator.data(
        f'mutation {{ runControl(input: {{id: "{control["turbot"]["id"]}"}}) {{ state turbot {{ id }} }} }}'
    )
    assert run["runControl"]["state"] == "terminated"
    paged = emulator.data(
        "query C($f: [String!]!, $p: String) { controls(filter: $f, paging: $p) { items { turbot { id } } paging { next } } }",
        {"f": [f"controlTypeId:'{CONTROL}' controlTypeLevel:self resource:'{ACCOUNT}' limit:2"], "p": None},
    )["controls"]
    assert len(paged["items"]) == 2
    assert paged["paging"]["next"]
    rest = emulator.data(
        "query C($f: [String!]!, $p: String) { controls(filter: $f, paging: $p) { items { turbot { id } } paging { next } } }",
        {
            "f": [f"controlTypeId:'{CONTROL}' controlTypeLevel:self resource:'{ACCOUNT}' limit:2"],
            "p": paged["paging"]["next"],
        },
    )["controls"]
    assert len(rest["items"]) == 1
    assert rest["paging"]["next"] is None
    alarms = emulator.data('{ controls(filter: "state:alarm") { metadata { stats { total } } } }')
    assert alarms["controls"]["metadata"]["stats"]["total"] == 3
    directives = emulator.data(
        'query D($yes: Boolean!) { a: resource(id: "sandbox") @include(if: $yes) { title } '
        'b: resourceList(filter: ["resource:sandbox level:self"]) @skip(if: $yes) { items { title } } }',
        {"yes": True},
    )
    assert directives == {"a": {"title": "Sandbox"}}
    unknown = emulator.graphql('{ controls(filter: "bogus:1") { items { state } } }')
    assert errors(unknown) == ['Bad Request: Unsupported filter "bogus:1"']


FULL_READ = """{ resource(id:"%s") { data: get(path:"") akas: get(path:"turbot.akas") tags: get(path:"turbot.tags") turbot: get(path:"turbot") } }"""


def test_full_read_get_with_an_empty_path_is_the_whole_resource(emulator: EmulatorProcess) -> None:
    """The provider's ``ReadSerializableResource`` sends ``data: get(path: "")`` and drops ``turbot`` from it."""
    read = emulator.data(FULL_READ % repo("web"))["resource"]
    assert read["data"]["repositoryName"] == "web"
    assert read["data"]["repositoryArn"] == repo("web")
    assert read["data"]["turbot"] == read["turbot"]
    assert read["akas"] == [repo("web")]
