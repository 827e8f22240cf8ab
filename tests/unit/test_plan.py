"""The planner's rules, one table row or test per rule (see plan.py's module docstring)."""

from __future__ import annotations

from typing import Any

import pytest

from ecr_privacy_operator.crd.spec import (
    SEED_APPROVED_TYPE,
    SEED_USAGE_TYPE,
    DeletionPolicy,
    DriftPolicy,
    ManagementPolicy,
    parse_spec,
)
from ecr_privacy_operator.reconcile.actions import (
    AdoptPack,
    Attach,
    CreatePack,
    CreateSetting,
    DeletePack,
    DeleteSetting,
    Detach,
    DriftItem,
    UpdatePack,
    UpdateSetting,
)
from ecr_privacy_operator.reconcile.desired import Desired, desired_from_spec
from ecr_privacy_operator.reconcile.observed import (
    Observed,
    ObservedPack,
    ObservedSetting,
    ObservedTarget,
    json_equal,
)
from ecr_privacy_operator.reconcile.ownership import Owner
from ecr_privacy_operator.reconcile.plan import (
    PlanPolicy,
    Previous,
    applied_values,
    owner_to_check,
    plan,
    plan_deletion,
)

pytestmark = pytest.mark.unit

UID = "uid-1"
CLUSTER = "cluster-1"
ME = Owner(uid=UID, cluster=CLUSTER, namespace="team-a", name="ecr-private")
OWNER = ME.aka
PACK = "300000000000001"
ECR_ENABLED = "tmod:@turbot/aws-ecr#/policy/types/ecrEnabled"
YAML_TYPE = "tmod:@turbot/aws#/policy/types/regionsDefault"
A1, A2 = "arn:aws:::111111111111", "arn:aws:::222222222222"

CORRECT = PlanPolicy()
REPORT = PlanPolicy(drift_policy=DriftPolicy.REPORT)
OBSERVE = PlanPolicy(management_policy=ManagementPolicy.OBSERVE)
# a new generation (resyncInterval, description, ... edited): with a record of applied values it changes nothing
CHANGED = PlanPolicy(spec_changed=True)
REPORT_CHANGED = PlanPolicy(drift_policy=DriftPolicy.REPORT, spec_changed=True)

FULL_SPEC: dict[str, Any] = {
    "additionalSettings": [
        {"type": ECR_ENABLED, "value": "Enabled", "note": "keep on"},
        {"type": YAML_TYPE, "valueSource": "- us-east-1\n"},
    ],
    "attachments": [{"resource": A1}, {"resource": A2}],
}


def desired(raw: dict[str, Any] | None = None) -> Desired:
    return desired_from_spec(parse_spec(raw or {}), ME)


def tid(resource: str) -> str:
    return "4" + resource[-14:].replace(":", "0")


def in_sync(d: Desired, **changes: Any) -> Observed:
    """An Observed that exactly matches Desired (the state after a successful apply)."""
    pack = ObservedPack(
        id=PACK,
        akas=d.pack.akas,
        title=d.pack.title,
        description=d.pack.description,
        parent_id="100",
        attached_to=tuple(tid(t) for t in d.targets),
    )
    settings = tuple(
        ObservedSetting(
            id=f"5{i}",
            type=s.type,
            value=s.value if s.value_source is None else "parsed",
            value_source=s.value_source if s.value_source is not None else "dumped",
            precedence=s.precedence,
            note=s.note,
        )
        for i, s in enumerate(d.settings)
    )
    targets = tuple(ObservedTarget(resource=t, id=tid(t), attached_pack_ids=("999", PACK)) for t in d.targets)
    base = Observed(pack=pack, settings=settings, targets=targets, policy_types=frozenset(d.setting_types))
    return base.model_copy(update=changes)


def applied(d: Desired) -> Previous:
    """What the status says after ``d`` was applied in full (with its record of applied values)."""
    return Previous(
        pack_id=PACK,
        setting_types=frozenset(d.setting_types),
        targets=d.targets,
        applied_values={(o, f): v for o, f, v in applied_values(d)},
    )


def applied_before_the_record(d: Desired) -> Previous:
    """The same, as an earlier version wrote the status: no record of applied values."""
    return applied(d).model_copy(update={"applied_values": None})


def with_pack(o: Observed, **changes: Any) -> Observed:
    assert o.pack is not None
    return o.model_copy(update={"pack": o.pack.model_copy(update=changes)})


def with_setting(o: Observed, type_uri: str, **changes: Any) -> Observed:
    settings = tuple(
        ObservedSetting.model_validate({**s.model_dump(), **changes}) if s.type == type_uri else s
        for s in o.settings
    )
    return o.model_copy(update={"settings": settings})


# Rule 1: nothing changed -> empty plan, under every policy.
@pytest.mark.parametrize("policy", [CORRECT, REPORT, OBSERVE, CHANGED, REPORT_CHANGED])
@pytest.mark.parametrize("raw", [{}, FULL_SPEC, {"enforcement": "Enforce", "precedence": "Recommended"}])
def test_in_sync_plans_nothing(policy: PlanPolicy, raw: dict[str, Any]) -> None:
    d = desired(raw)
    result = plan(d, in_sync(d), policy, applied(d))
    assert result.is_empty
    assert result.drift == ()
    assert result.problems == ()
    assert result.pack_id == PACK


@pytest.mark.parametrize("policy", [CORRECT, REPORT, CHANGED])
def test_first_creation(policy: PlanPolicy) -> None:
    d = desired(FULL_SPEC)
    observed = Observed(
        targets=(ObservedTarget(resource=A1, id="41"), ObservedTarget(resource=A2, id="42")),
        policy_types=frozenset(d.setting_types),
    )
    result = plan(d, observed, policy)
    assert result.actions == (
        CreatePack(
            title=d.pack.title, description=d.pack.description, akas=d.pack.akas, parent=d.pack.parent
        ),
        *(
            CreateSetting(
                pack_id=None,
                type=s.type,
                value=s.value,
                value_source=s.value_source,
                precedence=s.precedence,
                note=s.note,
            )
            for s in d.settings
        ),
        Attach(target=A1, target_id="41", pack_id=None),
        Attach(target=A2, target_id="42", pack_id=None),
    )
    create = result.actions[0]
    assert isinstance(create, CreatePack)
    assert OWNER in create.akas
    assert result.drift == ()


def test_observe_never_writes_and_reports_missing_pack() -> None:
    d = desired(FULL_SPEC)
    result = plan(d, Observed(), OBSERVE)
    assert result.is_empty
    assert result.drift == (DriftItem(object="policyPack", field="exists", desired=True, actual=False),)


def test_crash_after_create_finds_pack_by_ownership_and_finishes_without_drift() -> None:
    d = desired()
    observed = in_sync(d, settings=())
    result = plan(d, observed, REPORT, Previous())
    assert [type(a) for a in result.actions] == [CreateSetting, CreateSetting]
    assert all(isinstance(a, CreateSetting) and a.pack_id == PACK for a in result.actions)
    assert result.drift == ()


# Rules 3 and 7: a console edit of a setting, and a spec change of it.
CHECK, ENFORCE = "Check: Approved", "Enforce: Delete unapproved if new"


@pytest.mark.parametrize(
    ("policy", "last_applied", "updates", "drift", "corrected"),
    [
        (CORRECT, "Enforce", True, True, True),  # edited in the console
        (REPORT, "Enforce", False, True, False),
        (OBSERVE, "Enforce", False, True, False),
        (CHANGED, "Enforce", True, True, True),
        # Report is strict: another spec edit (a new generation) does not write a field it did not change
        (REPORT_CHANGED, "Enforce", False, True, False),
        (CORRECT, "Check", True, False, False),  # the spec changed this value: pending work, not drift
        (REPORT, "Check", True, False, False),
    ],
)
def test_setting_value_changed(
    policy: PlanPolicy, last_applied: str, updates: bool, drift: bool, corrected: bool
) -> None:
    d = desired({"enforcement": "Enforce"})
    observed = with_setting(in_sync(d), SEED_APPROVED_TYPE, value=CHECK)
    result = plan(d, observed, policy, applied(desired({"enforcement": last_applied})))
    expected_action = UpdateSetting(
        setting_id="50", type=SEED_APPROVED_TYPE, value=ENFORCE, precedence="REQUIRED", fields=("value",)
    )
    assert result.actions == ((expected_action,) if updates else ())
    expected_drift = DriftItem(
        object=f"setting:{SEED_APPROVED_TYPE}",
        field="value",
        desired=ENFORCE,
        actual=CHECK,
        corrected=corrected,
    )
    assert result.drift == ((expected_drift,) if drift else ())
    assert result.drift_remaining == (1 if drift and not corrected else 0)


def test_report_writes_only_the_fields_whose_desired_value_changed() -> None:
    """Usage and the Approved setting's precedence were edited in the console; the spec then changes
    enforcement: only the Approved value is written, the rest stays reported."""
    before, d = desired(), desired({"enforcement": "Enforce"})
    observed = with_setting(in_sync(d), SEED_APPROVED_TYPE, value=CHECK, precedence="RECOMMENDED")
    observed = with_setting(observed, d.settings[1].type, value="Approved")
    result = plan(d, observed, REPORT_CHANGED, applied(before))
    (update,) = result.actions
    assert isinstance(update, UpdateSetting)
    assert (update.type, update.fields) == (SEED_APPROVED_TYPE, ("value",))
    assert {(x.object, x.field) for x in result.drift if not x.corrected} == {
        (f"setting:{SEED_APPROVED_TYPE}", "precedence"),
        (f"setting:{d.settings[1].type}", "value"),
    }


@pytest.mark.parametrize(("policy", "updates"), [(REPORT_CHANGED, True), (REPORT, False)])
def test_a_status_without_the_record_falls_back_to_the_generation(policy: PlanPolicy, updates: bool) -> None:
    d = desired({"enforcement": "Enforce"})
    observed = with_setting(in_sync(d), SEED_APPROVED_TYPE, value=CHECK)
    result = plan(d, observed, policy, applied_before_the_record(d))
    assert (not result.is_empty) is updates


def test_the_record_holds_every_applied_field() -> None:
    d = desired(FULL_SPEC)
    record = {(o, f): v for o, f, v in applied_values(d)}
    assert record[("policyPack", "akas")] == sorted(d.pack.akas)
    assert record[(f"setting:{SEED_APPROVED_TYPE}", "value")] == CHECK
    assert record[(f"setting:{YAML_TYPE}", "valueSource")] == "- us-east-1\n"
    assert record[(f"setting:{ECR_ENABLED}", "note")] == "keep on"
    assert record[(f"attachment:{A2}", "attached")] is True
    assert (f"setting:{YAML_TYPE}", "value") not in record


@pytest.mark.parametrize(
    ("read", "differs"), [("must", False), ("REQUIRED", False), ("should", True), ("RECOMMENDED", True)]
)
def test_precedence_read_normalised(read: str, differs: bool) -> None:
    d = desired()
    observed = with_setting(in_sync(d), SEED_APPROVED_TYPE, precedence=read)
    result = plan(d, observed, CORRECT, applied(d))
    assert (not result.is_empty) is differs
    if differs:
        update = result.actions[0]
        assert isinstance(update, UpdateSetting)
        assert update.fields == ("precedence",)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        (
            {"value": ["eu-west-1"], "value_source": "- us-east-1"},
            None,
        ),  # value ignored, trailing newline too
        ({"value_source": "- eu-west-1\n"}, "valueSource"),
    ],
)
def test_value_source_settings_compare_the_text(changes: dict[str, Any], field: str | None) -> None:
    d = desired(FULL_SPEC)
    result = plan(d, with_setting(in_sync(d), YAML_TYPE, **changes), CORRECT, applied(d))
    if field is None:
        assert result.is_empty
    else:
        (action,) = result.actions
        assert isinstance(action, UpdateSetting)
        assert action.value_source == "- us-east-1\n"
        assert action.value is None
        assert action.fields == (field,)


def test_note_unmanaged_when_omitted_and_managed_when_given() -> None:
    d = desired(FULL_SPEC)
    o = with_setting(in_sync(d), SEED_APPROVED_TYPE, note="someone's note")
    assert plan(d, o, CORRECT, applied(d)).is_empty
    o = with_setting(in_sync(d), ECR_ENABLED, note="changed")
    (action,) = plan(d, o, CORRECT, applied(d)).actions
    assert isinstance(action, UpdateSetting)
    assert action.note == "keep on"
    assert action.fields == ("note",)


@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [
        (1, 1.0, True),
        (True, 1, False),
        ({"a": [1, "x"]}, {"a": [1, "x"]}, True),
        ("1", 1, False),
        (None, None, True),
    ],
)
def test_json_equal(a: Any, b: Any, equal: bool) -> None:
    assert json_equal(a, b) is equal


def test_missing_setting_recreated_as_drift() -> None:
    d = desired()
    observed = in_sync(d).model_copy(update={"settings": in_sync(d).settings[:1]})
    result = plan(d, observed, CORRECT, applied(d))
    assert [type(a) for a in result.actions] == [CreateSetting]
    assert result.drift[0].field == "exists"
    assert result.drift[0].corrected


# Rule 7: settings on our pack that the spec does not ask for.
@pytest.mark.parametrize(
    ("policy", "previously_ours", "deletes", "drift"),
    [
        (CORRECT, False, True, True),  # added in the console
        (REPORT, False, False, True),
        (CHANGED, False, True, True),
        (REPORT_CHANGED, False, False, True),
        (OBSERVE, False, False, True),
        (CORRECT, True, True, False),  # removed from the spec
        (REPORT, True, True, False),
        (OBSERVE, True, False, True),
    ],
)
def test_extra_setting(policy: PlanPolicy, previously_ours: bool, deletes: bool, drift: bool) -> None:
    d = desired()
    extra = ObservedSetting(id="77", type=ECR_ENABLED, value="Disabled")
    observed = in_sync(d).model_copy(update={"settings": (*in_sync(d).settings, extra)})
    prev = applied(d)
    if previously_ours:
        prev = prev.model_copy(update={"setting_types": prev.setting_types | {ECR_ENABLED}})
    result = plan(d, observed, policy, prev)
    assert result.actions == ((DeleteSetting(setting_id="77", type=ECR_ENABLED),) if deletes else ())
    assert [x.object for x in result.drift] == ([f"setting:{ECR_ENABLED}"] if drift else [])


# Rule 6: pack attributes.
@pytest.mark.parametrize(
    ("policy", "title_was", "update", "drift"),
    [
        (CORRECT, None, True, True),
        (REPORT, None, False, True),
        (OBSERVE, None, False, True),
        (REPORT_CHANGED, None, False, True),  # another field of the spec changed: the title stays reported
        (REPORT_CHANGED, "X", True, False),  # the spec changed the title
    ],
)
def test_pack_title_changed(policy: PlanPolicy, title_was: str | None, update: bool, drift: bool) -> None:
    d = desired()
    observed = with_pack(in_sync(d), title="X")
    before = desired({"policyPack": {"title": title_was}}) if title_was else d
    result = plan(d, observed, policy, applied(before))
    assert result.actions == ((UpdatePack(pack_id=PACK, title=d.pack.title),) if update else ())
    assert len(result.drift) == (1 if drift else 0)


def test_aka_change_in_spec_updates_akas_only() -> None:
    d = desired({"policyPack": {"akas": ["new_aka"]}})
    old = desired()
    observed = with_pack(in_sync(d), akas=old.pack.akas)
    result = plan(d, observed, REPORT_CHANGED, applied(old))
    assert result.actions == (UpdatePack(pack_id=PACK, akas=("new_aka", OWNER)),)
    assert result.drift == ()
    reordered = with_pack(in_sync(d), akas=(OWNER, "new_aka"))
    assert plan(d, reordered, CORRECT, applied(d)).is_empty


# Rule 5: the pack was deleted outside the operator.
def test_pack_deleted_behind_our_back() -> None:
    d = desired(FULL_SPEC)
    observed = in_sync(d, pack=None, settings=())
    observed = observed.model_copy(
        update={"targets": tuple(t.model_copy(update={"attached_pack_ids": ()}) for t in observed.targets)}
    )
    corrected = plan(d, observed, CORRECT, applied(d))
    assert isinstance(corrected.actions[0], CreatePack)
    assert [type(a) for a in corrected.actions].count(Attach) == 2
    assert corrected.drift == (
        DriftItem(object="policyPack", field="exists", desired=True, actual=False, corrected=True),
    )
    reported = plan(d, observed, REPORT, applied(d))
    assert reported.is_empty
    assert reported.drift_remaining == 1


# Rule 4: adoption and conflicts.
def foreign_seed_pack() -> ObservedPack:
    return ObservedPack(
        id="310",
        akas=("aws_ecr_enforce_private_repositories",),
        title="Enforce AWS ECR Repositories Are Private",
        description="Ensures that AWS ECR repositories are not publicly accessible.",
    )


def test_adopt_takes_over_and_aligns() -> None:
    d = desired({"policyPack": {"adopt": True}, "enforcement": "Enforce", "attachments": [{"resource": A1}]})
    observed = Observed(
        foreign_pack=foreign_seed_pack(),
        settings=(
            ObservedSetting(id="61", type=SEED_APPROVED_TYPE, value="Check: Approved", precedence="must"),
            ObservedSetting(id="62", type=d.settings[1].type, value="Not approved"),
        ),
        targets=(ObservedTarget(resource=A1, id="41"),),
    )
    result = plan(d, observed, REPORT, Previous())
    assert result.pack_id == "310"
    assert result.actions == (
        AdoptPack(pack_id="310", akas=("aws_ecr_enforce_private_repositories", OWNER)),
        UpdateSetting(
            setting_id="61",
            type=SEED_APPROVED_TYPE,
            value="Enforce: Delete unapproved if new",
            precedence="REQUIRED",
            fields=("value",),
        ),
        Attach(target=A1, target_id="41", pack_id="310"),
    )
    assert result.drift == ()


def test_observe_with_adopt_compares_the_foreign_pack_without_writing() -> None:
    d = desired({"policyPack": {"adopt": True}, "enforcement": "Enforce"})
    observed = Observed(
        foreign_pack=foreign_seed_pack(),
        settings=(ObservedSetting(id="61", type=SEED_APPROVED_TYPE, value="Check: Approved"),),
    )
    result = plan(d, observed, OBSERVE)
    assert result.is_empty
    assert {(x.object, x.field) for x in result.drift} == {
        (f"setting:{SEED_APPROVED_TYPE}", "value"),
        (f"setting:{d.settings[1].type}", "exists"),
    }


@pytest.mark.parametrize(
    ("adopt", "ours"),
    [(False, False), (False, True), (True, True)],
)
def test_pack_conflict(adopt: bool, ours: bool) -> None:
    d = desired({"policyPack": {"adopt": adopt}})
    base = in_sync(d) if ours else Observed(policy_types=frozenset(d.setting_types))
    result = plan(d, base.model_copy(update={"foreign_pack": foreign_seed_pack()}), CORRECT, Previous())
    assert result.is_empty
    assert result.blocked
    (problem,) = result.problems
    assert problem.reason == "PackConflict"
    assert "aws_ecr_enforce_private_repositories" in problem.message
    assert "310" in problem.message
    assert ("adopt" in problem.message) is (not adopt and not ours)  # suggested only where it would help


# Rule 4: a pack another EcrPrivacyPolicy owns.
RIVAL = Owner(uid="uid-2", cluster=CLUSTER, namespace="team-b", name="ecr-private")
ELSEWHERE = Owner(uid="uid-3", cluster="cluster-2", namespace="team-a", name="ecr-private")
LEGACY = Owner(uid="uid-4")


def owned_pack(owner: Owner) -> ObservedPack:
    return foreign_seed_pack().model_copy(
        update={"akas": ("aws_ecr_enforce_private_repositories", owner.aka)}
    )


@pytest.mark.parametrize("owner", [RIVAL, ELSEWHERE, LEGACY])
@pytest.mark.parametrize("adopt", [False, True])
def test_a_pack_with_a_live_owner_is_never_adopted(owner: Owner, adopt: bool) -> None:
    d = desired({"policyPack": {"adopt": adopt}, "enforcement": "Skip"})
    observed = Observed(
        foreign_pack=owned_pack(owner),
        foreign_owner_exists=True if adopt and owner is RIVAL else None,
        settings=(
            ObservedSetting(id="61", type=SEED_APPROVED_TYPE, value="Enforce: Delete unapproved if new"),
        ),
    )
    result = plan(d, observed, CORRECT, Previous())
    assert result.is_empty
    (problem,) = result.problems
    assert problem.reason == "PackConflict"
    if owner.legacy:
        assert "uid-4" in problem.message
    else:  # the conflict names the owner: kind, namespace/name and cluster
        assert f"EcrPrivacyPolicy {owner.namespace}/{owner.name} (UID {owner.uid})" in problem.message
        where = "in this cluster" if owner is RIVAL else "in another cluster (cluster-2)"
        assert where in problem.message


def test_adopt_takes_back_a_pack_whose_owner_in_this_cluster_is_gone() -> None:
    d = desired({"policyPack": {"adopt": True}})
    observed = Observed(foreign_pack=owned_pack(RIVAL), foreign_owner_exists=False)
    result = plan(d, observed, CORRECT, Previous())
    assert not result.blocked
    assert result.actions[0] == AdoptPack(pack_id="310", akas=("aws_ecr_enforce_private_repositories", OWNER))


@pytest.mark.parametrize("owner", [ELSEWHERE, LEGACY])
def test_a_pack_of_another_cluster_needs_the_separate_opt_in(owner: Owner) -> None:
    d = desired({"policyPack": {"adopt": True, "adoptFromOtherClusters": True}})
    result = plan(d, Observed(foreign_pack=owned_pack(owner)), CORRECT, Previous())
    assert not result.blocked
    assert result.actions[0] == AdoptPack(pack_id="310", akas=("aws_ecr_enforce_private_repositories", OWNER))
    refused = plan(
        desired({"policyPack": {"adopt": True}}), Observed(foreign_pack=owned_pack(owner)), CORRECT
    )
    assert "adoptFromOtherClusters" in refused.message()


def test_the_owner_is_asked_about_only_when_it_decides_an_adoption() -> None:
    adopt, no_adopt = desired({"policyPack": {"adopt": True}}), desired()
    rival = Observed(foreign_pack=owned_pack(RIVAL))
    assert owner_to_check(adopt, rival, CORRECT) == RIVAL
    assert owner_to_check(adopt, rival, OBSERVE) == RIVAL  # Observe compares only what Manage could adopt
    assert owner_to_check(no_adopt, rival, CORRECT) is None
    assert owner_to_check(adopt, Observed(foreign_pack=owned_pack(ELSEWHERE)), CORRECT) is None
    assert owner_to_check(adopt, Observed(foreign_pack=owned_pack(LEGACY)), CORRECT) is None
    assert owner_to_check(adopt, Observed(foreign_pack=foreign_seed_pack()), CORRECT) is None
    ours = in_sync(adopt).model_copy(update={"foreign_pack": owned_pack(RIVAL)})
    assert owner_to_check(adopt, ours, CORRECT) is None


@pytest.mark.parametrize(
    ("owner", "alive", "compared"),
    [
        (RIVAL, True, False),
        (RIVAL, False, True),
        (ELSEWHERE, None, False),
        (LEGACY, None, False),
        (None, None, True),
    ],
)
def test_observe_compares_only_a_pack_that_manage_could_adopt(
    owner: Owner | None, alive: bool | None, compared: bool
) -> None:
    """Observe with adopt once compared a pack whoever owned it, which copied another live team's settings and
    targets into the status."""
    d = desired({"policyPack": {"adopt": True}, "enforcement": "Enforce"})
    observed = Observed(
        foreign_pack=foreign_seed_pack() if owner is None else owned_pack(owner),
        foreign_owner_exists=alive,
        settings=(ObservedSetting(id="61", type=SEED_APPROVED_TYPE, value=CHECK),),
    )
    result = plan(d, observed, OBSERVE)
    assert result.is_empty
    assert result.blocked is not compared
    assert (
        (f"setting:{SEED_APPROVED_TYPE}", "value") in {(x.object, x.field) for x in result.drift}
    ) is compared
    assert (result.pack_id == "310") is compared


@pytest.mark.parametrize("policy", [CORRECT, REPORT, OBSERVE])
def test_a_pack_outside_the_workspace_scope_is_neither_adopted_nor_compared(policy: PlanPolicy) -> None:
    d = desired({"policyPack": {"adopt": True}, "enforcement": "Skip"})
    observed = Observed(
        foreign_pack=foreign_seed_pack(),
        foreign_out_of_scope="it is attached to 2 resource(s) outside allowedTargets",
        settings=(
            ObservedSetting(id="61", type=SEED_APPROVED_TYPE, value="Enforce: Delete unapproved if new"),
        ),
    )
    result = plan(d, observed, policy)
    assert result.is_empty
    (problem,) = result.problems
    assert (problem.reason, problem.message) == (
        "AdoptionNotAllowed",
        "it is attached to 2 resource(s) outside allowedTargets",
    )
    assert result.pack_id is None
    assert result.drift == () or all(x.object == "policyPack" for x in result.drift)


@pytest.mark.parametrize("owner", [RIVAL, ELSEWHERE, None])
def test_through_a_cluster_workspace_a_conflict_names_nothing_of_other_tenants(owner: Owner | None) -> None:
    d = desired()
    pack = foreign_seed_pack() if owner is None else owned_pack(owner)
    shared = CORRECT.model_copy(update={"shared": True})
    (problem,) = plan(d, Observed(foreign_pack=pack), shared).problems
    assert problem.reason == "PackConflict"
    for secret in ("310", "team-b", "uid-2", "uid-3", "cluster-2"):
        assert secret not in problem.message
    neighbour = Owner(uid="uid-5", cluster=CLUSTER, namespace=ME.namespace, name="other")
    (own_ns,) = plan(d, Observed(foreign_pack=owned_pack(neighbour)), shared).problems
    assert f"{ME.namespace}/other" in own_ns.message  # the tenant's own namespace: named, as it helps


@pytest.mark.parametrize("policy", [CORRECT, REPORT])
def test_a_legacy_ownership_aka_is_rewritten_without_drift(policy: PlanPolicy) -> None:
    d = desired()
    legacy = ("aws_ecr_enforce_private_repositories", ME.legacy_aka)
    observed = in_sync(d)
    observed = observed.model_copy(update={"pack": observed.pack.model_copy(update={"akas": legacy})})  # type: ignore[union-attr]
    result = plan(d, observed, policy, Previous(pack_id=PACK))
    assert result.actions == (UpdatePack(pack_id=PACK, akas=("aws_ecr_enforce_private_repositories", OWNER)),)
    assert result.drift == ()
    assert plan(d, observed, OBSERVE, Previous(pack_id=PACK)).is_empty


# Rule 8 and 10: problems block every write.
def test_unknown_policy_type_blocks() -> None:
    d = desired(FULL_SPEC)
    observed = Observed(
        targets=(ObservedTarget(resource=A1, id="41"), ObservedTarget(resource=A2, id="42")),
        policy_types=frozenset(d.setting_types) - {ECR_ENABLED},
    )
    result = plan(d, observed, CORRECT)
    assert result.is_empty
    assert [p.reason for p in result.problems] == ["PolicyTypeNotFound"]
    assert ECR_ENABLED in result.problems[0].message
    assert not plan(d, observed.model_copy(update={"policy_types": None}), CORRECT).blocked


@pytest.mark.parametrize("pack_exists", [False, True])
def test_missing_target_blocks(pack_exists: bool) -> None:
    d = desired(FULL_SPEC)
    observed = in_sync(d) if pack_exists else Observed(policy_types=frozenset(d.setting_types))
    targets = (ObservedTarget(resource=A1, id=tid(A1)), ObservedTarget(resource=A2, id=None))
    observed = observed.model_copy(update={"targets": targets})
    result = plan(d, observed, CORRECT, applied(d) if pack_exists else None)
    assert result.is_empty
    assert [p.reason for p in result.problems] == ["TargetNotFound"]
    assert A2 in result.problems[0].message
    assert all(not x.corrected for x in result.drift)


# Rule 9: attachments.
@pytest.mark.parametrize(
    ("policy", "attaches", "drift"),
    [(CORRECT, True, True), (REPORT, False, True), (OBSERVE, False, True), (REPORT_CHANGED, False, True)],
)
def test_attachment_removed_in_console(policy: PlanPolicy, attaches: bool, drift: bool) -> None:
    d = desired(FULL_SPEC)
    o = in_sync(d)
    o = o.model_copy(
        update={"targets": (o.targets[0].model_copy(update={"attached_pack_ids": ("999",)}), o.targets[1])}
    )
    result = plan(d, o, policy, applied(d))
    assert result.actions == ((Attach(target=A1, target_id=tid(A1), pack_id=PACK),) if attaches else ())
    assert [x.object for x in result.drift] == ([f"attachment:{A1}"] if drift else [])


def test_new_target_in_spec_is_attached_in_spec_order_without_drift() -> None:
    d = desired({"attachments": [{"resource": A2}, {"resource": A1}]})
    o = in_sync(d).model_copy(
        update={"targets": tuple(ObservedTarget(resource=t, id=tid(t)) for t in d.targets)}
    )
    result = plan(d, o, REPORT, Previous(pack_id=PACK, setting_types=frozenset(d.setting_types)))
    assert result.actions == tuple(Attach(target=t, target_id=tid(t), pack_id=PACK) for t in (A2, A1))
    assert result.drift == ()


@pytest.mark.parametrize(
    ("policy", "detaches"), [(CORRECT, True), (REPORT, True), (REPORT_CHANGED, True), (OBSERVE, False)]
)
def test_target_removed_from_spec_is_detached(policy: PlanPolicy, detaches: bool) -> None:
    before = desired(FULL_SPEC)
    d = desired({**FULL_SPEC, "attachments": [{"resource": A2}]})
    o = in_sync(before)  # still attached to A1 and A2
    result = plan(d, o, policy, applied(before))
    assert result.actions == ((Detach(target=A1, target_id=tid(A1), pack_id=PACK),) if detaches else ())
    assert len(result.drift) == (0 if detaches else 1)


@pytest.mark.parametrize(("policy", "detaches"), [(CORRECT, True), (REPORT, False), (CHANGED, True)])
def test_pack_attached_outside_the_spec(policy: PlanPolicy, detaches: bool) -> None:
    d = desired(FULL_SPEC)
    o = with_pack(in_sync(d), attached_to=(tid(A1), tid(A2), "888"))
    result = plan(d, o, policy, applied(d))
    assert result.actions == ((Detach(target="888", target_id="888", pack_id=PACK),) if detaches else ())
    assert [x.object for x in result.drift] == ["attachment:888"]


# Rule 11: order of actions.
def test_action_order() -> None:
    d = desired({**FULL_SPEC, "enforcement": "Skip", "attachments": [{"resource": A2}]})
    before = desired(FULL_SPEC)
    o = in_sync(before)
    o = with_pack(o, title="old").model_copy(
        update={
            "settings": (
                *tuple(s for s in o.settings if s.type != ECR_ENABLED),
                ObservedSetting(id="77", type="tmod:@turbot/aws#/policy/types/old"),
            ),
            "targets": (o.targets[0], o.targets[1].model_copy(update={"attached_pack_ids": ()})),
        }
    )
    prev = applied(before).model_copy(
        update={"setting_types": frozenset({*before.setting_types, "tmod:@turbot/aws#/policy/types/old"})}
    )
    kinds = [a.kind for a in plan(d, o, CHANGED, prev).actions]
    assert kinds == ["UpdatePack", "DeleteSetting", "UpdateSetting", "CreateSetting", "Detach", "Attach"]


# Deletion.
def test_deletion_detaches_everywhere_then_deletes() -> None:
    d = desired(FULL_SPEC)
    o = with_pack(in_sync(d), attached_to=(tid(A1), "888"))
    result = plan_deletion(
        o, deletion_policy=DeletionPolicy.DELETE, management_policy=ManagementPolicy.MANAGE
    )
    assert result.actions == (
        Detach(target=A1, target_id=tid(A1), pack_id=PACK),
        Detach(target=A2, target_id=tid(A2), pack_id=PACK),
        Detach(target="888", target_id="888", pack_id=PACK),
        DeletePack(pack_id=PACK),
    )


@pytest.mark.parametrize(
    ("observed", "deletion", "management"),
    [
        (None, DeletionPolicy.ORPHAN, ManagementPolicy.MANAGE),
        (None, DeletionPolicy.DELETE, ManagementPolicy.OBSERVE),
        (Observed(), DeletionPolicy.DELETE, ManagementPolicy.MANAGE),  # already gone: success
    ],
)
def test_deletion_plans_nothing(
    observed: Observed | None, deletion: DeletionPolicy, management: ManagementPolicy
) -> None:
    o = observed if observed is not None else in_sync(desired(FULL_SPEC))
    assert plan_deletion(o, deletion_policy=deletion, management_policy=management).is_empty


def test_deletion_of_unattached_pack() -> None:
    o = Observed(pack=ObservedPack(id=PACK, akas=(OWNER,)))
    result = plan_deletion(
        o, deletion_policy=DeletionPolicy.DELETE, management_policy=ManagementPolicy.MANAGE
    )
    assert result.actions == (DeletePack(pack_id=PACK),)


def test_policy_from_spec() -> None:
    spec = parse_spec({"driftPolicy": "Report", "managementPolicy": "Observe"})
    policy = PlanPolicy.from_spec(spec, spec_changed=True)
    assert policy == PlanPolicy(
        drift_policy=DriftPolicy.REPORT, management_policy=ManagementPolicy.OBSERVE, spec_changed=True
    )


ARN = "arn:aws:ecr-public::123456789012:repository/base-images"


def test_pending_exceptions_make_the_usage_calculated_and_back() -> None:
    """Exceptions for repositories that do not exist yet: the Usage setting becomes a template naming them;
    when none is left it is a plain value again; an unchanged template plans nothing."""
    static = desired()
    calculated = desired_from_spec(parse_spec({}), ME, (ARN,))
    usage = calculated.settings[1]
    assert usage.type == SEED_USAGE_TYPE
    assert (usage.value, usage.template_input) == (None, "{ resource { turbot { akas } } }")
    assert f'"{ARN}" in $.resource.turbot.akas' in (usage.template or "")
    assert '"Not approved"' in (usage.template or "")
    to_template = plan(calculated, in_sync(static), CORRECT, applied(static))
    (action,) = to_template.actions
    assert isinstance(action, UpdateSetting)
    assert (action.fields, action.template, action.template_input) == (
        ("template",),
        usage.template,
        usage.template_input,
    )
    observed = with_setting(
        in_sync(static),
        SEED_USAGE_TYPE,
        value=None,
        template=usage.template,
        template_input=usage.template_input,
    )
    assert plan(calculated, observed, CORRECT, applied(calculated)).actions == ()
    (back,) = plan(static, observed, CORRECT, applied(calculated)).actions
    assert isinstance(back, UpdateSetting)
    assert (back.fields, back.value, back.template) == (("value",), "Not approved", None)
