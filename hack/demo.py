"""``make demo``: the operator end to end on this machine, with no cloud and no Docker.

1. builds (once, cached) and starts a local etcd + kube-apiserver, installs the CRD and the operator's RBAC
   (deploy/rbac, bound to a ServiceAccount: the operator runs with exactly the rights the chart grants);
2. starts the Guardrails emulator and the operator (``python -m ecr_privacy_operator``) as that ServiceAccount;
3. creates the team's credentials Secret and the GuardrailsWorkspace of deploy/samples/guardrailsworkspace.yaml
   (pointed at the emulator, whose host the operator's allowlist names), waits for it to be Ready, applies
   deploy/samples/ecrprivacypolicy.yaml, waits for Ready and shows the compliance counts;
4. switches the policy to Enforce, lets a new public repository appear in the emulator and shows Guardrails
   deleting it, and the counts changing;
5. deletes the object (the operator detaches and deletes the pack) and stops every process it started.

Run it with ``make demo`` (or ``.venv/bin/python hack/demo.py``); ``--keep`` leaves everything running until
Ctrl-C so you can poke at it with the printed KUBECONFIG.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.controlplane import build  # noqa: E402
from tests.controlplane.harness import ControlPlane, _die_with_parent, free_port  # noqa: E402
from tests.fixtures.emulator import ACCOUNT_AKA, ADMIN_KEY, REGION_AKA, EmulatorProcess  # noqa: E402
from tests.fixtures.operator import install_service_account  # noqa: E402

NAMESPACE = "demo"
OPERATOR_NS = "ecr-privacy-operator"
SERVICE_ACCOUNT = "ecr-privacy-operator"
SAMPLE = ROOT / "deploy" / "samples" / "ecrprivacypolicy.yaml"
WORKSPACE_SAMPLE = ROOT / "deploy" / "samples" / "guardrailsworkspace.yaml"
CRD_PLURALS = ("ecrprivacypolicies", "guardrailsworkspaces", "clusterguardrailsworkspaces")
NAME = "ecr-private"
STARTED = time.monotonic()


def say(message: str) -> None:
    print(f"[demo {time.monotonic() - STARTED:5.1f}s] {message}", flush=True)


def show(text: str) -> None:
    print(textwrap.indent(text.rstrip(), "    "), flush=True)


class Demo:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.cluster = ControlPlane(run_dir=workdir / "kube")
        self.emulator = EmulatorProcess(workdir=workdir / "emulator")
        self.operator: subprocess.Popen[bytes] | None = None
        self.operator_log = workdir / "operator.log"
        self.liveness_port = free_port()

    # -- helpers -----------------------------------------------------------------------------------------
    def kubectl(self, *args: str, input_text: str | None = None, kubeconfig: Path | None = None) -> str:
        proc = self.cluster.kubectl(*args, input_text=input_text, kubeconfig=kubeconfig, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)} failed:\n{proc.stderr}")
        return proc.stdout

    def policy(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.kubectl("get", "epp", NAME, "-n", NAMESPACE, "-o", "json"))
        return result

    def wait_until(self, what: str, predicate: Any, timeout: float = 60) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            if self.operator is not None and self.operator.poll() is not None:
                raise RuntimeError(f"the operator exited while waiting for {what}:\n{self.operator_tail()}")
            time.sleep(0.3)
        raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}\n{self.operator_tail()}")

    def ready_for_generation(self) -> bool:
        obj = self.policy()
        generation = obj["metadata"]["generation"]
        status = obj.get("status") or {}
        ready = next((c for c in status.get("conditions", []) if c["type"] == "Ready"), None)
        return bool(
            ready and ready["status"] == "True" and status.get("observedGeneration") == generation
        ) and bool(status.get("compliance"))

    def compliance(self) -> dict[str, Any]:
        result: dict[str, Any] = self.policy().get("status", {}).get("compliance") or {}
        return result

    def workspace_ready(self) -> bool:
        out = self.kubectl(
            "get",
            "gws",
            "guardrails",
            "-n",
            NAMESPACE,
            "-o",
            'jsonpath={.status.conditions[?(@.type=="Ready")].status}',
        )
        return out.strip() == "True"

    def counts(self) -> str:
        c = self.compliance()
        return ", ".join(f"{k}={c.get(k)}" for k in ("total", "ok", "alarm", "error", "skipped"))

    def operator_tail(self, lines: int = 30) -> str:
        if not self.operator_log.exists():
            return "(no operator log)"
        return "\n".join(self.operator_log.read_text(errors="replace").splitlines()[-lines:])

    def get_epp(self) -> None:
        show(self.kubectl("get", "epp", "-n", NAMESPACE))

    # -- steps ---------------------------------------------------------------------------------------------
    def start_cluster(self) -> None:
        say("building the control plane if needed (kube-apiserver, etcd, kubectl from Go modules; cached)")
        build.ensure_built()
        self.cluster.start()
        say(f"kube-apiserver {build.KUBERNETES_VERSION} ready at {self.cluster.server}")
        for crd in sorted((ROOT / "deploy" / "crds").glob("*.yaml")):
            self.kubectl("apply", "--server-side", "-f", str(crd))
        crds = [f"crd/{plural}.ecrprivacy.dev" for plural in CRD_PLURALS]
        self.kubectl("wait", "--for=condition=Established", *crds, "--timeout=60s")
        say(f"CRDs {', '.join(CRD_PLURALS)} installed and Established")

    def install_rbac(self) -> Path:
        """The shipped ClusterRoles, bound to a ServiceAccount; Secrets readable in the demo namespace only."""
        kubeconfig = install_service_account(
            self.cluster, [NAMESPACE], namespace=OPERATOR_NS, name=SERVICE_ACCOUNT
        )
        say(
            f"RBAC from deploy/rbac bound to ServiceAccount {OPERATOR_NS}/{SERVICE_ACCOUNT} "
            f"(Secrets: namespace {NAMESPACE} only)"
        )
        return kubeconfig

    def start_emulator(self) -> None:
        (self.workdir / "emulator").mkdir(parents=True, exist_ok=True)
        self.emulator.start()
        say(f"Guardrails emulator at {self.emulator.url} (account {ACCOUNT_AKA} has 3 public repositories)")

    def start_operator(self, kubeconfig: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ECR_PRIVACY_", "TURBOT_"))}
        env.update(
            KUBECONFIG=str(kubeconfig),
            ECR_PRIVACY_LOG_FORMAT="plain",
            ECR_PRIVACY_MAX_BACKOFF="5",
            # a cluster admin names the workspace hosts keys may go to: here the emulator's
            ECR_PRIVACY_ALLOWED_HOSTS="http://127.0.0.1:*",  # the emulator: plain HTTP, any port
            ECR_PRIVACY_OPERATOR_NAMESPACE=OPERATOR_NS,
            PYTHONUNBUFFERED="1",
        )
        liveness = f"http://127.0.0.1:{self.liveness_port}/healthz"
        cmd = [sys.executable, "-m", "ecr_privacy_operator", "--liveness", liveness, "--metrics-port", "0"]
        with self.operator_log.open("ab") as log:
            self.operator = subprocess.Popen(
                cmd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=self.workdir,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )

        def live() -> bool:
            try:
                with urllib.request.urlopen(liveness, timeout=2) as response:
                    return int(response.status) == 200
            except (OSError, urllib.error.URLError):
                return False

        self.wait_until("the operator's liveness endpoint", live, timeout=60)
        say(
            f"operator running as the ServiceAccount, cluster-wide (pid {self.operator.pid}, log {self.operator_log})"
        )

    def apply_sample(self) -> None:
        access, secret = ADMIN_KEY
        self.kubectl(
            "create", "secret", "generic", "guardrails-credentials", "-n", NAMESPACE,
            f"--from-literal=accessKey={access}", f"--from-literal=secretKey={secret}",
        )  # fmt: skip
        workspace = next(
            d for d in yaml.safe_load_all(WORKSPACE_SAMPLE.read_text()) if d["kind"] == "GuardrailsWorkspace"
        )
        workspace["spec"]["url"] = self.emulator.url
        show(self.kubectl("apply", "-n", NAMESPACE, "-f", "-", input_text=yaml.safe_dump(workspace)))
        self.wait_until("the GuardrailsWorkspace Ready", self.workspace_ready)
        say(
            f"GuardrailsWorkspace {NAMESPACE}/guardrails Ready: its keys reach {self.emulator.url}, and only there"
        )
        show(self.kubectl("apply", "-n", NAMESPACE, "-f", str(SAMPLE)))
        self.wait_until("Ready=True with compliance counts", self.ready_for_generation)
        status = self.policy()["status"]
        say(f"Ready: pack {status['policyPack']['id']} attached to {ACCOUNT_AKA}, enforcement Check")
        self.get_epp()
        say(f"compliance (AWS > ECR > Public Repository > Approved): {self.counts()}")

    def enforce(self) -> None:
        say("switching the policy to Enforce (kubectl patch)")
        self.kubectl(
            "patch", "epp", NAME, "-n", NAMESPACE, "--type=merge", "-p", '{"spec":{"enforcement":"Enforce"}}'
        )
        self.wait_until("Ready=True for generation 2", self.ready_for_generation)
        self.get_epp()
        for event in self.emulator.events():
            if event.get("action") == "delete":
                say(f"Guardrails deleted {event['akas'][0]} (new: created within the last 60 minutes)")
        say(f"compliance now: {self.counts()} (the older repository stays in alarm)")
        say("a developer creates a new public repository in us-east-1 ...")
        repo = self.emulator.add_resource(REGION_AKA, "demo-public-images")
        if repo["exists"]:
            raise RuntimeError(f"the new repository was not deleted by enforcement: {repo}")
        event = next(e for e in self.emulator.events() if e.get("resourceId") == repo["id"])
        say(f"Guardrails deleted {event['akas'][0]} at once (event {event['action']} at {event['at']})")

    def delete(self) -> None:
        pack = self.policy()["status"]["policyPack"]["id"]
        say(f"deleting the EcrPrivacyPolicy: the operator detaches pack {pack} and deletes it")
        self.kubectl("delete", "epp", NAME, "-n", NAMESPACE, "--timeout=60s")
        state = self.emulator.state()
        gone = all(r["id"] != pack for r in state["resources"])
        attached = any(pack in ids for ids in state["attachments"].values())
        if not gone or attached:
            raise RuntimeError(f"pack {pack} still in Guardrails (attached: {attached})")
        say(f"object deleted; pack {pack} is gone from Guardrails")

    def stop(self) -> None:
        if self.operator is not None and self.operator.poll() is None:
            self.operator.send_signal(signal.SIGTERM)
            try:
                self.operator.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.operator.kill()
                self.operator.wait(timeout=5)
        self.emulator.stop()
        self.cluster.stop()


def main() -> int:
    parser = argparse.ArgumentParser(prog="hack/demo.py", description=__doc__.split("\n")[0])
    parser.add_argument("--keep", action="store_true", help="leave everything running until Ctrl-C")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ecr-privacy-demo-") as tmp:
        demo = Demo(Path(tmp))
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        try:
            demo.start_cluster()
            kubeconfig = demo.install_rbac()
            demo.start_emulator()
            demo.start_operator(kubeconfig)
            demo.apply_sample()
            demo.enforce()
            if args.keep:
                say(f"--keep: KUBECONFIG={demo.cluster.admin_kubeconfig}; Ctrl-C to stop")
                threading.Event().wait()
            demo.delete()
        except KeyboardInterrupt:
            say("interrupted")
            return 130
        except Exception as exc:
            say(f"FAILED: {exc}")
            return 1
        finally:
            say("stopping the operator, the emulator and the control plane")
            with contextlib.suppress(Exception):
                demo.stop()
    say("done: every process stopped, temporary files removed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
