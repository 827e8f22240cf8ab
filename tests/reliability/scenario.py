"""Sizes, figures and shared steps of the reliability scenarios.

- ``SCALE``: the sizes, chosen by ``RELIABILITY_SCALE`` (``fast``, the default, or ``full``).
- ``Row``: the figures of one scenario (objects, faults injected, operator retries, time to converge,
  duplicate packs, orphans), printed as a table at the end of the run.
- ``Fleet``: many objects in one namespace, created, waited on and deleted in bulk (one LIST per poll).
- ``expected_settings`` / ``check_invariants``: the invariants every scenario ends with, checked on the
  emulator's state — exactly one pack per live object, found by its ownership AKA; exactly the desired
  settings on it (no more); the pack attached to every desired target; no pack owned by an object that no
  longer exists (an orphan) unless its object was deleted with ``deletionPolicy: Orphan``; no attachment of a
  pack that no longer exists.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

from tests.fixtures.emulator import EmulatorProcess
from tests.fixtures.kube import GROUP, PLURAL, VERSION, wait_for
from tests.fixtures.operator import OperatorProcess
from tests.fixtures.policies import (
    P_APPROVED,
    P_USAGE,
    T_PACK,
    Guardrails,
    Policies,
    condition,
    owner_uid,
    policy_body,
)

RETRIES = "ecrprivacy_guardrails_retries_total"

# The Guardrails values of the seed settings, written out here independently of reconcile/desired.py.
ENFORCEMENT = {"Check": "Check: Approved", "Enforce": "Enforce: Delete unapproved if new", "Skip": "Skip"}
USAGE = {
    "NotApproved": "Not approved",
    "Approved": "Approved",
    "ApprovedIfEcrEnabled": "Approved if AWS > ECR > Enabled",
}


@dataclass(frozen=True)
class Scale:
    name: str
    objects: int  # objects under faults
    kills: int  # kill -9 of the operator
    crash_objects: int
    race_objects: int  # objects attaching to one target at once
    restart_objects: int
    deletion_objects: int
    timeout: float  # seconds to converge, per phase


SCALES = {
    "fast": Scale("fast", objects=6, kills=3, crash_objects=5, race_objects=6, restart_objects=3,
                  deletion_objects=4, timeout=90),
    "full": Scale("full", objects=100, kills=20, crash_objects=50, race_objects=30, restart_objects=20,
                  deletion_objects=20, timeout=420),
}  # fmt: skip
SCALE = SCALES[os.environ.get("RELIABILITY_SCALE", "fast")]


@dataclass
class Row:
    scenario: str
    objects: int
    requests: int = 0  # GraphQL requests the emulator received
    faults: int = 0  # injected: HTTP errors + dropped connections (latency spikes counted apart)
    delayed: int = 0
    retries: int = 0  # the operator's ecrprivacy_guardrails_retries_total
    converge_s: float = 0.0
    duplicates: int = 0
    orphans: int = 0
    note: str = ""

    COLUMNS = (
        ("scenario", 28),
        ("objects", 7),
        ("requests", 8),
        ("faults", 6),
        ("delayed", 7),
        ("retries", 7),
        ("converge_s", 10),
        ("duplicates", 10),
        ("orphans", 7),
        ("note", 0),
    )

    @classmethod
    def table(cls, rows: list[Row]) -> list[str]:
        def line(values: list[str]) -> str:
            return "| " + " | ".join(v.ljust(w) for v, (_, w) in zip(values, cls.COLUMNS, strict=True)) + " |"

        header = line([name for name, _ in cls.COLUMNS])
        rule = "|" + "|".join("-" * (max(w, len(n)) + 2) for n, w in cls.COLUMNS) + "|"
        out = [header, rule]
        for row in rows:
            values = [
                row.scenario,
                str(row.objects),
                str(row.requests),
                str(row.faults),
                str(row.delayed),
                str(row.retries),
                f"{row.converge_s:.1f}",
                str(row.duplicates),
                str(row.orphans),
                row.note,
            ]
            out.append(line(values))
        return out

    def add_emulator(self, emulator: EmulatorProcess) -> None:
        """Add the emulator's counters (requests and injected faults) since its last reset."""
        counts = emulator.faults()["counts"]
        self.faults += int(counts.get("errors", 0)) + int(counts.get("dropped", 0))
        self.delayed += int(counts.get("delayed", 0))
        self.requests += int(emulator.requests()["total"])


ROWS: list[Row] = []  # filled by the scenarios, printed by conftest.pytest_terminal_summary


def retries(operator: OperatorProcess) -> int:
    """The operator's retry counter (0 if it is not running)."""
    try:
        return int(operator.metric(RETRIES))
    except OSError:
        return 0


# ---- many objects ---------------------------------------------------------------------------------------
@dataclass
class Fleet:
    """Objects ``<prefix>-<i>`` in one namespace; specs vary a little so that settings differ per object."""

    policies: Policies
    namespace: str
    count: int
    prefix: str = "obj"
    spec: dict[str, Any] = field(default_factory=dict)
    uids: dict[str, str] = field(default_factory=dict)  # name -> uid
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> spec patched in

    def name(self, i: int) -> str:
        return f"{self.prefix}-{i:03d}"

    def spec_of(self, i: int) -> dict[str, Any]:
        return {
            "enforcement": ("Check", "Enforce", "Skip")[i % 3],
            "usage": ("NotApproved", "Approved")[i % 2],
            **self.spec,
            **self.overrides.get(self.name(i), {}),
        }

    def patch(self, names: list[str], spec: dict[str, Any]) -> None:
        for name in names:
            self.policies.patch_spec(self.namespace, name, spec)
            self.overrides[name] = {**self.overrides.get(name, {}), **spec}

    def create(self) -> None:
        for i in range(self.count):
            obj = self.policies.create(self.namespace, self.name(i), **self.spec_of(i))
            self.uids[self.name(i)] = obj["metadata"]["uid"]

    def items(self) -> list[dict[str, Any]]:
        listing = self.policies.objects.list_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL)
        return [o for o in listing["items"] if o["metadata"]["name"] in self.uids]

    def not_ready(self) -> list[str]:
        """Names of the objects that are not Ready=True for their current generation."""
        pending = set(self.uids)
        for obj in self.items():
            ready = condition(obj, "Ready")
            if (
                ready is not None
                and ready["status"] == "True"
                and ready.get("observedGeneration") == obj["metadata"]["generation"]
                and (obj.get("status") or {}).get("appliedGeneration") == obj["metadata"]["generation"]
            ):
                pending.discard(obj["metadata"]["name"])
        return sorted(pending)

    def wait_ready(self, timeout: float) -> float:
        """Wait until every object is Ready; return the seconds it took."""
        start = time.monotonic()
        wait_for(lambda: not self.not_ready(), timeout=timeout, interval=0.5, what="all objects Ready")
        return time.monotonic() - start

    def delete(self, names: list[str] | None = None) -> None:
        for name in names if names is not None else list(self.uids):
            self.policies.delete(self.namespace, name)

    def wait_gone(self, timeout: float, names: list[str] | None = None) -> float:
        start = time.monotonic()
        wanted = set(names if names is not None else self.uids)

        def gone() -> bool:
            return not {o["metadata"]["name"] for o in self.items()} & wanted

        wait_for(gone, timeout=timeout, interval=0.5, what="objects gone")
        return time.monotonic() - start

    def expected(self) -> dict[str, dict[str, Any]]:
        """uid -> the spec each live object was created with (policy_body's defaults included)."""
        return {
            uid: policy_body(self.namespace, name, **self.spec_of(int(name.rsplit("-", 1)[1])))["spec"]
            for name, uid in self.uids.items()
        }


def expected_settings(spec: dict[str, Any]) -> dict[str, Any]:
    """Policy type -> value that the spec asks for (the seed settings plus additionalSettings)."""
    wanted: dict[str, Any] = {
        P_APPROVED: ENFORCEMENT[spec.get("enforcement", "Check")],
        P_USAGE: USAGE[spec.get("usage", "NotApproved")],
    }
    for extra in spec.get("additionalSettings") or []:
        wanted[extra["type"]] = extra.get("value", extra.get("valueSource"))
    return wanted


@dataclass
class Verdict:
    duplicates: int
    orphans: int
    problems: list[str]

    def assert_clean(self) -> None:
        assert (self.duplicates, self.orphans, self.problems) == (0, 0, []), self


def check_invariants(
    gr: Guardrails, live: dict[str, dict[str, Any]], orphaned: frozenset[str] = frozenset()
) -> Verdict:
    """Check the emulator's state against ``live`` (uid -> spec of every existing object); packs of
    ``orphaned`` uids (deleted with deletionPolicy Orphan) may stay and are not orphans."""
    problems: list[str] = []
    owned: dict[str, list[dict[str, Any]]] = {}
    for res in gr.resources:
        if res["type_uri"] != T_PACK:
            continue
        for aka in res.get("akas") or []:
            if (uid := owner_uid(aka)) is not None:
                owned.setdefault(uid, []).append(res)
    duplicates = sum(len(packs) - 1 for packs in owned.values() if len(packs) > 1)
    orphans = [uid for uid in owned if uid not in live and uid not in orphaned]
    for uid, spec in live.items():
        packs = owned.get(uid, [])
        if len(packs) != 1:
            problems.append(f"{uid}: {len(packs)} packs")
            continue
        pack_id = packs[0]["id"]
        settings = {s["type_uri"]: s for s in gr.state["settings"] if s["resource_id"] == pack_id}
        wanted = expected_settings(spec)
        actual = {t: s["value_source"] if s.get("via_source") else s["value"] for t, s in settings.items()}
        if actual != wanted:
            problems.append(f"{uid}: settings {actual} != {wanted}")
        wanted_precedence = "RECOMMENDED" if spec.get("precedence") == "Recommended" else "REQUIRED"
        if any(s["precedence"] != wanted_precedence for s in settings.values()):
            problems.append(f"{uid}: precedence is not {wanted_precedence}")
        for target in (a["resource"] for a in spec.get("attachments") or []):
            target_id = gr.resource_id(target)
            if pack_id not in gr.state["attachments"].get(target_id, []):
                problems.append(f"{uid}: not attached to {target}")
            elif gr.state["attachments"][target_id].count(pack_id) != 1:
                problems.append(f"{uid}: attached twice to {target}")
    pack_ids = {r["id"] for r in gr.resources if r["type_uri"] == T_PACK}
    for target_id, attached in gr.state["attachments"].items():
        dangling = [p for p in attached if p not in pack_ids]
        if dangling:
            problems.append(f"target {target_id}: attachments of deleted packs {dangling}")
    live_pack_ids = {p["id"] for packs in owned.values() for p in packs}
    stray = [s["id"] for s in gr.state["settings"] if s["resource_id"] not in live_pack_ids | pack_ids]
    if stray:
        problems.append(f"settings without a pack: {stray}")
    return Verdict(duplicates=duplicates, orphans=len(orphans), problems=problems)


def faults_mix(rate: float = 0.17, drop: float = 0.09, latency: tuple[int, int] = (0, 250)) -> dict[str, Any]:
    """The transient mix of the fault scenarios: 5xx and 429 (with Retry-After), dropped connections and
    latency spikes on every request."""
    return {
        "rate": rate,
        "statuses": [429, 500, 502, 503, 504, 529],
        "retryAfter": 1,
        "dropRate": drop,
        "latencyMs": list(latency),
    }
