"""The exceptions scenario of ``make bench`` (``hack/bench.py`` runs it last; ``BENCH_ONLY=exceptions`` alone).

N policies (``BENCH_EXC_POLICIES``, default 1000) in 10 namespaces attached to 10 accounts, the activity feed on
(``BENCH_FEED_INTERVAL``, 5 s), policies at ``resyncInterval: 1h``; once they are all Ready:

1. the operator's peak RSS (VmHWM) with the policies alone;
2. ``BENCH_EXC_PER_POLICY`` (10) exceptions on each of the first ``BENCH_EXC_WITH`` (100) policies, one
   repository each, every repository under its policy's account (the emulator's fixture holds them): the time
   from the first create to every exception ``Ready=True``, and the Guardrails requests that took;
3. steady state for ``BENCH_EXC_STEADY`` seconds (default 180) with ``ECR_PRIVACY_EXCEPTION_RESYNC`` =
   ``BENCH_EXC_RESYNC`` (60): Guardrails requests by operation, the exceptions' own (``ReadExceptionChecks``)
   against the bound "one request per policy with exceptions per exception resync", the rest against "feed
   polls + policies / resyncInterval", and Kubernetes writes to exceptions (0 expected: a check that finds
   everything as it was writes nothing);
4. the operator's peak RSS with the policies and the exceptions.
"""

from __future__ import annotations

import datetime
import threading
import time
from pathlib import Path
from typing import Any

from hack import feed_scenario
from hack.bench import GROUP, VERSION, Run, Scenario, Watcher, account, emulator_fixture, proc_stats, say
from kubernetes import client as k8s

EXCEPTIONS = "ecrprivacyexceptions"
RESYNC = 3600  # the policies' own resyncInterval
CHECKS = "ReadExceptionChecks"


def repository(policy: int, j: int) -> str:
    return f"x-{policy:04d}-{j}"


def fixture(targets: int, policies: int, per_policy: int) -> dict[str, Any]:
    """The bench's accounts, each also holding the repositories the exceptions of its policies name."""
    repos: dict[int, list[str]] = {t: [] for t in range(targets)}
    for p in range(policies):
        repos[p % targets] += [repository(p, j) for j in range(per_policy)]
    return emulator_fixture(targets, repos)


class ExceptionsRun(Run):
    """A bench run with policies at 1h, then exceptions on some of them, the feed on."""

    def __init__(
        self,
        scenario: Scenario,
        workdir: Path,
        *,
        with_exceptions: int,
        per_policy: int,
        exception_resync: float,
        steady: float,
        interval: float,
    ) -> None:
        super().__init__(scenario, workdir, RESYNC, workdir)
        self.with_exceptions = min(with_exceptions, scenario.n)
        self.per_policy = per_policy
        self.exception_resync = exception_resync
        self.steady_seconds = steady
        self.interval = interval
        self.result = {"scenario": f"exceptions {scenario.label}"}
        self.exception_keys = [
            (key, i, j) for i, key in enumerate(self.keys[: self.with_exceptions]) for j in range(per_policy)
        ]
        self.exception_watcher: Watcher | None = None

    def operator_env(self) -> dict[str, str]:
        return {
            "ECR_PRIVACY_FEED_INTERVAL": f"{self.interval:g}",
            "ECR_PRIVACY_EXCEPTION_RESYNC": f"{self.exception_resync:g}",
        }

    def fixture(self) -> dict[str, Any]:
        return fixture(self.s.targets, self.with_exceptions, self.per_policy)

    def start(self) -> None:
        super().start()
        self.cluster.kubectl(
            "wait", "--for=condition=Established", f"crd/{EXCEPTIONS}.{GROUP}", "--timeout=60s"
        )
        assert self.api
        self.exception_watcher = Watcher(self.api, plural=EXCEPTIONS)
        threading.Thread(target=self.exception_watcher.run, daemon=True).start()

    # -- phases -----------------------------------------------------------------------------------------------
    def exceptions_first_sync(self) -> None:
        assert self.api
        assert self.exception_watcher
        objects = k8s.CustomObjectsApi(self.api)
        expires = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=30)).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )

        def create(item: tuple[str, int, int]) -> None:
            key, i, j = item
            ns, policy = key.split("/")
            body = {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "EcrPrivacyException",
                "metadata": {"name": f"e-{i:04d}-{j}", "namespace": ns},
                "spec": {
                    "policyRef": {"name": policy},
                    "repositories": [
                        f"arn:aws:ecr-public::{account(i % self.s.targets)}:repository/{repository(i, j)}"
                    ],
                    "reason": f"bench exception {j} of {policy}",
                    "expires": expires,
                },
            }
            objects.create_namespaced_custom_object(GROUP, VERSION, ns, EXCEPTIONS, body)

        names = [f"{key.split('/')[0]}/e-{i:04d}-{j}" for key, i, j in self.exception_keys]
        before = self.snapshot()
        self.parallel(create, self.exception_keys)
        apply_seconds = time.monotonic() - before["t"]
        deadline = time.monotonic() + 600
        while (done := self.exception_watcher.ready_count(names, 1)) < len(names):
            if time.monotonic() > deadline:
                raise RuntimeError(f"exceptions: only {done}/{len(names)} Ready after 600s")
            time.sleep(0.1)
        last = max(self.exception_watcher.ready[(k, 1)] for k in names)
        phase = self.delta(before)
        self.result["exceptions_first"] = {
            **phase,
            "exceptions": len(names),
            "apply_seconds": apply_seconds,
            "all_ready_seconds": last - before["t"],
        }

    def steady(self) -> None:
        time.sleep(max(10.0, self.exception_resync / 2))  # the first sync's status writes and echoes
        before = self.snapshot()
        time.sleep(self.steady_seconds)
        phase = self.delta(before)
        seconds = phase["seconds"]
        ops = phase["by_operation"]
        polls = ops.get("ReadActivityFeeds", 0)
        checks = ops.get(CHECKS, 0)
        self.result["steady"] = {
            **phase,
            "per_second": phase["requests"] / seconds,
            "polls_per_second": polls / seconds,
            "checks_per_second": checks / seconds,
            "checks_bound_per_second": self.with_exceptions / self.exception_resync,
            "others_per_second": (phase["requests"] - checks) / seconds,
            "others_bound_per_second": polls / seconds + self.s.n / RESYNC,
            "exceptions_daemon_per_second": 2 * len(self.exception_keys) / self.exception_resync,
        }

    def run(self) -> dict[str, Any]:
        label = self.result["scenario"]
        say(f"--- scenario {label}: starting the control plane, the emulator and the operator")
        self.start()
        try:
            say(f"{label}: applying {self.s.n} policies (resyncInterval {RESYNC}s)")
            self.first_sync()
            time.sleep(10)
            self.result["policies_alone_peak_rss"] = proc_stats(self.pid)["hwm"]
            say(
                f"{label}: policies Ready in {self.result['first']['all_ready_seconds']:.1f}s, peak RSS "
                f"{self.result['policies_alone_peak_rss']:.0f} MiB; applying {len(self.exception_keys)} exceptions"
            )
            self.exceptions_first_sync()
            say(
                f"{label}: exceptions Ready in {self.result['exceptions_first']['all_ready_seconds']:.1f}s; "
                f"steady state for {self.steady_seconds:.0f}s"
            )
            self.steady()
            self.finish()
        finally:
            self.stop()
        return self.result


def rows(result: dict[str, Any]) -> dict[str, str]:
    first, steady = result["exceptions_first"], result["steady"]
    exception_writes = sum(v for k, v in steady["writes"].items() if k.startswith(EXCEPTIONS))
    return {
        "policies: apply -> all Ready (s)": f"{result['first']['all_ready_seconds']:.1f}",
        "peak RSS, policies alone (MiB)": f"{result['policies_alone_peak_rss']:.0f}",
        "exceptions: apply (s)": f"{first['apply_seconds']:.1f}",
        "exceptions: apply -> all Ready (s)": f"{first['all_ready_seconds']:.1f} ({first['exceptions']})",
        "exceptions: Guardrails requests, first sync (by operation)": (
            f"{first['requests']}: " + ", ".join(f"{k} {v}" for k, v in sorted(first["by_operation"].items()))
        ),
        "steady: window (s)": f"{steady['seconds']:.0f}",
        "steady: Guardrails requests / s (all)": f"{steady['per_second']:.3f}",
        "  exception checks / s (measured)": f"{steady['checks_per_second']:.3f}",
        "  exception checks bound: policies with exceptions / exception resync (/ s)": (
            f"{steady['checks_bound_per_second']:.3f}"
        ),
        "  before: 2 reads / exception / resync (/ s)": f"{steady['exceptions_daemon_per_second']:.3f}",
        "  everything else / s (measured)": f"{steady['others_per_second']:.3f}",
        "  everything else bound: feed polls + policies / resyncInterval (/ s)": (
            f"{steady['others_bound_per_second']:.3f}"
        ),
        "  requests by operation": ", ".join(f"{k} {v}" for k, v in sorted(steady["by_operation"].items())),
        "steady: K8s writes to exceptions": str(exception_writes),
        "peak RSS, policies + exceptions (MiB)": f"{result['operator']['peak_rss']:.0f}",
        "operator CPU s, whole run": f"{result['operator']['cpu_total']:.1f}",
        "operator ERROR log lines": str(result["operator_errors"]),
        "passes not Succeeded": ", ".join(f"{k}: {v}" for k, v in result["failed_passes"].items()) or "0",
    }


def table(results: list[dict[str, Any]]) -> str:
    return feed_scenario.table(results, rows)
