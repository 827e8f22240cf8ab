"""Contract tests: what real Guardrails' feed may answer (contract §4.11, "What the real API does that a poller
must survive"), served by the emulator's feed faults over HTTP, read by the client: items kept beside GraphQL
errors, null items skipped, a blind key's empty feed (no error), ids "Not Found", filters of at most 50 ids, and
the proof view in the same request."""

from __future__ import annotations

import pytest

from ecr_privacy_operator.guardrails import GuardrailsClient
from ecr_privacy_operator.guardrails.activities import MAX_FILTER_IDS, policy_feed, proof_query
from ecr_privacy_operator.reconcile.feed import FeedScope, Subject
from tests.emulator.gql import UPDATE_SETTING
from tests.fixtures.emulator import ADMIN_KEY, EmulatorProcess

from .test_activity_feed import requests
from .test_guardrails_client import SEED, USAGE, make_pack

pytestmark = pytest.mark.contract


async def edited_pack(gclient: GuardrailsClient, emulator: EmulatorProcess) -> tuple[str, str]:
    """A pack with an Approved setting edited in the console; (pack id, the watermark before the edit)."""
    pack = await make_pack(gclient)
    watermark = emulator.advance_clock("1m")
    usage = next(s for s in await gclient.list_settings(pack) if s.type_uri == USAGE)
    emulator.console(UPDATE_SETTING, {"input": {"id": usage.id, "value": "Approved"}})
    return pack, watermark


async def test_items_are_kept_beside_the_errors_of_their_nested_fields(
    gclient: GuardrailsClient, emulator: EmulatorProcess
) -> None:
    pack, watermark = await edited_pack(gclient, emulator)
    emulator.set_faults(feedItemErrorRate=1.0)
    read = await gclient.read_feed(policy_feed([pack]), since=watermark)
    assert [a.type for a in read.activities] == ["policy_setting_updated"]
    assert read.activities[0].resource_id == pack
    assert read.errors >= 1  # its resource failed: counted, not fatal
    assert emulator.faults()["counts"]["feed_item_error"] >= 1


async def test_null_items_are_skipped_and_counted(
    gclient: GuardrailsClient, emulator: EmulatorProcess
) -> None:
    pack, watermark = await edited_pack(gclient, emulator)
    emulator.set_faults(feedNullItemRate=1.0)
    read = await gclient.read_feed(policy_feed([pack]), since=watermark)
    assert read.activities == []
    assert read.skipped == 1
    assert read.errors == 1


async def test_a_key_without_metadata_permission_reads_an_empty_feed_and_an_empty_proof(
    gclient: GuardrailsClient, emulator: EmulatorProcess
) -> None:
    pack, watermark = await edited_pack(gclient, emulator)
    read = await gclient.read_feed(policy_feed([pack]), since=watermark, proof=proof_query(pack))
    assert (len(read.activities), read.proof) == (1, True)
    emulator.set_permissions(filtered={ADMIN_KEY[0]: ["notifications"]})
    requests(emulator)
    read = await gclient.read_feed(policy_feed([pack]), since=watermark, proof=proof_query(pack))
    assert (read.activities, read.proof, read.errors) == ([], False, 0)  # no error: it cannot tell
    assert requests(emulator) == {"ReadActivityFeeds": 1}  # the proof rides in the poll's request


async def test_an_id_answered_not_found_is_reported_and_the_other_views_kept(
    gclient: GuardrailsClient, emulator: EmulatorProcess
) -> None:
    pack, watermark = await edited_pack(gclient, emulator)
    gone = await gclient.create_pack(SEED.model_copy(update={"akas": ["gone-pack"]}))
    await gclient.delete_pack(gone.id)
    emulator.set_faults(feedDeletedIdError=True)
    scope = FeedScope.of([Subject("a", pack), Subject("g", gone.id)])
    read = await gclient.read_feed(scope.queries(), since=watermark)
    assert read.missing == {gone.id}
    assert read.activities == []  # the views naming the deleted pack failed
    read = await gclient.read_feed(scope.queries(read.missing), since=watermark)
    assert (read.missing, [a.type for a in read.activities]) == (set(), ["policy_setting_updated"])


async def test_a_thousand_packs_poll_in_one_request_with_no_filter_over_the_bound(
    gclient: GuardrailsClient, emulator: EmulatorProcess
) -> None:
    pack, watermark = await edited_pack(gclient, emulator)
    ids = [str(10**14 + i) for i in range(999)]  # ids of packs this workspace does not hold
    subjects = [Subject(f"u{i}", p) for i, p in enumerate([pack, *ids])]
    scope = FeedScope.of(subjects)
    emulator.set_faults(feedFilterLimit=MAX_FILTER_IDS)
    requests(emulator)
    read = await gclient.read_feed(scope.queries(), since=watermark)
    assert requests(emulator) == {"ReadActivityFeeds": 1}
    assert emulator.faults()["counts"].get("feed_filter_over_limit", 0) == 0
    assert [a.type for a in read.activities] == ["policy_setting_updated"]
    assert all(len(q.resources) <= MAX_FILTER_IDS for q in scope.queries())
    assert len(scope.queries()) == 2 * 20  # 20 chunks of 50 packs, two views each
