"""The emulator's reads by id or AKA (``level:self``) cost what they name: one pack's settings come from an
index by resource, and a pack read by its AKA scans no other resource (at 10,000 packs those scans made the
emulator the bench's bottleneck); the answers are those of a scan, through writes and deletions."""

from __future__ import annotations

from typing import Any

from guardrails_emulator import filters as flt
from guardrails_emulator import listings
from guardrails_emulator.context import Context
from guardrails_emulator.faults import Faults
from guardrails_emulator.model import Resource, Setting
from guardrails_emulator.workspace import Workspace

TYPES = ("tmod:a", "tmod:b", "tmod:c")


def _workspace(packs: int) -> Workspace:
    ws = Workspace()
    for i in range(packs):
        rid = str(1000 + i)
        ws.add_resource(Resource(rid, "tmod:pack", None, [f"pack:{i}"], f"p{i}", {}, None, "t", "t", "v"))
        for n, uri in enumerate(TYPES):
            sid = str(100000 + 10 * i + n)
            ws.add_setting(
                Setting(
                    sid, uri, rid, "x", None, False, "REQUIRED", None, None, None, None, None, "t", "t", "v"
                )
            )
    return ws


def _scan(ws: Workspace, rids: set[str]) -> list[str]:
    return sorted(s.id for s in ws.settings.values() if s.resource_id in rids)


def _candidates(ws: Workspace, text: str) -> list[str]:
    parsed = flt.parse([text], listings.SETTING_KEYS)
    return sorted(s.id for s in listings._setting_candidates(ws, parsed))


def test_one_packs_settings_are_read_from_the_index() -> None:
    ws = _workspace(500)
    assert _candidates(ws, "resource:'1007' level:self") == _scan(ws, {"1007"})
    assert _candidates(ws, "resource:'pack:7','1009' level:self") == _scan(ws, {"1007", "1009"})
    assert _candidates(ws, "resource:'nothing' level:self") == []
    # other levels, or no resource term: every setting is a candidate (the predicates decide)
    assert len(_candidates(ws, "resource:'1007'")) == 1500
    assert len(_candidates(ws, "policyTypeId:'tmod:a' level:self")) == 1500


def test_the_index_follows_writes_and_deletions() -> None:
    ws = _workspace(20)
    ws.remove_setting("100071")
    ws.add_setting(
        Setting(
            "999", "tmod:d", "1007", 1, None, False, "REQUIRED", None, None, None, None, None, "t", "t", "v"
        )
    )
    ws.remove_resource("1008")
    for rid in ("1007", "1008", "1009"):
        assert _candidates(ws, f"resource:'{rid}' level:self") == _scan(ws, {rid})
    assert _candidates(ws, "resource:'1007' level:self") == ["100070", "100072", "999"]
    assert "1008" not in ws.settings_at


class _NoScan(dict[str, Resource]):
    def values(self) -> Any:
        raise AssertionError("a read by id or AKA scanned every resource")


def test_a_pack_read_by_its_aka_or_id_scans_no_other_resource() -> None:
    ws = _workspace(50)
    ctx = Context(ws=ws, faults=Faults())
    expected = listings.resources(ctx, {"filter": ["resource:'pack:7','1009' level:self"]})
    ws.resources = _NoScan(ws.resources)
    found = listings.resources(ctx, {"filter": ["resource:'pack:7','1009' level:self"]})
    assert [v.res.id for v in found["items"]] == ["1007", "1009"]
    assert [v.res.id for v in found["items"]] == [v.res.id for v in expected["items"]]
    assert found["metadata"]["stats"]["total"] == 2
