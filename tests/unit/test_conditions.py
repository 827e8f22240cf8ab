"""Condition semantics: apimachinery's lastTransitionTime rule, observedGeneration, kstatus derivation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ecr_privacy_operator.crd.conditions import (
    Condition,
    Outcome,
    OutcomeKind,
    derive_conditions,
    find_condition,
    format_time,
    is_ready,
    parse_conditions,
    set_condition,
)

pytestmark = pytest.mark.unit

T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
T1 = T0 + timedelta(minutes=5)


def by_type(conditions: list[Condition]) -> dict[str, tuple[str, str]]:
    return {c.type: (c.status, c.reason) for c in conditions}


def test_new_condition_gets_now_and_generation() -> None:
    (cond,) = set_condition(
        [], type="Ready", status="True", reason="Synced", message="m", observed_generation=3, now=T0
    )
    assert cond.last_transition_time == "2026-01-01T12:00:00Z"
    assert cond.observed_generation == 3


def test_same_status_keeps_transition_time_but_updates_the_rest() -> None:
    first = set_condition(
        [], type="Ready", status="False", reason="A", message="a", observed_generation=1, now=T0
    )
    (second,) = set_condition(
        first, type="Ready", status="False", reason="B", message="b", observed_generation=2, now=T1
    )
    assert second.last_transition_time == format_time(T0)
    assert (second.reason, second.message, second.observed_generation) == ("B", "b", 2)


def test_status_change_moves_transition_time() -> None:
    first = set_condition(
        [], type="Ready", status="False", reason="A", message="", observed_generation=1, now=T0
    )
    (second,) = set_condition(
        first, type="Ready", status="True", reason="A", message="", observed_generation=1, now=T1
    )
    assert second.last_transition_time == format_time(T1)


def test_other_conditions_keep_order_and_content() -> None:
    conds = set_condition([], type="A", status="True", reason="R", message="", observed_generation=1, now=T0)
    conds = set_condition(
        conds, type="B", status="True", reason="R", message="", observed_generation=1, now=T0
    )
    updated = set_condition(
        conds, type="A", status="False", reason="X", message="", observed_generation=2, now=T1
    )
    assert [c.type for c in updated] == ["A", "B"]
    assert updated[1] == conds[1]
    assert conds[0].status == "True"  # input not mutated


def test_wire_round_trip() -> None:
    conds = set_condition(
        [], type="Ready", status="True", reason="R", message="m", observed_generation=4, now=T0
    )
    wire = [c.to_wire() for c in conds]
    assert wire == [
        {
            "type": "Ready",
            "status": "True",
            "observedGeneration": 4,
            "lastTransitionTime": "2026-01-01T12:00:00Z",
            "reason": "R",
            "message": "m",
        }
    ]
    assert parse_conditions(wire) == conds
    assert parse_conditions([{"type": "X", "status": "Maybe"}, {"nope": 1}]) == []
    assert parse_conditions(None) == []


SUCCESS = Outcome(kind=OutcomeKind.SUCCEEDED, drift_found=0)


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        (
            SUCCESS,
            {
                "Ready": ("True", "ReconcileSucceeded"),
                "Synced": ("True", "Synced"),
                "Reconciling": ("False", "ReconcileSucceeded"),
                "Stalled": ("False", "ReconcileSucceeded"),
                "Drifted": ("False", "NoDrift"),
            },
        ),
        (
            Outcome(kind=OutcomeKind.SUCCEEDED, drift_found=2, drift_remaining=0),
            {
                "Ready": ("True", "ReconcileSucceeded"),
                "Synced": ("True", "Synced"),
                "Drifted": ("True", "DriftCorrected"),
            },
        ),
        (
            Outcome(kind=OutcomeKind.SUCCEEDED, drift_found=2, drift_remaining=1),
            {
                "Ready": ("False", "DriftDetected"),
                "Synced": ("False", "DriftDetected"),
                "Drifted": ("True", "DriftDetected"),
                "Stalled": ("False", "DriftDetected"),
            },
        ),
        (
            Outcome(kind=OutcomeKind.SUCCEEDED, drift_found=0, observing=True),
            {"Ready": ("True", "Observing"), "Synced": ("True", "Synced")},
        ),
        (
            Outcome(kind=OutcomeKind.FAILED, reason="GuardrailsUnavailable", retryable=True),
            {
                "Ready": ("False", "GuardrailsUnavailable"),
                "Synced": ("False", "GuardrailsUnavailable"),
                "Reconciling": ("True", "GuardrailsUnavailable"),
                "Stalled": ("False", "GuardrailsUnavailable"),
            },
        ),
        (
            Outcome(kind=OutcomeKind.FAILED, reason="PolicyTypeNotFound", retryable=False),
            {
                "Ready": ("False", "PolicyTypeNotFound"),
                "Reconciling": ("False", "PolicyTypeNotFound"),
                "Stalled": ("True", "PolicyTypeNotFound"),
            },
        ),
        (
            Outcome(kind=OutcomeKind.SUSPENDED),
            {"Ready": ("False", "Suspended"), "Reconciling": ("False", "Suspended")},
        ),
        (
            Outcome(kind=OutcomeKind.DELETING),
            {"Ready": ("False", "Deleting"), "Reconciling": ("True", "Deleting")},
        ),
    ],
)
def test_derive(outcome: Outcome, expected: dict[str, tuple[str, str]]) -> None:
    conds = derive_conditions([], outcome, observed_generation=7, now=T0)
    got = by_type(conds)
    for ctype, value in expected.items():
        assert got[ctype] == value, ctype
    assert all(c.observed_generation == 7 for c in conds)


def test_never_ready_while_last_sync_failed() -> None:
    ok = derive_conditions([], SUCCESS, observed_generation=1, now=T0)
    failed = derive_conditions(
        ok,
        Outcome(kind=OutcomeKind.FAILED, reason="Unauthorized", retryable=False),
        observed_generation=1,
        now=T1,
    )
    ready = find_condition(failed, "Ready")
    assert ready is not None
    assert ready.status == "False"
    assert ready.reason == "Unauthorized"
    assert ready.last_transition_time == format_time(T1)
    assert not is_ready(failed, 1)


def test_repeated_success_keeps_times_and_drift_untouched_when_not_checked() -> None:
    first = derive_conditions([], SUCCESS, observed_generation=1, now=T0)
    again = derive_conditions(first, Outcome(kind=OutcomeKind.SUCCEEDED), observed_generation=2, now=T1)
    assert all(c.last_transition_time == format_time(T0) for c in again)
    assert find_condition(again, "Drifted") == find_condition(first, "Drifted")  # drift_found None: untouched
    ready = find_condition(again, "Ready")
    assert ready is not None
    assert ready.observed_generation == 2
    assert is_ready(again, 2)
    assert not is_ready(again, 3)


def test_suspend_leaves_synced_and_drifted() -> None:
    first = derive_conditions([], SUCCESS, observed_generation=1, now=T0)
    suspended = derive_conditions(first, Outcome(kind=OutcomeKind.SUSPENDED), observed_generation=2, now=T1)
    assert find_condition(suspended, "Synced") == find_condition(first, "Synced")
    assert find_condition(suspended, "Drifted") == find_condition(first, "Drifted")
