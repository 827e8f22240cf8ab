"""The feed scenario of ``make bench`` (``hack/bench.py`` runs it): drift in seconds at constant cost.

With N objects (default 1000) at ``BENCH_FEED_RESYNC`` seconds (default 1800: the CRD's default
``resyncInterval``, 30m) and the operator following the activity feed
(``ECR_PRIVACY_FEED_INTERVAL``, default 5 s), once all are Ready:

1. steady state: Guardrails requests for ``BENCH_FEED_STEADY`` seconds (default 120), by operation, per second,
   against the bound "feed polls + N / resyncInterval" and today's "1 request per object per interval";
2. 20 console edits (``BENCH_FEED_EDITS``) to random objects, through the emulator's Console identity, in turn a
   setting value changed, a setting deleted and the pack renamed: detection (``status.drift`` seen by a watch)
   and correction (Guardrails as the spec says again, read as the Console) per edit, p50/p99/max;
3. a control state change: a new public repository under one target (its Approved control appears in alarm);
   the time until every object attached to that target counts it in ``status.compliance``.

Edits and reads go through ``/__emulator/console/graphql``: they are not counted as the operator's requests.

``BENCH_FEED_FAULTS`` runs the scenario once per emulator fault configuration, ``;``-separated JSON objects of
the emulator's fault keys (``{}``: none, the default), e.g. ``{};{"feedItemErrorRate":0.05};{"feedLateMs":20000}``:
set when the emulator starts, before the first object.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Callable
from typing import Any

from hack.bench import GROUP, P_APPROVED, PLURAL, VERSION, Run, Scenario, account, pct, say
from kubernetes import client as k8s

P_USAGE = "tmod:@turbot/aws-ecr#/policy/types/publicRepositoryApprovedUsage"
RESYNC = int(os.environ.get("BENCH_FEED_RESYNC", "1800"))  # the CRD's default resyncInterval
FEED_OPERATIONS = ("ReadActivityFeeds", "ReadActivities", "ControlSummariesByResource")
UPDATE_SETTING = (
    "mutation($input: UpdatePolicySettingInput!) { updatePolicySetting(input: $input) { value } }"
)
DELETE_SETTING = (
    "mutation($input: DeletePolicySettingInput!) { deletePolicySetting(input: $input) { turbot { id } } }"
)
RENAME_PACK = "mutation($input: UpdateSmartFolderInput!) { updateSmartFolder(input: $input) { title } }"
READ_PACK = """query($id: ID!, $filter: [String!]) {
  pack: resource(id: $id, options: {notFound: RETURN_NULL}) { turbot { title } }
  policySettings(filter: $filter) { items { value type { uri } } }
}"""
KINDS = ("setting value", "setting deleted", "pack renamed")


class FeedRun(Run):
    """A bench run with the feed on, long resyncs, console edits and a control change."""

    def __init__(
        self,
        scenario: Scenario,
        workdir: Any,
        steady: float,
        edits: int,
        interval: float,
        faults: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(scenario, workdir, RESYNC, workdir)
        self.steady_seconds = steady
        self.edits = edits
        self.interval = interval
        self.faults = faults or {}
        label = f"feed {scenario.label}"
        if self.faults:
            label += " " + ", ".join(f"{k}={v}" for k, v in sorted(self.faults.items()))
        self.result = {"scenario": label}

    def operator_env(self) -> dict[str, str]:
        return {"ECR_PRIVACY_FEED_INTERVAL": f"{self.interval:g}"}

    # -- reading Guardrails as the console --------------------------------------------------------------------
    def pack_state(self, pack_id: str) -> tuple[str | None, dict[str, Any]]:
        data = self.emulator.console(READ_PACK, {"id": pack_id, "filter": [f"resource:{pack_id} level:self"]})
        title = (data["pack"] or {}).get("turbot", {}).get("title")
        return title, {s["type"]["uri"]: s["value"] for s in data["policySettings"]["items"]}

    def status(self, key: str) -> dict[str, Any]:
        assert self.api
        ns, name = key.split("/")
        obj = k8s.CustomObjectsApi(self.api).get_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name)
        return dict(obj.get("status") or {})

    # -- phases -----------------------------------------------------------------------------------------------
    def steady(self) -> None:
        time.sleep(10)  # the first sync's last status writes and echoes
        before = self.snapshot()
        time.sleep(self.steady_seconds)
        phase = self.delta(before)
        seconds = phase["seconds"]
        ops = phase["by_operation"]
        polls = sum(v for k, v in ops.items() if k in ("ReadActivityFeeds",))
        self.result["steady"] = {
            **phase,
            "per_second": phase["requests"] / seconds,
            "polls_per_second": polls / seconds,
            "bound_per_second": polls / seconds + self.s.n / RESYNC,
            "today_5m_per_second": self.s.n / 300,
            "today_1h_per_second": self.s.n / RESYNC,
        }

    def console_edits(self) -> None:
        rng = random.Random(16)
        picked = rng.sample(self.keys, self.edits)
        originals: dict[str, tuple[str, str | None, dict[str, Any]]] = {}
        edited: dict[str, float] = {}
        for i, key in enumerate(picked):
            status = self.status(key)
            pack_id = status["policyPack"]["id"]
            originals[key] = (pack_id, *self.pack_state(pack_id))
            settings = {s["type"]: s["id"] for s in status["settings"]}
            kind = KINDS[i % len(KINDS)]
            if kind == "setting value":
                self.emulator.console(
                    UPDATE_SETTING, {"input": {"id": settings[P_APPROVED], "value": "Skip"}}
                )
            elif kind == "setting deleted":
                self.emulator.console(DELETE_SETTING, {"input": {"id": settings[P_USAGE]}})
            else:
                self.emulator.console(
                    RENAME_PACK, {"input": {"id": pack_id, "title": "renamed in the console"}}
                )
            edited[key] = time.monotonic()
            time.sleep(0.5)  # edits spread over ten seconds, as people make them
        corrected: dict[str, float] = {}
        deadline = time.monotonic() + 120

        def back(key: str) -> bool:
            pack_id, title, settings = originals[key]
            return self.pack_state(pack_id) == (title, settings)

        while len(corrected) < len(picked) and time.monotonic() < deadline:
            waiting = [k for k in picked if k not in corrected]
            for key, done in zip(waiting, self.parallel(back, waiting), strict=True):
                if done:
                    corrected[key] = time.monotonic()
            time.sleep(0.1)
        time.sleep(1)
        assert self.watcher
        detect = [self.watcher.drift[k] - edited[k] for k in picked if k in self.watcher.drift]
        correct = [corrected[k] - edited[k] for k in picked if k in corrected]
        self.result["edits"] = {
            "edits": len(picked),
            "detected": len(detect),
            "corrected": len(correct),
            "detect": [pct(detect, 50), pct(detect, 99), max(detect)] if detect else None,
            "correct": [pct(correct, 50), pct(correct, 99), max(correct)] if correct else None,
        }

    def control_change(self) -> None:
        target = 0
        attached = [k for i, k in enumerate(self.keys) if i % self.s.targets == target]
        before = {k: self.status(k)["compliance"]["total"] for k in attached}
        self.emulator.add_resource(f"arn:aws:::{account(target)}", "feed-bench-new")
        changed = time.monotonic()
        seen: dict[str, float] = {}
        deadline = changed + 60
        while len(seen) < len(attached) and time.monotonic() < deadline:
            for key in attached:
                if key not in seen and self.status(key)["compliance"]["total"] > before[key]:
                    seen[key] = time.monotonic() - changed
            time.sleep(0.2)
        self.result["control"] = {
            "objects": len(attached),
            "counted": len(seen),
            "all_seconds": max(seen.values()) if len(seen) == len(attached) else None,
        }

    def passes_by_trigger(self) -> dict[str, int]:
        assert self.operator
        found: dict[str, int] = {}
        for (name, labels), value in self.operator.metrics().items():
            if name == "ecrprivacy_reconcile_total" and value:
                trigger = dict(labels)["trigger"]
                found[trigger] = found.get(trigger, 0) + int(value)
        return found

    def run(self) -> dict[str, Any]:
        label = self.result["scenario"]
        say(f"--- scenario {label}: starting the control plane, the emulator and the operator")
        self.start()
        try:
            if self.faults:
                self.emulator.set_faults(self.faults)
            say(f"{label}: applying {self.s.n} objects (resyncInterval {RESYNC}s)")
            self.first_sync()
            say(f"{label}: all Ready in {self.result['first']['all_ready_seconds']:.1f}s; steady state")
            self.steady()
            say(f"{label}: {self.edits} console edits")
            self.console_edits()
            say(f"{label}: a control state change")
            self.control_change()
            self.finish()
            self.result["passes"] = self.passes_by_trigger()
        finally:
            self.stop()
        return self.result


def rows(result: dict[str, Any]) -> dict[str, str]:
    steady, edits, control = result["steady"], result["edits"], result["control"]

    def trio(values: list[float] | None) -> str:
        return "-" if values is None else " / ".join(f"{v:.1f}" for v in values)

    return {
        "apply -> all Ready (s)": f"{result['first']['all_ready_seconds']:.1f}",
        "steady state: Guardrails requests / s (measured)": f"{steady['per_second']:.3f}",
        "  of which feed polls / s": f"{steady['polls_per_second']:.3f}",
        "  bound: polls + N / resyncInterval (/ s)": f"{steady['bound_per_second']:.3f}",
        "  today, 1 request / object / interval at 5m (resyncInterval) (/ s)": (
            f"{steady['today_5m_per_second']:.2f} ({steady['today_1h_per_second']:.2f})"
        ),
        "  requests by operation": ", ".join(f"{k} {v}" for k, v in sorted(steady["by_operation"].items())),
        "console edits detected / corrected": f"{edits['detected']} / {edits['corrected']} of {edits['edits']}",
        "edit -> detected p50 / p99 / max (s)": trio(edits["detect"]),
        "edit -> corrected p50 / p99 / max (s)": trio(edits["correct"]),
        "control change -> counted by all objects on the target (s)": (
            "-"
            if control["all_seconds"] is None
            else f"{control['all_seconds']:.1f} ({control['objects']} objects)"
        ),
        "passes by trigger, whole run": ", ".join(f"{k} {v}" for k, v in sorted(result["passes"].items())),
        "operator CPU s, whole run": f"{result['operator']['cpu_total']:.1f}",
        "operator ERROR log lines": str(result["operator_errors"]),
        "passes not Succeeded": ", ".join(f"{k}: {v}" for k, v in result["failed_passes"].items()) or "0",
    }


def table(results: list[dict[str, Any]], rows_of: Callable[[dict[str, Any]], dict[str, str]] = rows) -> str:
    """One column per result (``rows_of``: its metric rows; the exceptions scenario has its own)."""
    columns = [(r["scenario"], rows_of(r)) for r in results]
    header = ["metric", *[label for label, _ in columns]]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name in columns[0][1]:
        lines.append("| " + " | ".join([name, *[col[name] for _, col in columns]]) + " |")
    return "\n".join(lines)


def fault_configs(text: str) -> list[dict[str, Any]]:
    """``BENCH_FEED_FAULTS``: ``;``-separated JSON objects (an empty text: one run without faults)."""
    configs = [json.loads(part) for part in text.split(";") if part.strip()]
    return configs or [{}]
