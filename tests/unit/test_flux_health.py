"""How Flux rates the operator's objects in a Kustomization's health checks, over every status sample
(deploy/gitops/testdata/status-samples.yaml) and every kind the project ships.

With ``healthCheckExprs`` for a kind (kustomize-controller v1.5.0, Flux v2.5), Flux's CEL status reader
replaces kstatus for it. As Flux documents and implements it: an int ``status.observedGeneration`` that differs
from ``metadata.generation`` is InProgress; then ``inProgress``, ``failed`` and ``current`` are evaluated in that
order and the first true one decides; if none is true the object is InProgress. An expression that cannot be
evaluated (cel-go: a top-level field the object lacks, e.g. ``status`` before the operator writes one, is "no
such attribute"; or a result that is not a bool) makes the object Unknown: Flux keeps waiting and shows the
error. Without ``healthCheckExprs``, kstatus' generic rules apply (``kstatus`` below), and they rate an object
with no status at all Current: the gap these expressions close.

The expressions are evaluated with cel-python (``celpy``), a CEL implementation for Python.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
import yaml

from tests.fixtures.gitops import GITOPS, Kind, Sample, kinds, samples

celpy = pytest.importorskip("celpy", reason="the test extra installs cel-python")

pytestmark = pytest.mark.unit

FLUX = GITOPS / "flux"
POLICIES = FLUX / "policies.yaml"
ROOTS = ("apiVersion", "kind", "metadata", "spec", "status")
SAMPLES = samples()


def policies_kustomization() -> dict[str, Any]:
    (kustomization,) = [
        d for d in yaml.safe_load_all(POLICIES.read_text()) if d and d["kind"] == "Kustomization"
    ]
    return kustomization


def health_check_exprs() -> list[dict[str, str]]:
    exprs: list[dict[str, str]] = policies_kustomization()["spec"].get("healthCheckExprs", [])
    return exprs


def exprs_for(kind: Kind) -> dict[str, str] | None:
    """The entry Flux uses for a kind: one naming the kind, else one for its whole group (no ``kind``)."""
    entries = health_check_exprs()
    group = [e for e in entries if e["apiVersion"].split("/")[0] == kind.group]
    return next((e for e in group if e.get("kind") == kind.kind), None) or next(
        (e for e in group if not e.get("kind")), None
    )


class UnevaluableError(Exception):
    pass


_STRINGS = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")


def evaluate(expr: str, obj: dict[str, Any]) -> bool:
    """A CEL expression on the object, its top-level fields as variables (as Flux passes it)."""
    code = _STRINGS.sub("''", expr)
    for root in ROOTS:
        # cel-go fails on a variable the object does not have; cel-python's has() would answer false instead.
        if root not in obj and re.search(rf"(?<![.\w]){root}\b", code):
            raise UnevaluableError(f"no such attribute(s): {root}")
    env = celpy.Environment()
    program = env.program(env.compile(expr))
    try:
        result = program.evaluate({k: celpy.json_to_cel(v) for k, v in obj.items()})
    except celpy.CELEvalError as e:
        raise UnevaluableError(str(e)) from e
    if not isinstance(result, celpy.celtypes.BoolType):
        raise UnevaluableError(f"failed to evaluate CEL expression as boolean: {expr!r}")
    return bool(result)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def cel_status(exprs: dict[str, str], obj: dict[str, Any]) -> str:
    """Flux's CEL status reader for one object."""
    observed = _int(obj.get("status", {}).get("observedGeneration"))
    generation = _int(obj.get("metadata", {}).get("generation"))
    if observed is not None and generation is not None and observed != generation:
        return "InProgress"
    for key, status in (("inProgress", "InProgress"), ("failed", "Failed"), ("current", "Current")):
        if not exprs.get(key):
            continue
        try:
            if evaluate(exprs[key], obj):
                return status
        except UnevaluableError:
            return "Unknown"
    return "InProgress"


def kstatus(obj: dict[str, Any]) -> str:
    """kstatus' generic rules (Flux's fork of cli-utils), for a kind it has no specific rules for."""
    if obj.get("metadata", {}).get("deletionTimestamp"):
        return "Terminating"
    status = obj.get("status", {})
    generation = _int(obj.get("metadata", {}).get("generation"))
    observed = _int(status.get("observedGeneration"))
    if generation is not None and observed is not None and observed != generation:
        return "InProgress"
    conditions = status.get("conditions", [])
    for c in conditions:
        if c.get("type") == "Reconciling" and c.get("status") == "True":
            return "InProgress"
        if c.get("type") == "Stalled" and c.get("status") == "True":
            return "Failed"
    for c in conditions:
        if c.get("type") == "Ready" and c.get("status") in ("True", "False", "Unknown"):
            return "Current" if c["status"] == "True" else "InProgress"
    return "Current"  # no known condition: kstatus assumes Current


def flux_status(obj: dict[str, Any], kind: Kind) -> str:
    exprs = exprs_for(kind)
    return kstatus(obj) if exprs is None else cel_status(exprs, obj)


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.id)
def test_health_as_flux_computes_it(sample: Sample) -> None:
    assert flux_status(sample.obj, sample.kind) == sample.expect["flux"], sample.id


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.id)
def test_kstatus_alone(sample: Sample) -> None:
    """What Flux would say without the expressions (the samples record it, and the README shows it)."""
    assert kstatus(sample.obj) == sample.expect["kstatus"], sample.id


def test_kstatus_alone_passes_a_policy_the_operator_has_not_seen() -> None:
    gap = {s.group for s in SAMPLES if s.expect["kstatus"] == "Current" and s.expect["flux"] != "Current"}
    assert {"no status", "empty status", "no conditions", "Ready of an older generation"} <= gap


@pytest.mark.parametrize("sample", [s for s in SAMPLES if s.expect["flux"] == "Current"], ids=lambda s: s.id)
def test_never_current_for_an_older_generation(sample: Sample) -> None:
    """observedGeneration < metadata.generation is never Current, in status or in the Ready condition."""
    obj = copy.deepcopy(sample.obj)
    obj["metadata"]["generation"] += 1
    assert flux_status(obj, sample.kind) == "InProgress"
    del obj["status"]["observedGeneration"]
    assert flux_status(obj, sample.kind) == "InProgress"


def test_every_kind_has_expressions() -> None:
    for kind in kinds():
        exprs = exprs_for(kind)
        assert exprs is not None, f"policies.yaml: no healthCheckExprs for {kind.kind}"
        assert exprs["apiVersion"] == kind.api_version
        assert exprs.get("current"), "current is required"


def test_the_expressions_are_valid_flux_fields_and_cel() -> None:
    fields = {"apiVersion", "kind", "current", "inProgress", "failed"}
    seen = set()
    for entry in health_check_exprs():
        assert set(entry) <= fields, set(entry) - fields
        assert {"apiVersion", "kind", "current"} <= set(entry), "kustomize-controller v1.5.0 requires these"
        key = (entry["apiVersion"].split("/")[0], entry.get("kind", ""))
        assert key not in seen, f"duplicate custom health check for {key}"
        seen.add(key)
        env = celpy.Environment()
        for name in ("current", "inProgress", "failed"):
            if name in entry:
                env.compile(entry[name])


def test_the_kustomization_checks_the_policies() -> None:
    spec = policies_kustomization()["spec"]
    checked = {c["kind"] for c in spec["healthChecks"]}
    assert {"EcrPrivacyPolicy", "EcrPrivacyException"} <= checked, (
        "the example checks a policy and an exception"
    )
    assert spec["timeout"], "a health check needs a timeout"
