"""Fixtures for the Helm chart tests: the helm binary (built from Go modules, like the control plane) and a
``render`` helper around ``helm template``.

helm is built by ``python tests/controlplane/build.py --helm`` (``make test`` does it first). The fixture never
builds: when helm is missing, every chart test errors with the command to run.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.controlplane import build

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "ecr-privacy-operator"
KUBE_VERSION = build.KUBERNETES_VERSION.lstrip("v")

Render = Callable[..., list[dict[str, Any]]]


@pytest.fixture(scope="session")
def helm() -> Path:
    path = build.helm_path()
    if not path.is_file():
        pytest.fail(f"helm not found at {path}; build it with: python tests/controlplane/build.py --helm")
    return path


def run_helm(helm: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(helm), *args], capture_output=True, text=True, timeout=120, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}{proc.stdout}")
    return proc


def template_args(
    namespace: str = "ecr-privacy-operator",
    release: str = "ecr-privacy-operator",
    values_files: Sequence[Path] = (),
    set_values: Sequence[str] = (),
) -> list[str]:
    args = ["template", release, str(CHART), "--kube-version", KUBE_VERSION, "--namespace", namespace]
    for path in values_files:
        args += ["--values", str(path)]
    for item in set_values:
        args += ["--set", item]
    return args


@pytest.fixture(scope="session")
def render(helm: Path) -> Render:
    """``render(namespace=..., values_files=[...], set_values=[...])``: the chart's objects (empty docs dropped)."""

    def _render(**kwargs: Any) -> list[dict[str, Any]]:
        out = run_helm(helm, *template_args(**kwargs)).stdout
        return [doc for doc in yaml.safe_load_all(out) if doc]

    return _render


def by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def one(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = by_kind(objects, kind)
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]
