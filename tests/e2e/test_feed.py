"""The activity feed with a dedicated operator, the real kube-apiserver and the emulator: a console edit is found
and corrected within seconds while the resync is an hour away; a control state change reaches the compliance
counts without a pass; the operator's own writes come back as activities and cause no pass; a feed made
Forbidden falls back to periodic resyncs with one signal (condition, Event, metric) and no policy fails."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, cast

import kubernetes.client as k8s
from tests.fixtures.emulator import ACCOUNT_AKA, ADMIN_KEY, EmulatorProcess
from tests.fixtures.kube import wait_for
from tests.fixtures.operator import OperatorIdentity, OperatorProcess
from tests.fixtures.policies import P_APPROVED, Guardrails, Policies, condition, condition_status

RECONCILES = "ecrprivacy_reconcile_total"
ACTIVITIES = "ecrprivacy_feed_activities_total"
FALLBACKS = "ecrprivacy_feed_fallbacks_total"
UNAVAILABLE = "ecrprivacy_feeds_unavailable"
SKIPPED = "ecrprivacy_feed_items_skipped_total"
WORKSPACE = "guardrails-credentials"  # the GuardrailsWorkspace emulator_credentials makes
FEED = {"ECR_PRIVACY_FEED_INTERVAL": "1"}
UPDATE_SETTING = """mutation($input: UpdatePolicySettingInput!) {
  updatePolicySetting(input: $input) { turbot { id } }
}"""


def start(
    factory: Callable[..., OperatorProcess],
    identity: OperatorIdentity,
    emulator: EmulatorProcess,
    ns: str,
    **env: str,
) -> OperatorProcess:
    identity.emulator_credentials(ns, emulator)
    return factory(ns, env={**FEED, **env})


def console_set(emulator: EmulatorProcess, uid: str, value: str) -> None:
    gr = Guardrails.of(emulator)
    pack = gr.pack(uid)
    assert pack is not None
    setting = gr.settings(pack["id"])[P_APPROVED]
    emulator.console(UPDATE_SETTING, {"input": {"id": setting["id"], "value": value}})


def hourly_policy(policies: Policies, ns: str, name: str) -> str:
    """A policy that resyncs hourly (only the feed finds a console edit sooner), once Ready; its uid."""
    uid: str = policies.create(ns, name, resyncInterval="1h")["metadata"]["uid"]
    policies.wait_ready(ns, name)
    return uid


def test_console_edit_is_found_by_the_feed_and_controls_refresh_compliance(
    operator_factory: Callable[..., OperatorProcess],
    operator_identity: OperatorIdentity,
    emulator: EmulatorProcess,
    policies: Policies,
    solo_ns: str,
) -> None:
    operator = start(operator_factory, operator_identity, emulator, solo_ns)
    uid = policies.create(solo_ns, "followed", resyncInterval="1h")["metadata"]["uid"]
    ready = policies.wait_ready(solo_ns, "followed")
    before = ready["status"]["compliance"]
    # the feed follows the pack once it has read back the creation's writes (the workspace object's own
    # creation may still ask for a pass meanwhile: that pass must not be the one that finds the edit)
    wait_for(lambda: operator.metric(ACTIVITIES, handling="echo") >= 2, timeout=15, what="the pack followed")

    console_set(emulator, uid, "Skip")
    obj = wait_for(
        lambda: (
            (o := policies.must_get(solo_ns, "followed"))
            and (condition(o, "Drifted") or {}).get("reason") == "DriftCorrected"
            and o
        ),
        timeout=20,  # the resync is an hour away
        what="the console edit found through the feed and corrected",
    )
    assert [(d["desired"], d["actual"]) for d in obj["status"]["drift"]] == [("Check: Approved", "Skip")]
    assert operator.metric(RECONCILES, trigger="feed") >= 1
    gr = Guardrails.of(emulator)
    pack = gr.pack(uid)
    assert pack is not None
    assert gr.settings(pack["id"])[P_APPROVED]["value"] == "Check: Approved"

    # a new public repository under the target: its control appears, the counts follow without a pass
    passes = operator.metric(RECONCILES)
    emulator.add_resource(ACCOUNT_AKA, "feed-repo")
    wait_for(
        lambda: (
            policies.must_get(solo_ns, "followed")["status"]["compliance"]["total"] == before["total"] + 1
        ),
        timeout=15,
        what="the new control counted in status.compliance",
    )
    assert operator.metric(ACTIVITIES, handling="compliance") >= 1
    assert operator.metric(RECONCILES) == passes  # counted without a pass


def test_own_writes_cause_no_pass(
    operator_factory: Callable[..., OperatorProcess],
    operator_identity: OperatorIdentity,
    emulator: EmulatorProcess,
    policies: Policies,
    solo_ns: str,
) -> None:
    operator = start(operator_factory, operator_identity, emulator, solo_ns)
    policies.create(solo_ns, "quiet", resyncInterval="1h")
    policies.wait_ready(solo_ns, "quiet")
    policies.patch_spec(solo_ns, "quiet", {"usage": "Approved"})  # the operator updates a setting
    wait_for(
        lambda: policies.must_get(solo_ns, "quiet")["status"].get("appliedGeneration") == 2,
        timeout=15,
        what="the spec change applied",
    )
    passes = operator.metric(RECONCILES)
    # the pack's creation and the update come back through the feed (several polls, overlapped windows)
    wait_for(lambda: operator.metric(ACTIVITIES, handling="echo") >= 3, timeout=15, what="echoes seen")
    time.sleep(4)
    assert operator.metric(RECONCILES, trigger="feed") == 0
    assert operator.metric(ACTIVITIES, handling="pass") == 0
    assert operator.metric(RECONCILES) == passes  # no pass after the update's


def workspace_events(api: k8s.ApiClient, ns: str) -> list[k8s.CoreV1Event]:
    events: list[k8s.CoreV1Event] = (
        k8s.CoreV1Api(api).list_namespaced_event(ns, field_selector=f"involvedObject.name={WORKSPACE}").items
    )
    return [e for e in events if e.involved_object.kind == "GuardrailsWorkspace"]


def feed_state(api: k8s.ApiClient, ns: str) -> dict[str, Any] | None:
    ws = k8s.CustomObjectsApi(api).get_namespaced_custom_object(
        "ecrprivacy.dev", "v1alpha1", ns, "guardrailsworkspaces", WORKSPACE
    )
    return condition(cast(dict[str, Any], ws), "FeedAvailable")


def feed_is(api: k8s.ApiClient, ns: str, status: str, timeout: float, what: str) -> dict[str, Any]:
    """Wait until the workspace's FeedAvailable condition has ``status``; return it."""
    found: dict[str, Any] = wait_for(
        lambda: (c := feed_state(api, ns)) and c["status"] == status and c, timeout=timeout, what=what
    )
    return found


def test_forbidden_feed_falls_back_to_resyncs_with_one_signal(
    operator_factory: Callable[..., OperatorProcess],
    operator_identity: OperatorIdentity,
    emulator: EmulatorProcess,
    policies: Policies,
    api_client: k8s.ApiClient,
    solo_ns: str,
) -> None:
    emulator.set_permissions(forbidden={ADMIN_KEY[0]: ["notifications"]})
    operator = start(
        operator_factory, operator_identity, emulator, solo_ns, ECR_PRIVACY_FEED_FALLBACK_RESYNC="10"
    )
    uid = hourly_policy(policies, solo_ns, "fallback")
    cond = feed_is(api_client, solo_ns, "False", timeout=20, what="FeedAvailable=False on the workspace")
    assert cond["reason"] == "FeedForbidden", cond
    assert "periodic resyncs" in cond["message"]
    wait_for(lambda: workspace_events(api_client, solo_ns), timeout=10, what="the workspace's Event")
    assert operator.metric(UNAVAILABLE) == 1

    # the objects fall back to resyncs: a console edit is found by one, within the fallback interval
    console_set(emulator, uid, "Skip")
    wait_for(
        lambda: (
            (condition(policies.must_get(solo_ns, "fallback"), "Drifted") or {}).get("reason")
            == "DriftCorrected"
        ),
        timeout=25,
        what="the edit found by a fallback resync",
    )
    assert operator.metric(RECONCILES, trigger="resync") >= 1
    assert operator.metric(RECONCILES, trigger="feed") == 0
    # said once, though the feed was tried on every poll until the fallback, and the policy never failed
    assert [e.reason for e in workspace_events(api_client, solo_ns)] == ["FeedForbidden"]
    assert operator.metric(FALLBACKS, reason="FeedForbidden") == 1
    assert condition_status(policies.must_get(solo_ns, "fallback"), "Ready") == "True"
    assert operator.metric(RECONCILES, result="Failed") == 0


def drift_corrected(policies: Policies, ns: str, name: str) -> bool:
    return (condition(policies.must_get(ns, name), "Drifted") or {}).get("reason") == "DriftCorrected"


def test_a_key_that_cannot_see_the_feed_is_found_blind_and_falls_back(
    operator_factory: Callable[..., OperatorProcess],
    operator_identity: OperatorIdentity,
    emulator: EmulatorProcess,
    policies: Policies,
    api_client: k8s.ApiClient,
    solo_ns: str,
) -> None:
    # real Guardrails answers a key without metadata permission with an empty feed, not Forbidden
    emulator.set_permissions(filtered={ADMIN_KEY[0]: ["notifications"]})
    operator = start(
        operator_factory, operator_identity, emulator, solo_ns, ECR_PRIVACY_FEED_FALLBACK_RESYNC="10"
    )
    uid = hourly_policy(policies, solo_ns, "blind")
    written = time.monotonic()  # the pack and its settings: the feed must list them
    cond = feed_is(
        api_client, solo_ns, "False", timeout=60, what="FeedAvailable=False within 60 s of a write"
    )
    assert time.monotonic() - written < 60
    assert cond["reason"] == "FeedBlind", cond
    assert operator.metric(UNAVAILABLE) == 1
    assert operator.metric(FALLBACKS, reason="FeedBlind") == 1
    assert "FeedBlind" in [e.reason for e in workspace_events(api_client, solo_ns)]
    # its policies fall back to the short resync: a console edit is found by one
    console_set(emulator, uid, "Skip")
    wait_for(
        lambda: drift_corrected(policies, solo_ns, "blind"), timeout=25, what="the edit found by a resync"
    )
    assert operator.metric(RECONCILES, trigger="resync") >= 1
    assert condition_status(policies.must_get(solo_ns, "blind"), "Ready") == "True"


def test_a_blind_key_is_found_when_the_operator_writes_nothing(
    operator_factory: Callable[..., OperatorProcess],
    operator_identity: OperatorIdentity,
    emulator: EmulatorProcess,
    policies: Policies,
    api_client: k8s.ApiClient,
    solo_ns: str,
) -> None:
    operator = start(operator_factory, operator_identity, emulator, solo_ns)
    hourly_policy(policies, solo_ns, "quiet")
    cond = feed_is(api_client, solo_ns, "True", timeout=20, what="FeedFollowed: the feed listed own writes")
    assert cond["reason"] == "FeedFollowed"
    # the key loses its metadata permission; the operator restarts and has nothing to write
    emulator.set_permissions(filtered={ADMIN_KEY[0]: ["notifications"]})
    emulator.requests(clear=True)
    operator.restart()
    restarted = time.monotonic()
    cond = feed_is(
        api_client,
        solo_ns,
        "False",
        timeout=70,
        what="FeedBlind from a known activity (bound: 60 s + a poll)",
    )
    assert cond["reason"] == "FeedBlind", cond
    assert time.monotonic() - restarted < 70
    writes = ("Create", "Update", "Delete", "Attach", "Detach")
    assert not [op for op in emulator.requests()["byOperation"] if op.startswith(writes)]  # proved by a read


def test_a_reply_with_failing_items_still_routes_the_others(
    operator_factory: Callable[..., OperatorProcess],
    operator_identity: OperatorIdentity,
    emulator: EmulatorProcess,
    policies: Policies,
    solo_ns: str,
) -> None:
    operator = start(operator_factory, operator_identity, emulator, solo_ns)
    uids = [hourly_policy(policies, solo_ns, f"partial-{i}") for i in range(2)]
    wait_for(lambda: operator.metric(ACTIVITIES, handling="echo") >= 4, timeout=20, what="the packs followed")
    # a pass retried before the edits counts as a resync too (seen once in a full run): count from here
    resyncs_before = operator.metric(RECONCILES, trigger="resync")
    # every activity's nested resource fails from now on, and a share of items come back null
    emulator.set_faults(feedItemErrorRate=1.0)
    console_set(emulator, uids[0], "Skip")
    console_set(emulator, uids[1], "Skip")
    wait_for(
        lambda: all(drift_corrected(policies, solo_ns, f"partial-{i}") for i in range(2)),
        timeout=15,
        what="both console edits found through a reply that carried errors",
    )
    # both edits routed to a pass by the feed (a pass's trigger label is the first one pending, so it is not
    # counted by trigger), and none found by a resync (the policies' resync is an hour away)
    assert operator.metric(ACTIVITIES, handling="pass") >= 2
    assert operator.metric(RECONCILES, trigger="resync") == resyncs_before
    assert operator.metric(SKIPPED, why="error") >= 2
    assert emulator.faults()["counts"].get("feed_item_error", 0) >= 2


def test_an_activity_listed_late_is_still_acted_on(
    operator_factory: Callable[..., OperatorProcess],
    operator_identity: OperatorIdentity,
    emulator: EmulatorProcess,
    policies: Policies,
    solo_ns: str,
) -> None:
    operator = start(operator_factory, operator_identity, emulator, solo_ns)
    uid = hourly_policy(policies, solo_ns, "late")
    wait_for(lambda: operator.metric(ACTIVITIES, handling="echo") >= 2, timeout=15, what="the pack followed")
    # setting edits are listed a minute after their timestamp; other activities at once
    emulator.set_faults(feedLateMs=60_000, feedLateTypes=["policy_setting_updated"])
    console_set(emulator, uid, "Skip")
    time.sleep(40)
    emulator.add_resource(
        ACCOUNT_AKA, "late-repo"
    )  # a newer activity moves the feed's watermark past the edit
    wait_for(
        lambda: operator.metric(ACTIVITIES, handling="compliance") >= 1, timeout=15, what="the newer one read"
    )
    assert not drift_corrected(policies, solo_ns, "late")  # not listed yet, and the resync is an hour away
    wait_for(lambda: drift_corrected(policies, solo_ns, "late"), timeout=30, what="the late edit acted on")
    assert operator.metric(RECONCILES, trigger="feed") >= 1
