"""Exceptions in the emulator (contract §1.3, §4.5, §4.6): a Required setting on a repository beats the pack's
Required one, its ``note`` and validity are kept, its ``validToTimestamp`` is honoured by the clock (admin
moves and time passing alone), and calculated settings (``template`` + ``templateInput``) are evaluated in a
sandboxed template engine for the shapes the operator writes."""

from __future__ import annotations

import json
import time

import pytest

from tests.emulator.gql import (
    ACCOUNT,
    APPROVED,
    CREATE_SETTING,
    DELETE_SETTING,
    POLICY_VALUE,
    REGION,
    USAGE,
    attach,
    control_states,
    errors,
    exists,
    repo,
    seed_pack,
)
from tests.fixtures.emulator import EmulatorProcess

pytestmark = pytest.mark.contract

CONTROL_REASON = """query C($uri: String, $resourceId: ID) {
  control(uri: $uri, resourceId: $resourceId) { state reason } }"""
VALUE_STATE = """query V($uri: String, $resourceId: ID) {
  policyValue(uri: $uri, resourceId: $resourceId) { value state reason isCalculated } }"""
CONTROL_URI = "tmod:@turbot/aws-ecr#/control/types/publicRepositoryApproved"


def exception(emu: EmulatorProcess, repository: str, valid_to: str, note: str = "SEC-1") -> dict[str, object]:
    data = emu.data(
        CREATE_SETTING,
        {
            "input": {
                "resource": repository,
                "type": USAGE,
                "value": "Approved",
                "precedence": "REQUIRED",
                "note": note,
                "validToTimestamp": valid_to,
            }
        },
    )
    setting: dict[str, object] = data["policySetting"]
    return setting


def approval_template(akas: list[str], otherwise: str = "Not approved") -> dict[str, object]:
    """The calculated Usage setting the operator writes for repositories that do not exist yet."""
    test = " or ".join(f"{json.dumps(aka)} in $.resource.turbot.akas" for aka in akas)
    template = f'{{%- if {test} -%}}\n"Approved"\n{{%- else -%}}\n{json.dumps(otherwise)}\n{{%- endif -%}}\n'
    return {"template": template, "templateInput": "{ resource { turbot { akas } } }"}


def test_required_on_repository_beats_required_pack_until_it_expires(emulator: EmulatorProcess) -> None:
    pack = seed_pack(emulator)
    attach(emulator, ACCOUNT, pack)
    assert control_states(emulator)["legacy"] == "alarm"
    now = emulator.set_clock("2030-01-01T00:00:00.000Z")
    assert now.startswith("2030-01-01T00:00:00")
    setting = exception(emulator, repo("legacy"), "2030-01-02T00:00:00Z", note="Base images (SEC-1234)")
    assert (setting["note"], setting["validToTimestamp"]) == (
        "Base images (SEC-1234)",
        "2030-01-02T00:00:00.000Z",
    )
    assert control_states(emulator) == {"legacy": "ok", "web": "alarm", "edge": "alarm"}
    value = emulator.data(POLICY_VALUE, {"uri": USAGE, "resourceId": repo("legacy")})["policyValue"]
    assert (value["value"], value["setting"]["turbot"]["resourceId"]) == (
        "Approved",
        exists_id(emulator, repo("legacy")),
    )
    emulator.advance_clock("1d")  # the exception ends exactly now: validTo <= now no longer counts
    assert control_states(emulator)["legacy"] == "alarm"
    kinds = [(a["type"], a["resource_id"]) for a in emulator.activities()[-2:]]
    assert kinds[-1] == ("control_updated", exists_id(emulator, repo("legacy")))
    # an expired setting stays readable, as in Guardrails
    read = emulator.data(
        "query R($id: ID!) { policySetting(id: $id) { note validToTimestamp } }",
        {"id": setting["turbot"]["id"]},  # type: ignore[index]
    )["policySetting"]
    assert read["note"] == "Base images (SEC-1234)"


def exists_id(emu: EmulatorProcess, ref: str) -> str:
    query = "query R($id: ID!) { resource(id: $id) { turbot { id } } }"
    return str(emu.data(query, {"id": ref})["resource"]["turbot"]["id"])


def test_exception_starts_and_ends_as_time_passes(emulator: EmulatorProcess) -> None:
    """No admin call: the emulator notices on its own when a setting's validity starts or ends."""
    pack = seed_pack(emulator)
    attach(emulator, ACCOUNT, pack)
    start = time.time()
    fmt = "%Y-%m-%dT%H:%M:%S.000Z"
    valid_from = time.strftime(fmt, time.gmtime(start + 2))
    valid_to = time.strftime(fmt, time.gmtime(start + 4))
    emulator.data(
        CREATE_SETTING,
        {
            "input": {
                "resource": repo("legacy"),
                "type": USAGE,
                "value": "Approved",
                "validFromTimestamp": valid_from,
                "validToTimestamp": valid_to,
            }
        },
    )
    assert control_states(emulator)["legacy"] == "alarm"
    seen: list[str] = []
    deadline = start + 10
    while time.time() < deadline and seen[-2:] != ["ok", "alarm"]:
        state = control_states(emulator)["legacy"]
        if not seen or seen[-1] != state:
            seen.append(state)
        time.sleep(0.1)
    assert seen == ["alarm", "ok", "alarm"]


def test_exception_protects_from_enforcement_and_deleting_it_alarms(emulator: EmulatorProcess) -> None:
    pack = seed_pack(emulator, approved="Check: Approved")
    attach(emulator, REGION, pack)
    setting = exception(emulator, repo("web"), "2099-01-01T00:00:00Z")
    assert control_states(emulator)["web"] == "ok"
    emulator.data(DELETE_SETTING, {"input": {"id": setting["turbot"]["id"]}})  # type: ignore[index]
    assert control_states(emulator)["web"] == "alarm"


def test_calculated_usage_approves_named_repositories_before_they_exist(emulator: EmulatorProcess) -> None:
    pack = seed_pack(emulator, approved="Enforce: Delete unapproved if new")
    settings = emulator.data(
        "query F($f: [String!]) { policySettings(filter: $f) { items { turbot { id } type { uri } } } }",
        {"f": [f"resource:{pack} level:self"]},
    )["policySettings"]["items"]
    usage_id = next(s["turbot"]["id"] for s in settings if s["type"]["uri"] == USAGE)
    update = """mutation U($input: UpdatePolicySettingInput!) { updatePolicySetting(input: $input) {
      template templateInput isCalculated turbot { id } } }"""
    written = emulator.data(
        update, {"input": {"id": usage_id, **approval_template([repo("base-images"), repo("sdk")])}}
    )["updatePolicySetting"]
    assert written["isCalculated"] is True
    attach(emulator, REGION, pack)
    # the fixture's new repositories are unapproved and deleted; the old one alarms
    assert control_states(emulator, REGION) == {"legacy": "alarm"}
    kept = emulator.add_resource(REGION, "base-images", created_at="-1m")
    assert kept["exists"] is True
    gone = emulator.add_resource(REGION, "other", created_at="-1m")
    assert gone["exists"] is False
    assert control_states(emulator, REGION) == {"legacy": "alarm", "base-images": "ok"}
    value = emulator.data(VALUE_STATE, {"uri": USAGE, "resourceId": repo("base-images")})["policyValue"]
    assert value == {"value": "Approved", "state": "ok", "reason": None, "isCalculated": True}
    legacy = emulator.data(VALUE_STATE, {"uri": USAGE, "resourceId": repo("legacy")})["policyValue"]
    assert (legacy["value"], legacy["state"]) == ("Not approved", "ok")
    assert exists(emulator, repo("base-images"))


@pytest.mark.parametrize(
    ("template", "template_input", "state", "reason"),
    [
        # the sandbox: internals are not reachable, so the escape fails instead of running
        (
            '{{ "".__class__.__mro__[1].__subclasses__() }}',
            "{ resource { title } }",
            "error",
            "Calculation failed",
        ),
        ("{{ $.resource.title", "{ resource { title } }", "error", "Calculation failed"),
        ("Approved", "{ resource { nope } }", "error", "Calculation failed"),
        ('"Maybe"', "{ resource { title } }", "invalid", "is not an allowed value"),
    ],
)
def test_calculated_setting_failures_are_states_not_crashes(
    emulator: EmulatorProcess, template: str, template_input: str, state: str, reason: str
) -> None:
    pack = seed_pack(emulator)
    attach(emulator, ACCOUNT, pack)
    emulator.data(
        CREATE_SETTING,
        {
            "input": {
                "resource": repo("legacy"),
                "type": USAGE,
                "template": template,
                "templateInput": template_input,
            }
        },
    )
    value = emulator.data(VALUE_STATE, {"uri": USAGE, "resourceId": repo("legacy")})["policyValue"]
    assert value["state"] == state
    assert reason in value["reason"]
    assert value["value"] is None
    control = emulator.data(CONTROL_REASON, {"uri": CONTROL_URI, "resourceId": repo("legacy")})["control"]
    assert control["state"] == "error"


def test_template_input_list_renders_later_queries_with_earlier_results(emulator: EmulatorProcess) -> None:
    pack = seed_pack(emulator)
    attach(emulator, ACCOUNT, pack)
    template_input = [
        '{ item: resource { parentId: get(path: "turbot.parentId") } }',
        '{ region: resource(id: "{{ $.item.parentId }}") { title } }',
    ]
    template = '{%- if $.region.title == "us-east-1" -%}Approved{%- else -%}"Not approved"{%- endif -%}'
    emulator.data(
        CREATE_SETTING,
        {
            "input": {
                "resource": ACCOUNT,
                "type": USAGE,
                "template": template,
                "templateInput": template_input,
            }
        },
    )
    assert set(control_states(emulator).values()) == {"ok"}


def test_resource_without_id_is_refused_outside_a_calculation(emulator: EmulatorProcess) -> None:
    response = emulator.graphql("{ resource { title } }")
    assert response.status_code == 400
    assert errors(response)
    assert APPROVED
