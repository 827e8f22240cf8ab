"""Build kube-apiserver, kubectl and etcd (and helm) from Go modules into cache directories keyed by version.

``go install k8s.io/kubernetes/cmd/kube-apiserver@vX`` cannot work: k8s.io/kubernetes replaces its staging
modules with local paths, and etcd's server module replaces its siblings. So each program is built inside a
small wrapper module. For Kubernetes the wrapper's replace lines are generated from the go.mod that the Go
module proxy serves (never hard-coded); etcd needs no replace lines because its siblings share its tag.

The cache directory is ``$KUBE_TEST_BIN`` when set, else
``${XDG_CACHE_HOME:-~/.cache}/ecr-privacy-operator/kube-bin/<key>``. A directory counts only once its stamp
file exists; builds go to a temporary sibling and are renamed into place, under a file lock.

Programs whose go.mod has no ``replace`` lines (helm) are built with a plain ``go install`` into
``<cache>/tools/<name>-<version>_<go>_<os-arch>/`` (override: ``$HELM_BIN`` names a helm binary to use).

Two Kubernetes versions are supported and tested: the newest (the default) and the oldest, each with the
etcd it is paired with upstream. ``$ECR_TEST_KUBERNETES_VERSION`` (one of ``ETCD_FOR_KUBERNETES``) selects
the version for this process: the build, the cache directory and the harness all follow it.

Run ``python tests/controlplane/build.py`` to build (or find) the binaries; it prints the directory.
``--helm`` builds (or finds) helm as well; ``--controller-manager`` builds (or finds) kube-controller-manager
(for the tests that delete a namespace) in its own cache directory; ``--print-helm`` prints only the helm
binary's path.
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Bump RECIPE_REVISION whenever the build recipe below changes in a way that changes the binaries.
RECIPE_REVISION = 1
NEWEST_KUBERNETES_VERSION = "v1.36.3"
# The oldest tested minor. The CRD's CEL rules need 1.25 (x-kubernetes-validations with transition rules, i.e.
# oldSelf, beta and on by default from 1.25, GA in 1.29; duration(), matches() and exists_one are in the CEL
# environment from the start; the CRD uses no messageExpression, reason, fieldPath or optionalOldSelf). The
# module proxy serves a complete set of 1.Y staging modules only from 1.30 on (1.25-1.29 each miss some), so
# 1.30 is the oldest version that can be built, and so tested, here.
OLDEST_KUBERNETES_VERSION = "v1.30.14"
# Each Kubernetes version with the etcd minor it shipped with (etcd 3.5 up to 1.33), newest patch served.
ETCD_FOR_KUBERNETES = {NEWEST_KUBERNETES_VERSION: "v3.6.16", OLDEST_KUBERNETES_VERSION: "v3.5.16"}
VERSION_ENV = "ECR_TEST_KUBERNETES_VERSION"
KUBERNETES_VERSION = os.environ.get(VERSION_ENV) or NEWEST_KUBERNETES_VERSION
if KUBERNETES_VERSION not in ETCD_FOR_KUBERNETES:
    raise SystemExit(f"{VERSION_ENV}={KUBERNETES_VERSION} is not one of {', '.join(ETCD_FOR_KUBERNETES)}")
ETCD_VERSION = ETCD_FOR_KUBERNETES[KUBERNETES_VERSION]
BINARIES = ("kube-apiserver", "kubectl", "etcd")
STAMP = "STAMP"
HELM_VERSION = "v3.22.0"
HELM_MODULE = "helm.sh/helm/v3"


def _go_version() -> str:
    out = subprocess.run(["go", "env", "GOVERSION"], check=True, capture_output=True, text=True)
    return out.stdout.strip()


def _platform() -> str:
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    return f"{platform.system().lower()}-{arch}"


def cache_key() -> str:
    """The cache key: versions, Go toolchain, platform and the recipe revision."""
    return f"k8s-{KUBERNETES_VERSION}_etcd-{ETCD_VERSION}_{_go_version()}_{_platform()}_r{RECIPE_REVISION}"


def project_cache() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "ecr-privacy-operator"


def cache_root() -> Path:
    return project_cache() / "kube-bin"


def bin_dir() -> Path:
    """Where the binaries are (or will be): ``$KUBE_TEST_BIN`` or the keyed cache directory."""
    override = os.environ.get("KUBE_TEST_BIN") or os.environ.get("KUBEBUILDER_ASSETS")
    if override:
        return Path(override)
    return cache_root() / cache_key()


def is_built(directory: Path) -> bool:
    return is_complete(directory, BINARIES)


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


def _upstream_gomod(workdir: Path) -> dict[str, Any]:
    """The go.mod the proxy serves for k8s.io/kubernetes, as ``go mod edit -json`` prints it."""
    info = json.loads(
        _run(["go", "mod", "download", "-json", f"k8s.io/kubernetes@{KUBERNETES_VERSION}"], workdir)
    )
    gomod: dict[str, Any] = json.loads(_run(["go", "mod", "edit", "-json", info["GoMod"]], workdir))
    return gomod


def _wrapper_edits(gomod: dict[str, Any]) -> list[str]:
    """``go mod edit`` flags that make the wrapper build what upstream built.

    - every staging module (replaced by ``./staging/...`` upstream) at ``v0.Y.Z``;
    - every version pin upstream keeps as a replace line (releases before 1.26 pinned all their
      dependencies that way; newer ones have none), so minimal version selection picks upstream's set;
    - upstream's Go language version as the GODEBUG default, so runtime defaults (TLS, timers, ...) are the
      ones that release was built for, when that is older than the toolchain's.
    """
    staging_version = "v0" + KUBERNETES_VERSION[2:]
    replaces = gomod.get("Replace") or []
    staging = sorted(r["Old"]["Path"] for r in replaces if r["New"]["Path"].startswith("./staging/"))
    if not staging:
        raise RuntimeError("no staging replace lines found in the proxy's go.mod for k8s.io/kubernetes")
    _log(f"{len(staging)} staging modules to replace at {staging_version}")
    edits = [f"-replace={m}={m}@{staging_version}" for m in staging]
    pins = [r for r in replaces if r["New"].get("Version") and r["Old"]["Path"] not in staging]
    edits += [f"-replace={r['Old']['Path']}={r['New']['Path']}@{r['New']['Version']}" for r in pins]
    if pins:
        _log(f"{len(pins)} dependency versions pinned as upstream pins them")
    language = ".".join(gomod["Go"].split(".")[:2])
    if tuple(map(int, language.split("."))) < tuple(
        map(int, _go_version().removeprefix("go").split(".")[:2])
    ):
        edits.append(f"-godebug=default=go{language}")
    return edits


def _build_kubernetes(
    workdir: Path, out: Path, env: dict[str, str], programs: tuple[str, ...] = ("kube-apiserver", "kubectl")
) -> None:
    """Build ``programs`` (commands of k8s.io/kubernetes) in one wrapper module into ``out``."""
    mod = workdir / "kube-bin"
    mod.mkdir()
    _run(["go", "mod", "init", "example.invalid/kube-bin"], mod, env)
    _run(["go", "mod", "edit", *_wrapper_edits(_upstream_gomod(mod))], mod, env)
    _run(
        [
            "go",
            "get",
            "-tool",
            *(f"k8s.io/kubernetes/cmd/{name}@{KUBERNETES_VERSION}" for name in programs),
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
    for name in programs:
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


def _require_go(what: str) -> None:
    if shutil.which("go") is None:
        raise RuntimeError(f"the Go toolchain is needed to build {what}; install Go >= 1.26")


def build_cached(
    target: Path,
    binaries: tuple[str, ...],
    build: Callable[[Path, Path], None],
    version_args: dict[str, list[str]],
) -> None:
    """Build into a temporary sibling of ``target`` under a file lock, then stamp it and rename it into place.

    ``build(workdir, out)`` writes ``binaries`` into ``out``; each binary's version line (from its
    ``version_args``) goes into the stamp. A directory without a stamp counts as absent.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if is_complete(target, binaries):
            return
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix=f"{target.name[:20]}-", dir=target.parent) as tmp:
            tmpdir = Path(tmp)
            out = tmpdir / "out"
            out.mkdir()
            build(tmpdir, out)
            versions = {
                b: _run([str(out / b), *args], tmpdir).strip().splitlines()[0]
                for b, args in version_args.items()
            }
            (out / STAMP).write_text(json.dumps({"key": target.name, "versions": versions}, indent=2))
            if target.exists():
                shutil.rmtree(target)
            out.rename(target)
        _log(f"built in {time.monotonic() - started:.0f}s: {versions}")


def is_complete(directory: Path, binaries: tuple[str, ...]) -> bool:
    return (directory / STAMP).is_file() and all((directory / b).is_file() for b in binaries)


def go_install(
    module: str, program: str, version: str, ldflags: dict[str, str]
) -> Callable[[Path, Path], None]:
    """A ``build`` step for ``build_cached``: ``go install <module>/<program>@<version>`` with GOBIN=out.

    Only for modules whose go.mod has no ``replace`` lines at that tag (``go install`` refuses the others).
    """

    def build(workdir: Path, out: Path) -> None:
        env = dict(os.environ, CGO_ENABLED="0", GOBIN=str(out))
        _run(
            ["go", "install", "-trimpath", "-ldflags", _ldflags(ldflags), f"{module}/{program}@{version}"],
            workdir,
            env,
        )

    return build


def ensure_built() -> Path:
    """Return the binary directory, building it first when it is absent (the first build takes minutes)."""
    target = bin_dir()
    if is_built(target):
        return target
    if os.environ.get("KUBE_TEST_BIN") or os.environ.get("KUBEBUILDER_ASSETS"):
        raise RuntimeError(f"KUBE_TEST_BIN={target} does not hold {', '.join(BINARIES)} and a {STAMP} file")
    _require_go("kube-apiserver and etcd")
    _log(f"building Kubernetes {KUBERNETES_VERSION} and etcd {ETCD_VERSION} into {target}")
    _log("the first build downloads modules and compiles for several minutes; later runs reuse it")
    env = dict(os.environ, CGO_ENABLED="0", GOFLAGS="-mod=mod")

    def build(workdir: Path, out: Path) -> None:
        _build_etcd(workdir, out, env)
        _build_kubernetes(workdir, out, env)

    build_cached(
        target,
        BINARIES,
        build,
        {"kube-apiserver": ["--version"], "etcd": ["--version"], "kubectl": ["version", "--client"]},
    )
    return target


# -- kube-controller-manager (only for the tests that delete a namespace) ---------------------------------------
CONTROLLER_MANAGER = "kube-controller-manager"


def controller_manager_dir() -> Path:
    """Where kube-controller-manager is (or will be): beside the control plane's cache directory, so the
    plain control plane's cache stays valid and only the tests that delete a namespace pay for this build."""
    return bin_dir().parent / f"{bin_dir().name}_{CONTROLLER_MANAGER}"


def ensure_controller_manager() -> Path:
    """Return kube-controller-manager's path, building it (same Kubernetes version) when it is absent."""
    directory = controller_manager_dir()
    if is_complete(directory, (CONTROLLER_MANAGER,)):
        return directory / CONTROLLER_MANAGER
    _require_go(CONTROLLER_MANAGER)
    _log(f"building {CONTROLLER_MANAGER} {KUBERNETES_VERSION} into {directory}")
    env = dict(os.environ, CGO_ENABLED="0", GOFLAGS="-mod=mod")
    build_cached(
        directory,
        (CONTROLLER_MANAGER,),
        lambda workdir, out: _build_kubernetes(workdir, out, env, (CONTROLLER_MANAGER,)),
        {CONTROLLER_MANAGER: ["--version"]},
    )
    return directory / CONTROLLER_MANAGER


# -- helm --------------------------------------------------------------------------------------------------
def helm_path() -> Path:
    """Where helm is (or will be): ``$HELM_BIN`` or ``<cache>/tools/helm-<version>_<go>_<platform>/helm``."""
    override = os.environ.get("HELM_BIN")
    if override:
        return Path(override)
    return project_cache() / "tools" / f"helm-{HELM_VERSION}_{_go_version()}_{_platform()}" / "helm"


def ensure_helm() -> Path:
    """Return the helm binary, building it first with ``go install`` when it is absent (about a minute)."""
    path = helm_path()
    if os.environ.get("HELM_BIN"):
        if not path.is_file():
            raise RuntimeError(f"HELM_BIN={path} is not a file")
        return path
    if is_complete(path.parent, ("helm",)):
        return path
    _require_go("helm")
    _log(f"building helm {HELM_VERSION} into {path.parent}")
    build_cached(
        path.parent,
        ("helm",),
        go_install(
            HELM_MODULE, "cmd/helm", HELM_VERSION, {f"{HELM_MODULE}/internal/version.version": HELM_VERSION}
        ),
        {"helm": ["version", "--short"]},
    )
    return path


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    unknown = [a for a in args if a not in ("--helm", "--print-helm", "--controller-manager")]
    if unknown:
        print("usage: build.py [--helm] [--controller-manager] | --print-helm", file=sys.stderr)
        return 2
    try:
        if "--print-helm" in args:
            print(ensure_helm())
            return 0
        directory = ensure_built()
        if "--helm" in args:
            _log(f"helm: {ensure_helm()}")
        if "--controller-manager" in args:
            _log(f"{CONTROLLER_MANAGER}: {ensure_controller_manager()}")
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(directory)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
