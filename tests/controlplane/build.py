"""Build kube-apiserver, kubectl and etcd from Go modules into a cache directory keyed by version.

``go install k8s.io/kubernetes/cmd/kube-apiserver@vX`` cannot work: k8s.io/kubernetes replaces its staging
modules with local paths, and etcd's server module replaces its siblings. So each program is built inside a
small wrapper module. For Kubernetes the wrapper's replace lines are generated from the go.mod that the Go
module proxy serves (never hard-coded); etcd needs no replace lines because its siblings share its tag.

The cache directory is ``$KUBE_TEST_BIN`` when set, else
``${XDG_CACHE_HOME:-~/.cache}/ecr-privacy-operator/kube-bin/<key>``. A directory counts only once its stamp
file exists; builds go to a temporary sibling and are renamed into place, under a file lock.

Run ``python tests/controlplane/build.py`` to build (or find) the binaries; it prints the directory.
"""

from __future__ import annotations

import fcntl
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

# Bump RECIPE_REVISION whenever the build recipe below changes in a way that changes the binaries.
RECIPE_REVISION = 1
KUBERNETES_VERSION = "v1.36.3"
ETCD_VERSION = "v3.6.16"
BINARIES = ("kube-apiserver", "kubectl", "etcd")
STAMP = "STAMP"


def _go_version() -> str:
    out = subprocess.run(["go", "env", "GOVERSION"], check=True, capture_output=True, text=True)
    return out.stdout.strip()


def cache_key() -> str:
    """The cache key: versions, Go toolchain, platform and the recipe revision."""
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    return (
        f"k8s-{KUBERNETES_VERSION}_etcd-{ETCD_VERSION}_{_go_version()}_"
        f"{platform.system().lower()}-{arch}_r{RECIPE_REVISION}"
    )


def cache_root() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "ecr-privacy-operator" / "kube-bin"


def bin_dir() -> Path:
    """Where the binaries are (or will be): ``$KUBE_TEST_BIN`` or the keyed cache directory."""
    override = os.environ.get("KUBE_TEST_BIN") or os.environ.get("KUBEBUILDER_ASSETS")
    if override:
        return Path(override)
    return cache_root() / cache_key()


def is_built(directory: Path) -> bool:
    return (directory / STAMP).is_file() and all((directory / b).is_file() for b in BINARIES)


def _log(message: str) -> None:
    print(f"[controlplane-build {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    """Run a command, printing a heartbeat every 30 s while it runs (go build is silent for minutes)."""
    _log("$ " + " ".join(args))
    started = time.monotonic()
    done = threading.Event()

    def heartbeat() -> None:
        while not done.wait(30):
            _log(f"  ... still running ({time.monotonic() - started:.0f}s)")

    threading.Thread(target=heartbeat, daemon=True).start()
    try:
        proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    finally:
        done.set()
    if proc.returncode != 0:
        output = (proc.stdout + proc.stderr)[-4000:]
        raise RuntimeError(f"command failed ({proc.returncode}): {' '.join(args)}\n{output}")
    _log(f"  done in {time.monotonic() - started:.0f}s")
    return proc.stdout


def _ldflags(pairs: dict[str, str]) -> str:
    return " ".join(["-s", "-w"] + [f"-X {k}={v}" for k, v in pairs.items()])


def _staging_modules(workdir: Path) -> list[str]:
    """Staging module paths, read from the go.mod the proxy serves for k8s.io/kubernetes."""
    info = json.loads(
        _run(["go", "mod", "download", "-json", f"k8s.io/kubernetes@{KUBERNETES_VERSION}"], workdir)
    )
    gomod = json.loads(_run(["go", "mod", "edit", "-json", info["GoMod"]], workdir))
    mods = [r["Old"]["Path"] for r in gomod.get("Replace") or [] if r["New"]["Path"].startswith("./staging/")]
    if not mods:
        raise RuntimeError("no staging replace lines found in the proxy's go.mod for k8s.io/kubernetes")
    return sorted(mods)


def _build_kubernetes(workdir: Path, out: Path, env: dict[str, str]) -> None:
    mod = workdir / "kube-bin"
    mod.mkdir()
    _run(["go", "mod", "init", "example.invalid/kube-bin"], mod, env)
    staging = _staging_modules(mod)
    _log(f"{len(staging)} staging modules to replace at v0{KUBERNETES_VERSION[2:]}")
    staging_version = "v0" + KUBERNETES_VERSION[2:]
    _run(["go", "mod", "edit"] + [f"-replace={m}={m}@{staging_version}" for m in staging], mod, env)
    _run(
        [
            "go",
            "get",
            "-tool",
            f"k8s.io/kubernetes/cmd/kube-apiserver@{KUBERNETES_VERSION}",
            f"k8s.io/kubernetes/cmd/kubectl@{KUBERNETES_VERSION}",
        ],
        mod,
        env,
    )
    major, minor = KUBERNETES_VERSION[1:].split(".")[:2]
    version_flags: dict[str, str] = {}
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        version_flags.update(
            {
                f"{pkg}.gitVersion": KUBERNETES_VERSION,
                f"{pkg}.gitMajor": major,
                f"{pkg}.gitMinor": minor,
                f"{pkg}.gitTreeState": "clean",
            }
        )
    for name in ("kube-apiserver", "kubectl"):
        _run(
            [
                "go",
                "build",
                "-trimpath",
                "-ldflags",
                _ldflags(version_flags),
                "-o",
                str(out / name),
                f"k8s.io/kubernetes/cmd/{name}",
            ],
            mod,
            env,
        )


def _build_etcd(workdir: Path, out: Path, env: dict[str, str]) -> None:
    mod = workdir / "etcd-bin"
    mod.mkdir()
    _run(["go", "mod", "init", "example.invalid/etcd-bin"], mod, env)
    _run(["go", "get", "-tool", f"go.etcd.io/etcd/server/v3@{ETCD_VERSION}"], mod, env)
    flags = _ldflags({"go.etcd.io/etcd/api/v3/version.GitSHA": ETCD_VERSION})
    _run(
        ["go", "build", "-trimpath", "-ldflags", flags, "-o", str(out / "etcd"), "go.etcd.io/etcd/server/v3"],
        mod,
        env,
    )


def ensure_built() -> Path:
    """Return the binary directory, building it first when it is absent (the first build takes minutes)."""
    target = bin_dir()
    if is_built(target):
        return target
    if os.environ.get("KUBE_TEST_BIN") or os.environ.get("KUBEBUILDER_ASSETS"):
        raise RuntimeError(f"KUBE_TEST_BIN={target} does not hold {', '.join(BINARIES)} and a {STAMP} file")
    if shutil.which("go") is None:
        raise RuntimeError("the Go toolchain is needed to build kube-apiserver and etcd; install Go >= 1.26")
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if is_built(target):
            return target
        _log(f"building Kubernetes {KUBERNETES_VERSION} and etcd {ETCD_VERSION} into {target}")
        _log("the first build downloads modules and compiles for several minutes; later runs reuse it")
        started = time.monotonic()
        env = dict(os.environ, CGO_ENABLED="0", GOFLAGS="-mod=mod")
        with tempfile.TemporaryDirectory(prefix="kube-bin-", dir=target.parent) as tmp:
            tmpdir = Path(tmp)
            out = tmpdir / "out"
            out.mkdir()
            _build_etcd(tmpdir, out, env)
            _build_kubernetes(tmpdir, out, env)
            versions = {
                b: _run([str(out / b), "--version"], tmpdir).strip().splitlines()[0]
                for b in ("kube-apiserver", "etcd")
            }
            versions["kubectl"] = _run([str(out / "kubectl"), "version", "--client"], tmpdir).splitlines()[0]
            (out / STAMP).write_text(json.dumps({"key": target.name, "versions": versions}, indent=2))
            if target.exists():
                shutil.rmtree(target)
            out.rename(target)
        _log(f"built in {time.monotonic() - started:.0f}s: {versions}")
    return target


def main() -> int:
    try:
        directory = ensure_built()
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(directory)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
