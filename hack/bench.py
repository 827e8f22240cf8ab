"""``make bench``: how light and fast the operator is, measured end to end, and where its limits are.

For each scenario (N objects, an emulator latency, a number of attachment targets) it starts a fresh local
control plane (kube-apiserver + etcd), the Guardrails emulator and the operator exactly as in production
(``python -m ecr_privacy_operator``, cluster-wide, as a ServiceAccount bound to the shipped deploy/rbac rules,
metrics on), then:

1. creates N EcrPrivacyPolicy objects spread over 10 namespaces (unique pack AKAs) and times apply -> Ready
   (all, and p50/p95/p99 per object, from a watch); counts Guardrails requests (server side, the emulator's
   counter) and Kubernetes writes (kube-apiserver's ``apiserver_request_total``) for this first sync;
2. stays idle for 1.25 resync intervals: Guardrails requests and Kubernetes writes per idle resync, operator
   CPU per resync (resyncs counted by the operator's ``ecrprivacy_reconcile_total{trigger="resync"}``);
3. changes one field on every object (``enforcement: Enforce``) and counts the same again;
4. edits a setting of a few objects through the emulator's GraphQL as the Guardrails console would, and times
   detection (``status.drift`` / ``Drifted=True``) and correction (the value back in the emulator);
5. reads the operator's peak RSS (VmHWM) and CPU seconds from /proc.

Requests made during a phase by resyncs of objects that were already done are subtracted (each costs what an
idle resync costs). ``BENCH_SIZES`` (default 1,10,100,1000), ``BENCH_LATENCY_SIZES`` (sizes also run with
``BENCH_LATENCY_MS``, default 100 ms, default 1,10,100), ``BENCH_SHARED_SIZES`` (sizes also run with every
object attached to ONE shared target, default 100,1000), ``BENCH_TARGETS`` (distinct targets otherwise, 10, or
N / ``BENCH_PACKS_PER_TARGET`` when that is more: default 100 packs per target at most, so N=3000 attaches to
30 accounts and N=10,000 to 100, as a platform team with thousands of accounts would; 0 keeps 10 at every N),
``BENCH_RESYNC`` (seconds, 20: short, so that the idle phase holds about 1.25 resyncs of every object; with
the default 30m it would last 38 minutes), ``BENCH_PROFILE=1`` (profile the operator with pyinstrument in the first
scenario of the largest size; needs ``pip install -e '.[bench]'``), ``BENCH_SPY=1`` (sample the operator's
stacks with py-spy during the first sync and the idle phase of every scenario, ``hack/stack_sampler.py``: low
overhead, so the phase's figures stay comparable; also in the ``bench`` extra). ``--json PATH`` writes the raw results.

These scenarios run with the activity feed off (they measure resyncs). The feed scenario
(``hack/feed_scenario.py``: N objects at the default resyncInterval, steady-state requests, 20 console edits, a control
change) runs for ``BENCH_FEED_SIZES`` (default 1000) at each of ``BENCH_FEED_LATENCIES`` (ms, default 0,100),
polling every ``BENCH_FEED_INTERVAL`` seconds (5), once per emulator fault configuration of ``BENCH_FEED_FAULTS``
(default none). The fairness scenario (``hack/fairness_scenario.py``: tenant B's 20 new policies and a console
edit, alone and beside tenant A's 200 failing ones; ``BENCH_FAIR_A``, ``BENCH_FAIR_B``, ``BENCH_FAIR_SOAK``)
runs next, and the exceptions scenario last. ``BENCH_ONLY`` (a comma-separated list of ``resync``, ``feed``,
``fairness``, ``exceptions``) runs only those. The exceptions scenario (``hack/exceptions_scenario.py``: ``BENCH_EXC_POLICIES`` policies
(1000), 10 exceptions on each of 100 of them; first sync, steady requests, peak RSS with and without them).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import datetime
import json
import os
import platform
import re
import shutil
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hack import stack_sampler  # noqa: E402
from kubernetes import client as k8s  # noqa: E402
from kubernetes import config as k8s_config  # noqa: E402
from kubernetes import watch as k8s_watch  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402
from tests.controlplane import build  # noqa: E402
from tests.controlplane.harness import ControlPlane, process_alive  # noqa: E402
from tests.fixtures.emulator import ADMIN_KEY, EmulatorProcess  # noqa: E402
from tests.fixtures.kube import GROUP, PLURAL, VERSION  # noqa: E402
from tests.fixtures.operator import OperatorProcess, install_service_account  # noqa: E402

NAMESPACES = 10
GROUPS = frozenset({"resync", "feed", "fairness", "exceptions"})  # the scenario groups BENCH_ONLY names
P_APPROVED = "tmod:@turbot/aws-ecr#/policy/types/publicRepositoryApproved"
WRITE_VERBS = {"POST", "PUT", "PATCH", "DELETE", "APPLY"}
UPDATE_SETTING = (
    "mutation($input: UpdatePolicySettingInput!) { updatePolicySetting(input: $input) { value } }"
)
READ_SETTING = "query($id: ID!) { policySetting(id: $id) { value } }"
CLK_TCK = os.sysconf("SC_CLK_TCK")
STARTED = time.monotonic()


def say(message: str) -> None:
    print(f"[bench {time.monotonic() - STARTED:6.1f}s] {message}", flush=True)


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))]


def account(i: int) -> str:
    return f"{100000000000 + i}"


def policy_body(ns: str, name: str, target: str, resync: str) -> dict[str, Any]:
    """A bench policy: the namespace's workspace, a unique AKA, one target."""
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "EcrPrivacyPolicy",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "workspaceRef": {"name": "guardrails"},
            "policyPack": {"akas": [f"bench:{ns}:{name}"]},
            "attachments": [{"resource": target}],
            "resyncInterval": resync,
        },
    }


def emulator_fixture(targets: int, repositories: dict[int, list[str]] | None = None) -> dict[str, Any]:
    """``targets`` AWS accounts, each with a region holding one (old) public repository ``r``, and in account
    ``i`` also the (old) ``repositories[i]`` (the exceptions scenario names them)."""
    more = repositories or {}
    return {
        "resources": [
            {
                "type": "folder",
                "title": "Bench",
                "akas": ["bench"],
                "children": [
                    {
                        "type": "account",
                        "accountId": account(i),
                        "children": [
                            {
                                "type": "region",
                                "name": "us-east-1",
                                "children": [
                                    {"type": "publicRepository", "name": name, "createdAt": "-2d"}
                                    for name in ["r", *more.get(i, [])]
                                ],
                            }
                        ],
                    }
                    for i in range(targets)
                ],
            }
        ]
    }


# ---- process and server readings -------------------------------------------------------------------------
def proc_stats(pid: int) -> dict[str, float]:
    """CPU seconds (user + system), current and peak RSS in MiB of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK
    status = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line
    )
    kib = {k: float(status[k].split()[0]) for k in ("VmRSS", "VmHWM")}
    return {"cpu": cpu, "rss": kib["VmRSS"] / 1024, "hwm": kib["VmHWM"] / 1024}


def kube_writes(cluster: ControlPlane) -> Counter[str]:
    """Mutating requests served by kube-apiserver so far, by resource[/subresource] (ours and Events)."""
    d = cluster.run_dir
    assert d is not None
    ctx = ssl.create_default_context(cafile=str(d / "serving-ca.crt"))
    ctx.load_cert_chain(d / "admin.crt", d / "admin.key")
    with urllib.request.urlopen(cluster.server + "/metrics", context=ctx, timeout=30) as response:  # noqa: S310
        text = response.read().decode()
    counts: Counter[str] = Counter()
    for family in text_string_to_metric_families(text):
        if family.name != "apiserver_request":
            continue
        for sample in family.samples:
            labels = sample.labels
            if sample.name != "apiserver_request_total" or labels.get("verb") not in WRITE_VERBS:
                continue
            if labels.get("resource") not in ("ecrprivacypolicies", "ecrprivacyexceptions", "events"):
                continue
            key = labels["resource"] + (f"/{labels['subresource']}" if labels.get("subresource") else "")
            counts[key] += int(sample.value)
    return counts


# ---- watching objects ---------------------------------------------------------------------------------------
@dataclass
class Watcher:
    """Records, per object, when each generation first became Ready and when drift first showed."""

    api: k8s.ApiClient
    plural: str = PLURAL  # the kind watched (the exceptions scenario watches exceptions too)
    ready: dict[tuple[str, int], float] = field(default_factory=dict)
    drift: dict[str, float] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _see(self, obj: dict[str, Any]) -> None:
        meta, status = obj["metadata"], obj.get("status") or {}
        key = f"{meta['namespace']}/{meta['name']}"
        now = time.monotonic()
        conditions = {c["type"]: c for c in status.get("conditions") or []}
        ready = conditions.get("Ready", {})
        with self.lock:
            gen = int(meta.get("generation", 1))
            if ready.get("status") == "True" and status.get("observedGeneration") == gen:
                self.ready.setdefault((key, gen), now)
            if status.get("drift") or conditions.get("Drifted", {}).get("status") == "True":
                self.drift.setdefault(key, now)

    def run(self) -> None:
        objects = k8s.CustomObjectsApi(self.api)
        version = ""
        while not self.stop.is_set():
            try:
                if not version:
                    listing = objects.list_cluster_custom_object(GROUP, VERSION, self.plural)
                    for item in listing["items"]:
                        self._see(item)
                    version = listing["metadata"]["resourceVersion"]
                stream = k8s_watch.Watch().stream(
                    objects.list_cluster_custom_object, GROUP, VERSION, self.plural,
                    resource_version=version, timeout_seconds=5, allow_watch_bookmarks=True,
                )  # fmt: skip
                for event in stream:
                    obj = event["object"]
                    version = obj["metadata"].get("resourceVersion", version)
                    if event["type"] in ("ADDED", "MODIFIED"):
                        self._see(obj)
                    if self.stop.is_set():
                        break
            except k8s.ApiException:
                version = ""  # 410 Gone: list again
            except Exception:
                time.sleep(0.2)

    def ready_count(self, keys: list[str], generation: int) -> int:
        with self.lock:
            return sum(1 for k in keys if (k, generation) in self.ready)


# ---- one scenario ---------------------------------------------------------------------------------------------
@dataclass
class Scenario:
    n: int
    latency_ms: float = 0.0
    targets: int = 10
    profile: bool = False

    @property
    def label(self) -> str:
        parts = [f"N={self.n}"]
        if self.latency_ms:
            parts.append(f"{self.latency_ms:g}ms")
        if self.targets == 1:
            parts.append("1 target")
        return " ".join(parts)


class ProfiledOperator(OperatorProcess):
    """The operator under pyinstrument (same process, same arguments)."""

    profile_out: Path = Path()

    def command(self) -> list[str]:
        cmd = super().command()
        assert cmd[1:3] == ["-m", "ecr_privacy_operator"]
        profiler = ["-m", "pyinstrument", "-r", "text", "-o", str(self.profile_out)]
        return [cmd[0], *profiler, *cmd[1:]]

    def stop(self) -> int | None:
        """SIGINT first: pyinstrument writes its report when the program ends by KeyboardInterrupt (a 3000-object
        run's report took over a minute, and a SIGKILL then left an empty file)."""
        if self.pid is not None and self.alive:
            os.kill(self.pid, signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                assert self._proc is not None
                self._proc.wait(timeout=600)  # the report of a long run takes minutes to write
        return super().stop()


class Run:
    def __init__(self, scenario: Scenario, workdir: Path, resync: int, profile_dir: Path) -> None:
        self.s = scenario
        self.workdir = workdir
        self.resync = resync
        self.profile_dir = profile_dir
        self.cluster = ControlPlane(run_dir=workdir / "kube")
        extra = ["--latency-ms", str(scenario.latency_ms)] if scenario.latency_ms else []
        fixture = workdir / "fixture.json"
        self.emulator = EmulatorProcess(workdir=workdir / "emulator", fixture=fixture, extra_args=extra)
        self.operator: OperatorProcess | None = None
        self.api: k8s.ApiClient | None = None
        self.watcher: Watcher | None = None
        self.keys = [f"bench-{i % NAMESPACES}/p-{i:04d}" for i in range(scenario.n)]
        self.result: dict[str, Any] = {"scenario": scenario.label}

    # -- set-up -------------------------------------------------------------------------------------------------
    def start(self) -> None:
        (self.workdir / "emulator").mkdir(parents=True)
        (self.workdir / "fixture.json").write_text(json.dumps(self.fixture()))
        self.cluster.start()
        for crd in sorted((ROOT / "deploy" / "crds").glob("*.yaml")):
            self.cluster.kubectl("apply", "--server-side", "-f", str(crd))
        crds = [
            f"crd/{plural}.{GROUP}"
            for plural in (PLURAL, "guardrailsworkspaces", "clusterguardrailsworkspaces")
        ]
        self.cluster.kubectl("wait", "--for=condition=Established", *crds, "--timeout=60s")
        namespaces = [f"bench-{i}" for i in range(min(NAMESPACES, self.s.n))]
        kubeconfig = install_service_account(self.cluster, namespaces)
        self.api = k8s_config.new_client_from_config(config_file=str(self.cluster.admin_kubeconfig))
        self.api.configuration.connection_pool_maxsize = 16
        self.emulator.start()
        core = k8s.CoreV1Api(self.api)
        objects = k8s.CustomObjectsApi(self.api)
        for ns in namespaces:  # each namespace: its Secret and the GuardrailsWorkspace that binds it
            data = {"accessKey": ADMIN_KEY[0], "secretKey": ADMIN_KEY[1]}
            core.create_namespaced_secret(
                ns, k8s.V1Secret(metadata=k8s.V1ObjectMeta(name="guardrails-credentials"), string_data=data)
            )
            workspace = {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "GuardrailsWorkspace",
                "metadata": {"name": "guardrails", "namespace": ns},
                "spec": {
                    "url": self.emulator.url,
                    "credentialsSecretRef": {"name": "guardrails-credentials"},
                },
            }
            objects.create_namespaced_custom_object(GROUP, VERSION, ns, "guardrailsworkspaces", workspace)
        cls = ProfiledOperator if self.s.profile else OperatorProcess
        env = {
            "ECR_PRIVACY_MAX_BACKOFF": "30",
            "ECR_PRIVACY_LOG_FORMAT": "plain",
            "ECR_PRIVACY_ALLOWED_HOSTS": "http://127.0.0.1:*",  # the emulator: plain HTTP, any port
            **self.operator_env(),
        }
        self.operator = cls(kubeconfig=kubeconfig, workdir=self.workdir / "operator", env=env)
        if isinstance(self.operator, ProfiledOperator):
            self.operator.profile_out = self.profile_dir / f"profile-{self.s.n}.txt"
        self.operator.start()
        self.watcher = Watcher(self.api)
        threading.Thread(target=self.watcher.run, daemon=True).start()

    def fixture(self) -> dict[str, Any]:
        """The emulator's fixture (the exceptions scenario adds the repositories its exceptions name)."""
        return emulator_fixture(self.s.targets)

    def operator_env(self) -> dict[str, str]:
        """Settings of this run's operator on top of the bench's (the feed scenario adds its own)."""
        return {"ECR_PRIVACY_FEED_INTERVAL": "0"}  # these phases measure resyncs; the feed has its scenario

    def stop(self) -> None:
        if self.watcher:
            self.watcher.stop.set()
        if self.operator:
            self.operator.stop()
        self.emulator.stop()
        if self.api:
            self.api.close()
        self.cluster.stop()

    # -- helpers ----------------------------------------------------------------------------------------------
    @property
    def pid(self) -> int:
        assert self.operator
        assert self.operator.pid
        return self.operator.pid

    def resyncs(self) -> float:
        assert self.operator
        return self.operator.metric("ecrprivacy_reconcile_total", trigger="resync")

    def requests(self) -> dict[str, Any]:
        """The emulator's request counters (cumulative: phases take differences, so nothing is lost)."""
        return self.emulator.requests()

    def snapshot(self, end: bool = False) -> dict[str, Any]:
        """The counters now. The operator's CPU is read after its metrics at the start of a phase and before
        them at its end: a scrape (22 series per object, ~0.01 ms of CPU per object) is not the phase's work."""
        proc = proc_stats(self.pid) if end else None
        taken = {
            "t": time.monotonic(),
            "requests": self.requests(),
            "writes": kube_writes(self.cluster),
            "resyncs": self.resyncs(),
        }
        return {**taken, "proc": proc or proc_stats(self.pid)}

    def delta(self, before: dict[str, Any]) -> dict[str, Any]:
        after = self.snapshot(end=True)
        writes = after["writes"].copy()
        writes.subtract(before["writes"])
        operations = Counter(after["requests"]["byOperation"])
        operations.subtract(before["requests"]["byOperation"])
        return {
            "seconds": after["t"] - before["t"],
            "requests": after["requests"]["total"] - before["requests"]["total"],
            "by_operation": {k: v for k, v in operations.items() if v},
            "writes": {k: v for k, v in writes.items() if v},
            "cpu": after["proc"]["cpu"] - before["proc"]["cpu"],
            "resyncs": after["resyncs"] - before["resyncs"],
        }

    def parallel(self, fn: Any, items: list[Any]) -> list[Any]:
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            return list(pool.map(fn, items))

    def wait_ready(self, generation: int, what: str) -> None:
        assert self.watcher
        assert self.operator
        timeout = 120 + self.s.n * (0.5 + self.s.latency_ms / 50)
        deadline = time.monotonic() + timeout
        while (done := self.watcher.ready_count(self.keys, generation)) < self.s.n:
            if not self.operator.alive:
                raise RuntimeError(f"the operator died:\n{self.operator.tail()}")
            if not all(process_alive(pid) for pid in self.cluster.pids()):
                raise RuntimeError("the control plane stopped")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what}: only {done}/{self.s.n} Ready after {timeout:.0f}s")
            time.sleep(0.05)

    # -- phases -------------------------------------------------------------------------------------------------
    def first_sync(self) -> None:
        assert self.api
        assert self.watcher
        objects = k8s.CustomObjectsApi(self.api)
        applied: dict[str, float] = {}

        def create(index_key: tuple[int, str]) -> None:
            i, key = index_key
            ns, name = key.split("/")
            body = policy_body(ns, name, f"arn:aws:::{account(i % self.s.targets)}", f"{self.resync}s")
            objects.create_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, body)
            applied[key] = time.monotonic()

        before = self.snapshot()
        sampling = self.sampled("first", 30 + self.s.n * 0.05)
        self.parallel(create, list(enumerate(self.keys)))
        apply_seconds = time.monotonic() - before["t"]
        self.wait_ready(1, "first sync")
        phase = self.delta(before)  # before the sampler ends: its window may outlast the phase
        self.write_samples(sampling)
        per_object = [self.watcher.ready[(k, 1)] - applied[k] for k in self.keys]
        last = max(self.watcher.ready[(k, 1)] for k in self.keys)
        self.result["first"] = {
            **phase,
            "apply_seconds": apply_seconds,
            "all_ready_seconds": last - before["t"],
            "p50": pct(per_object, 50),
            "p95": pct(per_object, 95),
            "p99": pct(per_object, 99),
            "bench_writes": self.s.n,
            "rss_start": before["proc"]["rss"],  # the operator with no object yet: the baseline
        }

    def sampled(self, phase: str, seconds: float) -> Any:
        """With ``BENCH_SPY=1``: sample the operator's stacks for this phase (``.bench/spy-N-phase.txt``)."""
        if os.environ.get("BENCH_SPY", "") != "1":
            return None
        out = self.profile_dir / f"spy-{self.s.n}-{phase}.txt"
        return (stack_sampler.start(self.pid, seconds, out), out)

    def write_samples(self, sampling: Any) -> None:
        if sampling is None or sampling[0] is None:
            return
        process, out = sampling
        process.wait(timeout=120)
        if out.exists():
            out.with_suffix(".md").write_text(stack_sampler.summary(out) + "\n")
            say(f"{self.s.label}: sampled stacks in {out.with_suffix('.md')}")

    def idle(self) -> None:
        time.sleep(2)  # let the last Events and status writes of the first sync land
        before = self.snapshot()
        sampling = self.sampled("idle", self.resync * 1.25)
        time.sleep(self.resync * 1.25)
        self.write_samples(sampling)
        phase = self.delta(before)
        phase["rss"] = proc_stats(self.pid)["rss"]
        self.result["idle"] = phase

    def change(self) -> None:
        assert self.api
        objects = k8s.CustomObjectsApi(self.api)

        def patch(key: str) -> None:
            ns, name = key.split("/")
            objects.patch_namespaced_custom_object(
                GROUP, VERSION, ns, PLURAL, name, {"spec": {"enforcement": "Enforce"}}
            )

        before = self.snapshot()
        self.parallel(patch, self.keys)
        self.wait_ready(2, "one-field change")
        phase = self.delta(before)
        phase["all_ready_seconds"] = phase["seconds"]
        phase["bench_writes"] = self.s.n
        self.result["change"] = phase

    def drift(self, sample: int = 5) -> None:
        assert self.api
        assert self.watcher
        objects = k8s.CustomObjectsApi(self.api)
        picked = self.keys[:: max(1, self.s.n // sample)][:sample]
        settings: dict[str, tuple[str, str]] = {}
        for key in picked:
            ns, name = key.split("/")
            obj = objects.get_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name)
            setting = next(s for s in obj["status"]["settings"] if s["type"] == P_APPROVED)
            settings[key] = (setting["id"], setting["value"])
        edited: dict[str, float] = {}
        for key, (sid, _) in settings.items():
            self.emulator.data(UPDATE_SETTING, {"input": {"id": sid, "value": "Skip"}})
            edited[key] = time.monotonic()
        corrected: dict[str, float] = {}
        deadline = time.monotonic() + self.resync * 1.2 + 60
        while len(corrected) < len(settings) and time.monotonic() < deadline:
            for key, (sid, value) in settings.items():
                if key not in corrected:
                    now = self.emulator.data(READ_SETTING, {"id": sid})["policySetting"]["value"]
                    if now == value:
                        corrected[key] = time.monotonic()
            time.sleep(0.1)
        time.sleep(1)
        detect = [self.watcher.drift[k] - edited[k] for k in picked if k in self.watcher.drift]
        correct = [corrected[k] - edited[k] for k in picked if k in corrected]
        self.result["drift"] = {
            "sample": len(picked),
            "detected": len(detect),
            "corrected": len(correct),
            "detect_median": statistics.median(detect) if detect else None,
            "detect_max": max(detect) if detect else None,
            "correct_median": statistics.median(correct) if correct else None,
            "correct_max": max(correct) if correct else None,
        }

    def finish(self) -> None:
        stats = proc_stats(self.pid)
        self.result["operator"] = {"cpu_total": stats["cpu"], "peak_rss": stats["hwm"]}
        assert self.operator
        errors = [
            line
            for line in self.operator.log().splitlines()
            if re.search(r"\[ERROR *\]| ERROR |\"levelname\": \"ERROR\"|Traceback", line)
        ]
        self.result["operator_errors"] = len(errors)
        for line in errors[:5]:
            say(f"{self.s.label}: operator error: {line[:300]}")
        failed = Counter[str]()
        for (name, labels), value in self.operator.metrics().items():
            tags = dict(labels)
            if (
                name == "ecrprivacy_reconcile_total"
                and tags.get("result") not in (None, "Succeeded")
                and value
            ):
                failed[f"{tags['result']}/{tags.get('reason') or '-'}"] += int(value)
        self.result["failed_passes"] = dict(failed)
        if failed:
            say(f"{self.s.label}: passes that did not succeed: {dict(failed)}")

    def run(self) -> dict[str, Any]:
        say(f"--- scenario {self.s.label}: starting the control plane, the emulator and the operator")
        self.start()
        try:
            say(f"{self.s.label}: applying {self.s.n} objects")
            self.first_sync()
            first = self.result["first"]
            say(
                f"{self.s.label}: all Ready in {first['all_ready_seconds']:.1f}s; idle for {self.resync * 1.25:.0f}s"
            )
            self.idle()
            say(f"{self.s.label}: changing one field on every object")
            self.change()
            say(f"{self.s.label}: console edits for drift")
            self.drift()
            self.finish()
        finally:
            self.stop()
            if self.s.profile:
                say(f"profile written to {self.profile_dir / f'profile-{self.s.n}.txt'}")
        return self.result


# ---- the table ------------------------------------------------------------------------------------------------
def per(value: float, n: float) -> str:
    return f"{value / n:.2f}" if n else "-"


def rows(result: dict[str, Any], n: int) -> dict[str, str]:
    first, idle, change, drift = result["first"], result["idle"], result["change"], result["drift"]
    idle_cost = idle["requests"] / idle["resyncs"] if idle["resyncs"] else 1.0
    idle_cpu = idle["cpu"] / idle["resyncs"] if idle["resyncs"] else 0.0

    def net(phase: dict[str, Any]) -> float:  # minus the requests of resyncs that ran meanwhile
        return float(phase["requests"] - phase["resyncs"] * idle_cost)

    def net_cpu(phase: dict[str, Any]) -> float:  # minus the CPU of resyncs that ran meanwhile
        return float(phase["cpu"] - phase["resyncs"] * idle_cpu)

    def writes(phase: dict[str, Any]) -> float:
        return float(sum(phase["writes"].values()) - phase.get("bench_writes", 0))

    def opt(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f}"

    return {
        "apply N objects (s)": f"{first['apply_seconds']:.1f}",
        "apply -> all Ready (s)": f"{first['all_ready_seconds']:.1f}",
        "apply -> Ready p50 / p95 / p99 (s)": f"{first['p50']:.2f} / {first['p95']:.2f} / {first['p99']:.2f}",
        "Guardrails requests / object, first sync": per(net(first), n),
        "Guardrails requests / idle resync": per(idle["requests"], idle["resyncs"]),
        "Guardrails requests / object, one-field change": per(net(change), n),
        "K8s writes / object, first sync": per(writes(first), n),
        "K8s writes / idle resync": per(writes(idle), idle["resyncs"]),
        "K8s writes / object, one-field change": per(writes(change), n),
        "one-field change -> all Ready (s)": f"{change['all_ready_seconds']:.1f}",
        "idle resyncs measured": f"{idle['resyncs']:.0f}",
        "operator CPU ms / idle resync": per(idle["cpu"] * 1000, idle["resyncs"]),
        "operator CPU s, first sync": f"{first['cpu']:.1f}",
        "operator CPU ms / object, first sync": per(first["cpu"] * 1000, n),
        "resyncs during the first sync": f"{first['resyncs']:.0f}",
        "operator CPU ms / object, first sync, net of those resyncs": per(net_cpu(first) * 1000, n),
        "operator CPU s, whole run": f"{result['operator']['cpu_total']:.1f}",
        "operator peak RSS (MiB)": f"{result['operator']['peak_rss']:.0f}",
        "operator RSS when idle (MiB)": f"{idle['rss']:.0f}",
        "peak RSS above the operator's start, MiB / object": (
            f"{(result['operator']['peak_rss'] - first.get('rss_start', 0.0)) / n:.3f}" if n else "-"
        ),
        "drift detect median / max (s, up to 5 edits)": (
            f"{opt(drift['detect_median'])} / {opt(drift['detect_max'])}"
        ),
        "drift corrected median / max (s)": f"{opt(drift['correct_median'])} / {opt(drift['correct_max'])}",
        "operator ERROR log lines": str(result["operator_errors"]),
        "passes not Succeeded (result/reason: count)": ", ".join(
            f"{k}: {v}" for k, v in result["failed_passes"].items()
        )
        or "0",
    }


def table(results: list[tuple[Scenario, dict[str, Any]]]) -> str:
    columns = [(s.label, rows(r, s.n)) for s, r in results]
    names = list(columns[0][1])
    header = ["metric", *[label for label, _ in columns]]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name in names:
        lines.append("| " + " | ".join([name, *[col.get(name, "-") for _, col in columns]]) + " |")
    return "\n".join(lines)


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "?",
    )
    mem = next(line for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))
    mib = int(mem.split()[1]) // 1024
    return (
        f"{os.cpu_count()} CPUs ({cpu}), {mib} MiB RAM, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, kube-apiserver {build.KUBERNETES_VERSION}"
    )


def sizes(name: str, default: str) -> list[int]:
    return [int(x) for x in os.environ.get(name, default).replace(" ", "").split(",") if x]


def spread(n: int, targets: int, per_target: int) -> int:
    """How many accounts N objects attach to: ``targets``, or more so that none holds more than ``per_target``
    packs (a team with thousands of accounts has a few packs on each, not thousands on ten)."""
    return max(targets, -(-n // per_target)) if per_target > 0 else targets


@contextlib.contextmanager
def scratch_dir() -> Iterator[Path]:
    """A scenario's working directory, removed when it ends."""
    workdir = Path(tempfile.mkdtemp(prefix="ecr-privacy-bench-"))
    try:
        yield workdir
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(prog="hack/bench.py", description=__doc__.split("\n")[0])
    parser.add_argument("--json", type=Path, help="write the raw results here")
    args = parser.parse_args()
    resync = int(os.environ.get("BENCH_RESYNC", "20"))
    targets = int(os.environ.get("BENCH_TARGETS", "10"))
    latency = float(os.environ.get("BENCH_LATENCY_MS", "100"))
    profile = os.environ.get("BENCH_PROFILE", "") == "1"
    per_target = int(os.environ.get("BENCH_PACKS_PER_TARGET", "100"))
    main_sizes = sizes("BENCH_SIZES", "1,10,100,1000")
    only = {g for g in os.environ.get("BENCH_ONLY", "").replace(" ", "").split(",") if g}
    unknown = only - GROUPS
    if unknown:
        raise SystemExit(f"BENCH_ONLY: unknown {sorted(unknown)}; one or more of {sorted(GROUPS)}")

    def runs(group: str) -> bool:
        return not only or group in only

    scenarios = [Scenario(n, targets=spread(n, targets, per_target)) for n in main_sizes]
    scenarios += [
        Scenario(n, latency_ms=latency, targets=spread(n, targets, per_target))
        for n in sizes("BENCH_LATENCY_SIZES", "1,10,100")
    ]
    scenarios += [Scenario(n, targets=1) for n in sizes("BENCH_SHARED_SIZES", "100,1000")]
    if not runs("resync"):
        scenarios = []
    feed_scenarios = [
        Scenario(n, latency_ms=ms, targets=spread(n, targets, per_target))
        for n in sizes("BENCH_FEED_SIZES", "1000")
        for ms in sizes("BENCH_FEED_LATENCIES", "0,100")
    ]
    if not runs("feed"):
        feed_scenarios = []
    fairness = runs("fairness")
    exception_scenarios = (
        [Scenario(n, targets=targets) for n in sizes("BENCH_EXC_POLICIES", "1000")]
        if runs("exceptions")
        else []
    )
    if profile and scenarios:
        max(scenarios[: len(main_sizes)] or scenarios, key=lambda s: s.n).profile = True
    build.ensure_built()
    load = os.getloadavg()
    date = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    say(f"machine: {machine()}; load average at start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    results: list[tuple[Scenario, dict[str, Any]]] = []
    profile_dir = ROOT / ".bench"
    profile_dir.mkdir(exist_ok=True)
    for scenario in scenarios:
        with scratch_dir() as workdir:
            results.append((scenario, Run(scenario, workdir, resync, profile_dir).run()))
    from hack import feed_scenario  # it builds on this module's Run

    feed_results: list[dict[str, Any]] = []
    faults = feed_scenario.fault_configs(os.environ.get("BENCH_FEED_FAULTS", ""))
    for scenario, fault in [(s, f) for s in feed_scenarios for f in faults]:
        with scratch_dir() as workdir:
            run = feed_scenario.FeedRun(
                scenario,
                workdir,
                steady=float(os.environ.get("BENCH_FEED_STEADY", "120")),
                edits=int(os.environ.get("BENCH_FEED_EDITS", "20")),
                interval=float(os.environ.get("BENCH_FEED_INTERVAL", "5")),
                faults=fault,
            )
            feed_results.append(run.run())
    fairness_result: dict[str, Any] | None = None
    if fairness:
        from hack import fairness_scenario

        with scratch_dir() as workdir:
            fairness_result = fairness_scenario.FairnessRun(
                workdir,
                a=int(os.environ.get("BENCH_FAIR_A", "200")),
                b=int(os.environ.get("BENCH_FAIR_B", "20")),
                soak=float(os.environ.get("BENCH_FAIR_SOAK", "20")),
            ).run()
    from hack import exceptions_scenario

    exception_results: list[dict[str, Any]] = []
    for scenario in exception_scenarios:
        with scratch_dir() as workdir:
            exception_results.append(
                exceptions_scenario.ExceptionsRun(
                    scenario,
                    workdir,
                    with_exceptions=int(os.environ.get("BENCH_EXC_WITH", "100")),
                    per_policy=int(os.environ.get("BENCH_EXC_PER_POLICY", "10")),
                    exception_resync=float(os.environ.get("BENCH_EXC_RESYNC", "60")),
                    steady=float(os.environ.get("BENCH_EXC_STEADY", "180")),
                    interval=float(os.environ.get("BENCH_FEED_INTERVAL", "5")),
                ).run()
            )
    end_load = os.getloadavg()
    command = "make bench" + "".join(
        f" {k}={os.environ[k]}" for k in sorted(os.environ) if k.startswith("BENCH_")
    )
    print()
    print(f"command: {command}")
    print(f"date: {date}")
    print(f"machine: {machine()}")
    print(
        f"load average: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at start, "
        f"{end_load[0]:.2f} {end_load[1]:.2f} {end_load[2]:.2f} at the end"
    )
    print(
        f"objects in {NAMESPACES} namespaces, resyncInterval {resync}s, attached to {targets} targets or "
        f"N/{per_target} when more (1 target: all attach to one shared account); latency = emulator "
        f"--latency-ms per request"
    )
    if results:
        print()
        print(table(results))
    if feed_results:
        print()
        interval = os.environ.get("BENCH_FEED_INTERVAL", "5")
        print(
            f"activity feed scenario: resyncInterval {feed_scenario.RESYNC}s, the feed read every {interval} s, "
            f"{targets} targets or N/{per_target} when more"
        )
        print()
        print(feed_scenario.table(feed_results))
    if fairness_result:
        print()
        print(
            "fairness scenario: tenant A's policies (resyncInterval 10s) on an allowed host that never answers"
        )
        print()
        print(fairness_scenario.table(fairness_result))
    if exception_results:
        print()
        print("exceptions scenario: policies at resyncInterval 1h, the feed on, 10 targets")
        print()
        print(exceptions_scenario.table(exception_results))
    if args.json:
        raw = (
            [r for _, r in results]
            + feed_results
            + exception_results
            + ([fairness_result] if fairness_result else [])
        )
        args.json.write_text(json.dumps({"date": date, "machine": machine(), "results": raw}, indent=2))
    with contextlib.suppress(OSError):
        profile_dir.rmdir()  # only when empty
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
