"""Start and stop a real etcd + kube-apiserver on free loopback ports, with their own PKI and kubeconfigs.

The binaries come from ``build.py`` (built once, cached by version). Each run gets a fresh directory with a
serving CA, a client CA, a service-account key pair, an admin kubeconfig (``O=system:masters``) and, on
demand, kubeconfigs for extra certificate users (CN = user, O = groups) and ServiceAccount tokens. Every child
runs in its own process group with its PID written to the run directory, and ``stop()`` (also called on
Ctrl-C, SIGTERM and interpreter exit) terminates the API server, then etcd, leaving no process behind.

Command line: ``python -m tests.controlplane`` starts a cluster, prints the admin kubeconfig path and waits.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import ctypes
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from guardrails_emulator.tls import KeyPair, issue_client_cert, issue_server_cert, make_ca, make_signing_key

from . import build

START_TIMEOUT = float(os.environ.get("KUBE_TEST_START_TIMEOUT", "90"))


class ControlPlaneError(RuntimeError):
    """The control plane could not be built or started; the message says why (with log tails)."""


def _die_with_parent() -> None:
    """In the child, before exec: ask Linux to SIGKILL it if the test process dies (even by SIGKILL)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG = 1


def free_ports(count: int) -> list[int]:
    """``count`` distinct free loopback ports: all sockets are held open until every port is chosen, so the
    kernel cannot hand the same port out twice (closing one before binding the next can)."""
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind(("127.0.0.1", 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


def free_port() -> int:
    return free_ports(1)[0]


def _tail(path: Path, lines: int = 50) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class _Child:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path


@dataclass
class ControlPlane:
    """One etcd + kube-apiserver pair. Use as a context manager, or call start() and stop()."""

    run_dir: Path | None = None
    bin_dir: Path = field(default_factory=build.bin_dir)
    keep_run_dir: bool = False
    server: str = ""
    admin_kubeconfig: Path = Path()
    _children: list[_Child] = field(default_factory=list)
    _client_ca: KeyPair | None = None
    _serving_ca: KeyPair | None = None
    _owns_run_dir: bool = False
    _api_args: list[str] = field(default_factory=list)

    # -- lifecycle -------------------------------------------------------------------------------------
    def __enter__(self) -> ControlPlane:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        if not build.is_built(self.bin_dir):
            raise ControlPlaneError(
                f"kube-apiserver/etcd binaries not found in {self.bin_dir}; "
                "build them with: python tests/controlplane/build.py"
            )
        if self.run_dir is None:
            self.run_dir = Path(tempfile.mkdtemp(prefix="kube-run-"))
            self._owns_run_dir = True
        self.run_dir.mkdir(parents=True, exist_ok=True)
        atexit.register(self.stop)
        self._write_pki()
        for attempt in range(2):  # a free port can be taken between probe and bind: retry once
            try:
                self._start_processes()
                return
            except ControlPlaneError as exc:
                self._stop_children()
                if attempt == 1 or "address already in use" not in str(exc):
                    self.stop()
                    raise

    def stop(self) -> None:
        """Stop the API server, then etcd (SIGTERM, then SIGKILL after 20 s); remove the run directory."""
        self._stop_children()
        if self.run_dir and self._owns_run_dir and not self.keep_run_dir:
            shutil.rmtree(self.run_dir, ignore_errors=True)
            self._owns_run_dir = False

    def _stop_children(self) -> None:
        for child in reversed(self._children):
            if child.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.proc.pid, signal.SIGTERM)
                try:
                    child.proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(child.proc.pid, signal.SIGKILL)
                    child.proc.wait(timeout=10)
        self._children.clear()

    def restart_apiserver(self, down_seconds: float = 0.0) -> None:
        """Stop the kube-apiserver (SIGTERM, SIGKILL after 20 s), stay down ``down_seconds``, then start it
        again with the same flags, port and etcd; returns once it is ready. Clients see their watches and
        connections break, as in an API-server rollout; etcd (and so every object) is untouched."""
        api = next((c for c in self._children if c.name == "kube-apiserver"), None)
        if api is None or not self._api_args:
            raise ControlPlaneError("the control plane is not running")
        if api.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(api.proc.pid, signal.SIGTERM)
            try:
                api.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(api.proc.pid, signal.SIGKILL)
                api.proc.wait(timeout=10)
        self._children.remove(api)
        time.sleep(down_seconds)
        deadline = time.monotonic() + START_TIMEOUT
        while True:  # the port may linger briefly after the old process is gone
            try:
                self._start_apiserver()
                return
            except ControlPlaneError as exc:
                self._children = [c for c in self._children if c.proc.poll() is None]
                if "address already in use" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def start_controller_manager(self, binary: Path) -> None:
        """Start kube-controller-manager with the controllers a namespace deletion needs (namespace, garbage
        collector) and the one that fills aggregated ClusterRoles (the built-in admin/edit/view roles); returns
        once namespace deletion works: the aggregated ``admin`` role has rules. ``stop()`` stops it too."""
        if any(c.name == "kube-controller-manager" for c in self._children if c.proc.poll() is None):
            return
        d = self._dir
        child = self._spawn(
            "kube-controller-manager",
            [
                str(binary),
                f"--kubeconfig={self.admin_kubeconfig}",
                f"--authentication-kubeconfig={self.admin_kubeconfig}",
                f"--authorization-kubeconfig={self.admin_kubeconfig}",
                "--controllers=namespace,garbagecollector,clusterrole-aggregation",
                "--leader-elect=false",
                "--secure-port=0",
                f"--service-account-private-key-file={d / 'sa.key'}",
                f"--root-ca-file={d / 'serving-ca.crt'}",
                "--concurrent-namespace-syncs=5",
            ],
        )

        def aggregated() -> bool:
            out = self.kubectl("get", "clusterrole", "admin", "-o", "jsonpath={.rules}", check=False)
            return out.returncode == 0 and "ecrprivacy.dev" in out.stdout

        self._wait(child, aggregated, "kube-controller-manager to aggregate the admin ClusterRole")

    def pids(self) -> list[int]:
        return [c.proc.pid for c in self._children]

    # -- PKI and kubeconfigs ----------------------------------------------------------------------------
    @property
    def _dir(self) -> Path:
        assert self.run_dir is not None
        return self.run_dir

    def _write_pki(self) -> None:
        d = self._dir
        self._serving_ca = make_ca("kube-test-serving-ca")
        self._client_ca = make_ca("kube-test-client-ca")
        (d / "serving-ca.crt").write_bytes(self._serving_ca.cert_pem)
        (d / "client-ca.crt").write_bytes(self._client_ca.cert_pem)
        issue_server_cert(self._serving_ca, ["localhost", "127.0.0.1"]).write(
            d / "apiserver.crt", d / "apiserver.key"
        )
        private, public = make_signing_key()
        (d / "sa.key").write_bytes(private)
        (d / "sa.pub").write_bytes(public)
        issue_client_cert(self._client_ca, "admin", ["system:masters"]).write(
            d / "admin.crt", d / "admin.key"
        )

    def _kubeconfig(self, name: str, user: dict[str, Any]) -> Path:
        assert self._serving_ca is not None
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "local",
                    "cluster": {
                        "server": self.server,
                        "certificate-authority-data": base64.b64encode(self._serving_ca.cert_pem).decode(),
                    },
                }
            ],
            "users": [{"name": name, "user": user}],
            "contexts": [{"name": name, "context": {"cluster": "local", "user": name}}],
            "current-context": name,
        }
        path = self._dir / f"kubeconfig-{name.replace(':', '_')}.yaml"
        path.write_text(yaml.safe_dump(config))
        path.chmod(0o600)
        return path

    def add_user(self, user: str, groups: list[str] | None = None) -> Path:
        """A kubeconfig for a certificate user (CN = user, one O per group); no restart needed."""
        assert self._client_ca is not None
        pair = issue_client_cert(self._client_ca, user, groups)
        return self._kubeconfig(
            user,
            {
                "client-certificate-data": base64.b64encode(pair.cert_pem).decode(),
                "client-key-data": base64.b64encode(pair.key_pem).decode(),
            },
        )

    def token_kubeconfig(self, name: str, token: str) -> Path:
        """A kubeconfig that authenticates with a bearer token (e.g. a ServiceAccount's TokenRequest token)."""
        return self._kubeconfig(name, {"token": token})

    def kubectl(
        self, *args: str, kubeconfig: Path | None = None, input_text: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run the kubectl built with the control plane against this cluster."""
        cmd = [str(self.bin_dir / "kubectl"), "--kubeconfig", str(kubeconfig or self.admin_kubeconfig), *args]
        return subprocess.run(cmd, input=input_text, capture_output=True, text=True, check=check, timeout=120)

    # -- processes ----------------------------------------------------------------------------------------
    def _spawn(self, name: str, args: list[str]) -> _Child:
        log = self._dir / f"{name}.log"
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                args,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent,
            )
        (self._dir / f"{name}.pid").write_text(str(proc.pid))
        child = _Child(name, proc, log)
        self._children.append(child)
        return child

    def _wait(self, child: _Child, probe: Any, what: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if child.proc.poll() is not None:
                raise ControlPlaneError(
                    f"{child.name} exited with {child.proc.returncode}:\n{_tail(child.log)}"
                )
            if probe():
                return
            time.sleep(0.2)
        raise ControlPlaneError(
            f"timed out after {START_TIMEOUT:.0f}s waiting for {what}:\n{_tail(child.log)}"
        )

    def _https_get(self, path: str) -> int:
        d = self._dir
        ctx = ssl.create_default_context(cafile=str(d / "serving-ca.crt"))
        ctx.load_cert_chain(d / "admin.crt", d / "admin.key")
        try:
            with urllib.request.urlopen(self.server + path, context=ctx, timeout=5) as resp:
                return int(resp.status)
        except urllib.error.HTTPError as exc:
            return exc.code
        except (urllib.error.URLError, OSError):
            return 0

    def _start_processes(self) -> None:
        d = self._dir
        etcd_client, etcd_peer, api_port = free_ports(3)
        etcd_url = f"http://127.0.0.1:{etcd_client}"
        shutil.rmtree(d / "etcd", ignore_errors=True)
        etcd = self._spawn(
            "etcd",
            [
                str(self.bin_dir / "etcd"),
                f"--data-dir={d / 'etcd'}",
                f"--listen-client-urls={etcd_url}",
                f"--advertise-client-urls={etcd_url}",
                f"--listen-peer-urls=http://127.0.0.1:{etcd_peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{etcd_peer}",
                f"--initial-cluster=default=http://127.0.0.1:{etcd_peer}",
                "--unsafe-no-fsync=true",
                "--log-level=warn",
            ],
        )

        def etcd_ready() -> bool:
            try:
                with urllib.request.urlopen(etcd_url + "/health", timeout=2) as resp:
                    return b'"health":"true"' in resp.read()
            except (urllib.error.URLError, OSError):
                return False

        self._wait(etcd, etcd_ready, "etcd /health")
        self.server = f"https://127.0.0.1:{api_port}"
        self._api_args = [
            str(self.bin_dir / "kube-apiserver"),
            f"--etcd-servers={etcd_url}",
            f"--service-account-issuer={self.server}/",
            f"--service-account-signing-key-file={d / 'sa.key'}",
            f"--service-account-key-file={d / 'sa.pub'}",
            "--bind-address=127.0.0.1",
            f"--secure-port={api_port}",
            "--advertise-address=127.0.0.1",
            f"--tls-cert-file={d / 'apiserver.crt'}",
            f"--tls-private-key-file={d / 'apiserver.key'}",
            f"--client-ca-file={d / 'client-ca.crt'}",
            f"--cert-dir={d / 'certdir'}",
            "--authorization-mode=RBAC",
            "--service-cluster-ip-range=10.0.0.0/24",
            "--disable-admission-plugins=ServiceAccount",
            "--allow-privileged=true",
            "--endpoint-reconciler-type=none",
        ]
        self._start_apiserver()

    def _start_apiserver(self) -> None:
        api = self._spawn("kube-apiserver", self._api_args)
        self._wait(api, lambda: self._https_get("/readyz") == 200, "kube-apiserver /readyz")
        self._wait(api, lambda: self._https_get("/api/v1/namespaces/default") == 200, "namespace default")
        d = self._dir
        admin = (d / "admin.crt").read_bytes(), (d / "admin.key").read_bytes()
        self.admin_kubeconfig = self._kubeconfig(
            "admin",
            {
                "client-certificate-data": base64.b64encode(admin[0]).decode(),
                "client-key-data": base64.b64encode(admin[1]).decode(),
            },
        )


def process_alive(pid: int) -> bool:
    """True when ``pid`` names a live process (not a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
