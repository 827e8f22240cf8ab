"""The chart as published: ``helm package`` builds ``ecr-privacy-operator-<version>.tgz``, and that archive (not
the folder) renders and passes a server-side dry run against the local kube-apiserver. Its default image is
the one ``make image`` tags: ``ecr-privacy-operator:<appVersion>``, where appVersion is the project's version."""

from __future__ import annotations

import tarfile
import tomllib
import uuid
from pathlib import Path
from typing import Any

import yaml

from tests.chart.conftest import CHART, KUBE_VERSION, ROOT, one, run_helm
from tests.controlplane.harness import ControlPlane
from tests.fixtures.manifests import apply, ensure_namespaces, split_crds

PROJECT_VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def test_versions_agree() -> None:
    """The chart deploys the operator version it is released with, the tag hack/image.sh adds."""
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["appVersion"] == PROJECT_VERSION
    image_sh = (ROOT / "hack" / "image.sh").read_text()
    assert "VERSIONED_IMAGE=${IMAGE%:*}:$VERSION" in image_sh
    assert '-t "$IMAGE" -t "$VERSIONED_IMAGE"' in image_sh


def test_packaged_chart_renders_and_passes_a_server_dry_run(
    kube: ControlPlane, helm: Path, crd: dict[str, Any], tmp_path: Path
) -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    run_helm(helm, "package", str(CHART), "--destination", str(tmp_path))
    archive = tmp_path / f"ecr-privacy-operator-{chart['version']}.tgz"
    assert archive.is_file(), sorted(p.name for p in tmp_path.iterdir())
    with tarfile.open(archive) as tgz:
        names = set(tgz.getnames())
    for member in (
        "Chart.yaml",
        "values.yaml",
        "values.schema.json",
        "README.md",
        "templates/deployment.yaml",
    ):
        assert f"ecr-privacy-operator/{member}" in names, member
    assert not [n for n in names if "/ci/" in n], "ci/ values are for tests, not for the package"

    namespace = f"pkg-{uuid.uuid4().hex[:8]}"
    ensure_namespaces(kube, namespace)
    manifest = run_helm(
        helm, "template", "ecr-privacy-operator", str(archive), "--namespace", namespace,
        "--kube-version", KUBE_VERSION,
    ).stdout  # fmt: skip
    objects = [d for d in yaml.safe_load_all(manifest) if d]
    container = one(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == f"ecr-privacy-operator:{PROJECT_VERSION}", "the tag `make image` builds"

    crds, rest = split_crds(manifest)
    out = apply(kube, crds, "--dry-run=server")
    assert "ecrprivacypolicies.ecrprivacy.dev" in out
    out = apply(kube, rest, "--dry-run=server", "--validate=strict")
    assert "deployment.apps/ecr-privacy-operator serverside-applied (server dry run)" in out
    assert "poddisruptionbudget.policy/ecr-privacy-operator serverside-applied (server dry run)" in out
