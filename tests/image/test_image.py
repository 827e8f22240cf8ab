"""The container image, built here with podman (``make image``) and run from its own files.

The operator is started from the image twice, in two ways:

- ``chroot``: no container runtime at all. ``launch.py`` does what a runtime does: the image's root
  filesystem (``podman image mount``) bound read-only, fresh /proc, a minimal /dev, tmpfs /tmp and /run, new
  mount and PID namespaces, chroot, the image's numeric USER (no supplementary groups, no capabilities,
  no_new_privs), its Env and WorkingDir, and its ENTRYPOINT + CMD;
- ``podman``: a real container, ``podman --runtime runc run --read-only --cap-drop=all``.

Either way the ServiceAccount token is mounted where Kubernetes mounts it, KUBERNETES_SERVICE_HOST/PORT are
set as the kubelet sets them, and Pod-style ``args`` add the namespace to watch and free ports. The operator
then brings the sample EcrPrivacyPolicy to Ready against the local kube-apiserver and the Guardrails
emulator, with the RBAC of deploy/rbac, deletes it again through its finalizer, and stops cleanly on SIGTERM.
The image's metadata and files are checked too: numeric user known to /etc/passwd, entrypoint, ports,
labels, no build tools, no caches, compiled bytecode.

The ``image`` fixture runs ``hack/image.sh``, which builds the image only when its inputs changed. Needs root
(mounts, chroot, podman's store); hack/image.sh installs podman, debootstrap and runc with apt-get.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import resource
import signal
import subprocess
import sys
import tomllib
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s

from tests.controlplane.harness import ControlPlane, _die_with_parent, free_ports, process_alive
from tests.fixtures.emulator import ACCOUNT_AKA, ADMIN_KEY, EmulatorProcess
from tests.fixtures.image import (
    IMAGE,
    ROOT,
    SA_DIR,
    http_get,
    kubectl_ok,
    mounted_token,
    podman,
    policy_ready,
    status_fields,
    wait_until_allowed,
)
from tests.fixtures.kube import GROUP, PLURAL, VERSION, wait_for

pytestmark = [pytest.mark.image, pytest.mark.timeout(900)]

LAUNCH = Path(__file__).with_name("launch.py")
SAMPLE = ROOT / "deploy" / "samples" / "ecrprivacypolicy.yaml"
WORKSPACE_SAMPLE = ROOT / "deploy" / "samples" / "guardrailsworkspace.yaml"
RBAC_FILE = ROOT / "deploy" / "rbac" / "operator-clusterrole.yaml"
SERVICE_ACCOUNT = "ecr-privacy-operator"
# Keep the image small: the base is ~135 MB (Debian bookworm minbase + python3), the venv ~120 MB.
MAX_IMAGE_BYTES = 300_000_000
BUILD_TOOLS = ("gcc", "cc", "c++", "g++", "make", "ld", "as", "cpp", "pip", "pip3", "git")


def _config(image: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = image["Config"]
    return config


def _numeric_user(image: dict[str, Any]) -> tuple[int, int]:
    uid, _, gid = _config(image)["User"].partition(":")
    return int(uid), int(gid or uid)


# ---- metadata and contents -----------------------------------------------------------------------------
def test_image_metadata(image: dict[str, Any], record_property: Any) -> None:
    config = _config(image)
    uid, gid = _numeric_user(image)  # int() fails on a user name: runAsNonRoot needs numbers
    assert uid > 0, config["User"]
    assert gid > 0, config["User"]
    assert config["Entrypoint"] == ["ecr-privacy-operator", "--liveness=http://0.0.0.0:8081/healthz"]
    assert not config.get("Cmd"), "arguments come from the Pod's args, not from a baked-in CMD"
    assert set(config["ExposedPorts"]) == {"8080/tcp", "8081/tcp"}
    assert config["WorkingDir"] == "/tmp"
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["HOME"] == "/tmp"
    assert env["PATH"].startswith("/opt/venv/bin:")
    labels = config["Labels"]
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert labels["org.opencontainers.image.title"] == "ecr-privacy-operator"
    assert labels["org.opencontainers.image.version"] == version
    assert labels["org.opencontainers.image.licenses"] == "Apache-2.0"
    assert labels["org.opencontainers.image.description"]
    assert "dev.ecrprivacy.stage" not in labels, "the build stage's label leaked into the final image"
    size = int(image["Size"])
    record_property("image_size_bytes", size)
    print(f"\nimage {IMAGE}: {size / 1e6:.0f} MB")
    assert size < MAX_IMAGE_BYTES, (
        f"the image grew to {size / 1e6:.0f} MB (budget {MAX_IMAGE_BYTES / 1e6:.0f})"
    )


def test_image_user_is_known_to_passwd(image: dict[str, Any], image_root: Path) -> None:
    """Kopf calls getpass.getuser() at startup: the image's uid needs a passwd entry (and its gid a group)."""
    uid, gid = _numeric_user(image)
    passwd = [line.split(":") for line in (image_root / "etc/passwd").read_text().splitlines()]
    groups = [line.split(":") for line in (image_root / "etc/group").read_text().splitlines()]
    assert any(int(entry[2]) == uid and int(entry[3]) == gid for entry in passwd), f"uid {uid} not in passwd"
    assert any(int(entry[2]) == gid for entry in groups), f"gid {gid} not in group"


def test_image_has_no_build_tools_or_caches(image_root: Path) -> None:
    path_dirs = ("usr/local/sbin", "usr/local/bin", "usr/sbin", "usr/bin", "opt/venv/bin")
    tools = [f"/{d}/{t}" for d in path_dirs for t in BUILD_TOOLS if (image_root / d / t).exists()]
    assert not tools, f"build tools in the final image: {tools}"
    dpkg = (image_root / "var/lib/dpkg/status").read_text()
    installed = {
        block.split("\n", 1)[0].removeprefix("Package: ")
        for block in dpkg.split("\n\n")
        if "Status: install ok installed" in block
    }
    assert not installed & {"build-essential", "gcc", "g++", "make", "python3-dev", "python3-pip", "git"}
    caches = [
        str(p.relative_to(image_root))
        for p in (image_root / "root/.cache", image_root / "tmp/.cache", image_root / "src")
        if p.exists()
    ]
    caches += [
        str(p.relative_to(image_root))
        for top in ("root", "tmp", "opt", "home")
        for p in (image_root / top).rglob("*")
        if p.is_dir() and (p.name in {"pip-cache", ".cache"} or p.name.startswith("pip-"))
    ]
    assert not caches, f"caches or build leftovers in the final image: {caches}"
    assert not list((image_root / "tmp").iterdir()), "the image's /tmp is not empty"
    assert not list((image_root / "var/lib/apt/lists").glob("*_Packages")), "apt package lists left behind"
    site = next((image_root / "opt/venv/lib").glob("python3*/site-packages"))
    assert not (site / "pip").exists(), "pip is a build tool: the venv should not ship it"
    # Bytecode was compiled at build time: a read-only root filesystem cannot take it at run time.
    missing = [
        str(source.relative_to(site))
        for package in ("ecr_privacy_operator", "guardrails_emulator")
        for source in (site / package).rglob("*.py")
        if not list((source.parent / "__pycache__").glob(f"{source.stem}.*.pyc"))
    ]
    assert not missing, f"not compiled: {missing}"


# ---- running it -----------------------------------------------------------------------------------------
def _service_account(kube: ControlPlane, ns: str, directory: Path) -> Path:
    """deploy/rbac bound to ServiceAccount ns/ecr-privacy-operator (Secrets: ns only); its token, the API
    server's CA and the namespace written as Kubernetes mounts them into a Pod.

    The operator watches only ``ns`` here (the session's cluster is shared with the e2e tests' operators),
    with exactly the rights of deploy/rbac (which include the namespaces list/watch Kopf needs).
    """
    bindings = f"""
apiVersion: v1
kind: ServiceAccount
metadata: {{name: {SERVICE_ACCOUNT}, namespace: {ns}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {{name: ecr-privacy-operator-image-{ns}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: ecr-privacy-operator}}
subjects: [{{kind: ServiceAccount, name: {SERVICE_ACCOUNT}, namespace: {ns}}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: ecr-privacy-operator-credentials, namespace: {ns}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: ecr-privacy-operator-credentials}}
subjects: [{{kind: ServiceAccount, name: {SERVICE_ACCOUNT}, namespace: {ns}}}]
"""
    kubectl_ok(kube, "apply", "--server-side", "--force-conflicts", "-f", str(RBAC_FILE))
    kubectl_ok(kube, "apply", "--server-side", "-f", "-", input_text=bindings)
    # RBAC reaches the authorizer through an informer: wait until the grants are in effect, so that the
    # operator never starts into a 403 (its log must stay free of "Forbidden").
    wait_until_allowed(
        kube,
        f"system:serviceaccount:{ns}:{SERVICE_ACCOUNT}",
        [
            ("watch", "ecrprivacypolicies.ecrprivacy.dev", ns),
            ("patch", "ecrprivacypolicies.ecrprivacy.dev/status", ns),
            ("get", "secrets", ns),
            ("create", "events", ns),
            ("watch", "namespaces", ""),
            ("list", "customresourcedefinitions.apiextensions.k8s.io", ""),
        ],
    )
    return mounted_token(kube, ns, SERVICE_ACCOUNT, directory)


def _children(pid: int) -> list[int]:
    with contextlib.suppress(OSError):
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return []


class ImageProcess:
    """The image's entrypoint started by one of two runners; ``stop()`` SIGTERMs it, SIGKILL after 15 s.

    - ``chroot``: ``unshare`` + ``launch.py``, from the ``podman image mount`` files (no OCI runtime at all);
    - ``podman``: ``podman --runtime runc run --read-only --cap-drop=all``, a real container (Debian's runc:
      podman's default crun refuses this machine's rlimits and hybrid cgroups). The open-files and process
      limits are set to 4096 (or lower): podman's defaults exceed what this machine lets a process set.
    """

    def __init__(self, runner: str, image: dict[str, Any], root: Path, workdir: Path, sa_dir: Path) -> None:
        self.runner = runner
        self.image = image
        self.root = root  # the image's files (chroot runner) or nothing (podman)
        self.workdir = workdir
        self.sa_dir = sa_dir
        self.log_path = workdir / f"operator-{runner}.log"
        self.name = f"ecr-privacy-image-test-{uuid.uuid4().hex[:8]}"
        self.newroot = workdir / "rootfs"
        self.proc: subprocess.Popen[bytes] | None = None

    def command(self, env: dict[str, str], args: list[str]) -> list[str]:
        config = _config(self.image)
        if self.runner == "podman":
            cmd = ["podman", "--runtime", "runc", "run", "--rm", "--name", self.name, "--network", "host"]
            cmd += ["--read-only", "--cap-drop=all", "--security-opt=no-new-privileges"]
            for flag, limit in (("nofile", resource.RLIMIT_NOFILE), ("nproc", resource.RLIMIT_NPROC)):
                value = min(4096, *(v for v in resource.getrlimit(limit) if v != resource.RLIM_INFINITY))
                cmd += ["--ulimit", f"{flag}={value}:{value}"]
            cmd += ["--volume", f"{self.sa_dir}:{SA_DIR}:ro"]
            for key, value in env.items():
                cmd += ["--env", f"{key}={value}"]
            return [*cmd, self.image["Id"], *args]
        uid, gid = _numeric_user(self.image)
        self.newroot.mkdir()
        spec = {
            "rootfs": str(self.root),
            "newroot": str(self.newroot),
            "uid": uid,
            "gid": gid,
            "workdir": config.get("WorkingDir") or "/",
            "env": {**dict(item.split("=", 1) for item in config["Env"]), **env},
            "argv": [*config["Entrypoint"], *(config.get("Cmd") or []), *args],
            "binds": [{"src": str(self.sa_dir), "dst": SA_DIR, "ro": True}],
            "host_mount_ns": os.readlink("/proc/self/ns/mnt"),
        }
        spec_path = self.workdir / "launch.json"
        spec_path.write_text(json.dumps(spec, indent=2))
        cmd = ["unshare", "--mount", "--pid", "--fork", "--kill-child", "--propagation", "private"]
        return [*cmd, sys.executable, str(LAUNCH), str(spec_path)]

    def start(self, env: dict[str, str], args: list[str]) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.command(env, args),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def program_pid(self) -> int:
        """The host PID of the program (PID 1 of its PID namespace)."""
        assert self.proc is not None
        if self.runner == "podman":
            out = podman("inspect", "--format", "{{.State.Pid}}", self.name)
            return int(out.strip())
        children = wait_for(
            lambda: _children(self.proc.pid) if self.proc else [], timeout=10, what="the child"
        )
        return int(children[0])

    def log(self, lines: int = 60) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            if self.runner == "podman":
                subprocess.run(
                    ["podman", "stop", "--time", "15", self.name], capture_output=True, check=False
                )
            else:
                for pid in _children(self.proc.pid):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        if self.runner == "podman":
            subprocess.run(["podman", "rm", "--force", self.name], capture_output=True, check=False)
        return self.proc.returncode


def _policy(custom: k8s.CustomObjectsApi, ns: str, name: str) -> dict[str, Any]:
    obj: dict[str, Any] = custom.get_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name)
    return obj


@pytest.mark.parametrize("runner", ["chroot", "podman"])
def test_operator_runs_from_the_image_read_only_as_non_root(
    runner: str,
    image: dict[str, Any],
    image_root: Path,
    kube: ControlPlane,
    crd: dict[str, Any],
    ns: str,
    emulator: EmulatorProcess,
    custom_objects: k8s.CustomObjectsApi,
    tmp_path: Path,
) -> None:
    uid, gid = _numeric_user(image)
    sa_dir = _service_account(kube, ns, tmp_path / "serviceaccount")
    access, secret = ADMIN_KEY
    kubectl_ok(
        kube, "create", "secret", "generic", "guardrails-credentials", "-n", ns,
        f"--from-literal=accessKey={access}", f"--from-literal=secretKey={secret}",
    )  # fmt: skip
    workspace = next(
        d for d in yaml.safe_load_all(WORKSPACE_SAMPLE.read_text()) if d["kind"] == "GuardrailsWorkspace"
    )
    workspace["spec"]["url"] = emulator.url
    kubectl_ok(kube, "apply", "-n", ns, "-f", "-", input_text=yaml.safe_dump(workspace))

    liveness, metrics = free_ports(2)
    api_port = kube.server.rsplit(":", 1)[1]
    env = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": api_port}  # as the kubelet sets
    env["ECR_PRIVACY_ALLOWED_HOSTS"] = (
        "http://127.0.0.1:*"  # the emulator (plain HTTP), as a cluster admin would allow it
    )
    args = [
        f"--namespace={ns}",
        f"--liveness=http://127.0.0.1:{liveness}/healthz",
        f"--metrics-port={metrics}",
    ]
    process = ImageProcess(runner, image, image_root, tmp_path, sa_dir)
    process.start(env, args)
    pid = 0
    try:

        def live() -> bool:
            assert process.alive(), f"the operator exited:\n{process.log()}"
            return http_get(f"http://127.0.0.1:{liveness}/healthz")[0] == 200

        wait_for(live, timeout=90, interval=0.3, what="the liveness endpoint")

        # Who and where it runs: the image's numeric user, no groups, no capabilities, a read-only root.
        pid = process.program_pid()
        fields = status_fields(pid)
        assert fields["Uid"].split() == [str(uid)] * 4, fields["Uid"]
        assert fields["Gid"].split() == [str(gid)] * 4, fields["Gid"]
        assert set(fields["Groups"].split()) <= {str(gid)}, fields["Groups"]  # podman adds the primary gid
        assert int(fields["CapEff"], 16) == 0
        assert int(fields["CapPrm"], 16) == 0
        assert fields["NoNewPrivs"] == "1"
        if runner == "chroot":
            assert os.readlink(f"/proc/{pid}/root") == str(process.newroot)
        mountinfo = Path(f"/proc/{pid}/mountinfo").read_text().splitlines()
        mounts = {line.split()[4]: line.split()[5].split(",") for line in mountinfo}
        assert "ro" in mounts["/"], mounts["/"]
        assert "ro" in mounts[SA_DIR], mounts[SA_DIR]
        assert Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[1].endswith(b"ecr-privacy-operator")

        # The sample, as shipped, with AKAs unique to this test.
        body = yaml.safe_load(SAMPLE.read_text())
        name = body["metadata"]["name"]
        body = copy.deepcopy(body)
        body["metadata"]["namespace"] = ns
        body["spec"].setdefault("policyPack", {})["akas"] = [f"image-test-{uuid.uuid4().hex[:12]}"]
        assert body["spec"]["attachments"] == [{"resource": ACCOUNT_AKA}]
        custom_objects.create_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, body)

        def ready() -> dict[str, Any] | None:
            assert process.alive(), f"the operator exited:\n{process.log()}"
            obj = _policy(custom_objects, ns, name)
            return obj if policy_ready(obj) else None

        obj = wait_for(ready, timeout=90, interval=0.5, what=f"{ns}/{name} Ready=True")
        pack = obj["status"]["policyPack"]["id"]
        state = emulator.state()
        assert any(r["id"] == pack for r in state["resources"]), f"pack {pack} not in Guardrails"
        assert any(pack in ids for ids in state["attachments"].values()), f"pack {pack} not attached"

        code, text = http_get(f"http://127.0.0.1:{metrics}/metrics")
        assert code == 200
        assert "# TYPE" in text, text[:500]
        assert http_get(f"http://127.0.0.1:{liveness}/healthz")[0] == 200

        # Deleting it goes through the finalizer: Guardrails is cleaned up, the object goes away.
        custom_objects.delete_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name)

        def gone() -> bool:
            try:
                _policy(custom_objects, ns, name)
            except k8s.ApiException as exc:
                return exc.status == 404
            return False

        wait_for(gone, timeout=60, interval=0.5, what=f"{ns}/{name} deleted")
        assert all(r["id"] != pack for r in emulator.state()["resources"])
    finally:
        code = process.stop()
        log = process.log(400)
        print(f"\n--- operator log (from the image) ---\n{log}")
    assert code == 0, f"the operator exited with {code} on SIGTERM"
    for problem in ("Read-only file system", "Permission denied", "Traceback", "Forbidden"):
        assert problem not in log, f"{problem!r} in the operator's log"
    # Nothing is left running: the program (PID 1 of its namespace) is gone, and so is unshare.
    assert not process_alive(pid)
