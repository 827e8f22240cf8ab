"""The Flux example orders the CRD and the operator before the policies: the policies' Kustomization depends on
a Kustomization that applies the operator's HelmRelease and waits for it (Flux's ``dependsOn`` names
Kustomizations only, never a HelmRelease), and the GitRepository it reads from holds that HelmRelease."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.unit

FLUX = Path(__file__).resolve().parents[2] / "deploy" / "gitops" / "flux"


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def test_policies_wait_for_the_operators_kustomization() -> None:
    operator = {(d["kind"], d["metadata"]["name"]): d for d in _docs(FLUX / "operator.yaml")}
    (policies,) = [d for d in _docs(FLUX / "policies.yaml") if d["kind"] == "Kustomization"]
    depends = [ref["name"] for ref in policies["spec"]["dependsOn"]]
    assert depends == ["ecr-privacy-operator"]
    upstream = operator[("Kustomization", "ecr-privacy-operator")]["spec"]
    assert upstream["wait"] is True, "dependsOn waits for Ready, which means something only with wait"
    applied = [d for p in sorted((FLUX / upstream["path"].removeprefix("./deploy/gitops/flux/")).glob("*.yaml"))
               for d in _docs(p)]  # fmt: skip
    assert [d["kind"] for d in applied] == ["HelmRelease"]
    assert applied[0]["spec"]["chart"]["spec"]["chart"] == "deploy/helm/ecr-privacy-operator"
    source = operator[("GitRepository", upstream["sourceRef"]["name"])]["spec"]
    assert "!/deploy/gitops/flux/release/" in source["ignore"].split()
    assert "!/deploy/helm/" in source["ignore"].split()
