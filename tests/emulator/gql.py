"""GraphQL documents and small helpers shared by the emulator tests."""

from __future__ import annotations

from typing import Any

from tests.fixtures.emulator import EmulatorProcess

APPROVED = "tmod:@turbot/aws-ecr#/policy/types/publicRepositoryApproved"
USAGE = "tmod:@turbot/aws-ecr#/policy/types/publicRepositoryApprovedUsage"
CONTROL = "tmod:@turbot/aws-ecr#/control/types/publicRepositoryApproved"
ROOT = "tmod:@turbot/turbot#/"
ACCOUNT = "arn:aws:::123456789012"
REGION = "arn:aws::us-east-1:123456789012"
PACK_AKA = "aws_ecr_enforce_private_repositories"


def repo(name: str) -> str:
    return f"arn:aws:ecr-public::123456789012:repository/{name}"


CREATE_PACK = """mutation CreateSmartFolder($input: CreateSmartFolderInput!) {
  smartFolder: createSmartFolder(input: $input) { turbot { id parentId akas title } } }"""
CREATE_SETTING = """mutation CreatePolicySetting($input: CreatePolicySettingInput!) {
  policySetting: createPolicySetting(input: $input) { type { uri } value: secretValue
  valueSource: secretValueSource template precedence templateInput input note validFromTimestamp
  validToTimestamp turbot { id } } }"""
UPDATE_SETTING = """mutation UpdatePolicySetting($input: UpdatePolicySettingInput!) {
  policySetting: updatePolicySetting(input: $input) { value valueSource precedence turbot { id } } }"""
DELETE_SETTING = """mutation DeletePolicySetting($input: DeletePolicySettingInput!) {
  policySetting: deletePolicySetting(input: $input) { value turbot { id } } }"""
ATTACH = """mutation AttachSmartFolder($input: AttachSmartFolderInput!) {
  attachSmartFolders(input: $input) { turbot { id } } }"""
DETACH = """mutation DetachSmartFolder($input: DetachSmartFolderInput!) {
  detachSmartFolder: detachSmartFolders(input: $input) { turbot { id } } }"""
PUT = """mutation Put($input: PutSmartFolderAttachmentsInput!) {
  putSmartFolderAttachments(input: $input) { turbot { id } } }"""
ATTACHED = """query ReadAttachedPolicyPacks($id: ID!) { resource(id: $id, options: {notFound: RETURN_NULL}) {
  attachedSmartFolders { paging { next } items { turbot { id akas } } } } }"""
POLICY_VALUE = """query ReadPolicyValue($uri: String, $resourceId: ID) {
  policyValue(uri: $uri, resourceId: $resourceId) {
  value default precedence state setting { turbot { id resourceId } } turbot { id } } }"""
DELETE_PACK = """mutation DeleteSmartFolder($id: ID!) {
  smartFolder: deleteSmartFolder(input: {id: $id}) { turbot { id } } }"""
SUMMARY = """query PackSummary($byType: [String!], $byTarget: [String!]) {
  controlSummariesByControlType(filter: $byType) {
    items { type { uri title } summary { control { total ok alarm error invalid skipped tbd } } } }
  byTarget: controlSummariesByResource(filter: $byTarget) {
    items { resource { turbot { id title } }
            summary { control { total ok alarm error invalid skipped tbd } } } } }"""
CONTROLS = """query PackControls($filter: [String!]!, $paging: String) {
  controls(filter: $filter, paging: $paging) {
  items { state reason details type { uri } resource { turbot { id akas title } }
          turbot { id resourceId controlTypeId stateChangeTimestamp } }
  paging { next } metadata { stats { total } } } }"""


def errors(response: Any) -> list[str]:
    return [e["message"] for e in response.json().get("errors", [])]


def create_pack(emu: EmulatorProcess, akas: list[str] | None = None, title: str = "Pack") -> str:
    data = emu.data(CREATE_PACK, {"input": {"title": title, "parent": ROOT, "akas": akas or [PACK_AKA]}})
    return str(data["smartFolder"]["turbot"]["id"])


def set_policy(
    emu: EmulatorProcess, resource: str, type_uri: str, value: Any, precedence: str = "REQUIRED"
) -> str:
    data = emu.data(
        CREATE_SETTING,
        {"input": {"resource": resource, "type": type_uri, "value": value, "precedence": precedence}},
    )
    return str(data["policySetting"]["turbot"]["id"])


def seed_pack(emu: EmulatorProcess, approved: str = "Check: Approved", usage: str = "Not approved") -> str:
    pack = create_pack(emu)
    set_policy(emu, pack, APPROVED, approved)
    set_policy(emu, pack, USAGE, usage)
    return pack


def attach(emu: EmulatorProcess, target: str, *packs: str) -> None:
    emu.data(ATTACH, {"input": {"resource": target, "smartFolders": list(packs)}})


def attached(emu: EmulatorProcess, target: str) -> list[str]:
    return [
        i["turbot"]["id"]
        for i in emu.data(ATTACHED, {"id": target})["resource"]["attachedSmartFolders"]["items"]
    ]


def exists(emu: EmulatorProcess, ref: str) -> bool:
    query = "query R($id: ID!) { resource(id: $id, options: {notFound: RETURN_NULL}) { turbot { id } } }"
    return emu.data(query, {"id": ref})["resource"] is not None


def control_states(emu: EmulatorProcess, target: str = ACCOUNT) -> dict[str, str]:
    filt = [f"controlTypeId:'{CONTROL}' controlTypeLevel:self resource:'{target}' limit:5000"]
    items = emu.data(CONTROLS, {"filter": filt})["controls"]["items"]
    return {i["resource"]["turbot"]["title"]: i["state"] for i in items}
