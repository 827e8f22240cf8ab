"""The status samples (deploy/gitops/testdata/status-samples.yaml) that the Argo CD and Flux health tests run,
and README.md's GitOps table, are generated from, cover every reason the operator writes into ``Ready`` and
every reason the README documents, so a new reason cannot be documented in one place and forgotten in another.
"""

from __future__ import annotations

import importlib.util
import re
from types import ModuleType

import pytest

from ecr_privacy_operator.crd.conditions import Reason
from tests.fixtures.gitops import ENGINES, ROOT, raw_samples, ready_reasons

pytestmark = pytest.mark.unit

README = ROOT / "README.md"
# Reasons the operator never puts into Ready: those of Synced and Drifted, of a workspace's FeedAvailable, and
# NotExpired (only an exception's Expired condition has it; Expired is a reason of Ready as well).
NOT_READY_REASONS = {
    Reason.SYNCED,
    Reason.NO_DRIFT,
    Reason.DRIFT_CORRECTED,
    Reason.FEED_FOLLOWED,
    Reason.FEED_FORBIDDEN,
    Reason.FEED_NOT_SUPPORTED,
    Reason.FEED_UNAVAILABLE,
    Reason.FEED_BLIND,
    Reason.NOT_EXPIRED,
    Reason.RESYNC_INTERVAL_RAISED,  # an Event only
}
VALID = {
    "argocd": {"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"},
    "flux": {"Current", "InProgress", "Failed", "Unknown"},
    "kstatus": {"Current", "InProgress", "Failed", "Terminating", "Unknown"},
}


def sampled_reasons() -> set[str]:
    return set().union(*(ready_reasons(s) for s in raw_samples()))


def readme_reasons() -> set[str]:
    """The reasons in the first column of the tables under "Troubleshooting by condition reason"."""
    text = README.read_text()
    section = text.split("\n## Troubleshooting by condition reason\n", 1)[1].split("\n## ", 1)[0]
    found = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            found |= set(re.findall(r"`([A-Za-z]+)`", line.split("|")[1]))
    return found


def test_every_ready_reason_of_the_operator_has_a_sample() -> None:
    missing = {str(r) for r in Reason} - {str(r) for r in NOT_READY_REASONS} - sampled_reasons()
    assert not missing, f"add a sample to status-samples.yaml for {sorted(missing)}"


def test_samples_use_only_reasons_the_operator_has() -> None:
    unknown = sampled_reasons() - {str(r) for r in Reason}
    assert not unknown


def test_the_readme_documents_the_sampled_reasons_and_no_others() -> None:
    documented = readme_reasons()
    assert documented <= {str(r) for r in Reason}, documented - {str(r) for r in Reason}
    ready_documented = documented - {str(r) for r in NOT_READY_REASONS}
    assert ready_documented == sampled_reasons(), (
        f"in the README only: {sorted(ready_documented - sampled_reasons())}; "
        f"in the samples only: {sorted(sampled_reasons() - ready_documented)}"
    )


def test_every_sample_names_its_health_in_every_engine() -> None:
    names = [s["name"] for s in raw_samples()]
    assert len(names) == len(set(names))
    for sample in raw_samples():
        assert set(sample["expect"]) == set(ENGINES), sample["name"]
        for engine, health in sample["expect"].items():
            assert health in VALID[engine], (sample["name"], engine, health)


def _chart_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("hack_chart", ROOT / "hack" / "chart.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_readme_table_is_generated_from_the_samples() -> None:
    chart = _chart_script()
    assert README.read_text() == chart.root_readme_text(), "README.md is stale: run `make chart-crds`"
