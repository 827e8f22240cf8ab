"""Static checks of the Dockerfile (images are built in CI, not here): two stages, a configurable base, a copied
venv, a numeric non-root user, no pip cache, nothing written at run time, the operator with its liveness
endpoint as entrypoint; and a .dockerignore that keeps the context to what the image needs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


def instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text())
    out: list[tuple[str, str]] = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def test_two_stages_from_a_base_image_argument() -> None:
    steps = instructions()
    keyword, arg = steps[0]
    assert keyword == "ARG"
    assert re.fullmatch(r"BASE_IMAGE=python:3\.11-slim@sha256:[0-9a-f]{64}", arg), "base not pinned by digest"
    froms = [rest for keyword, rest in steps if keyword == "FROM"]
    assert froms == ["${BASE_IMAGE} AS build", "${BASE_IMAGE}"]


def test_runtime_stage_copies_the_venv_and_runs_as_numeric_non_root() -> None:
    steps = instructions()
    final = steps[max(i for i, (k, _) in enumerate(steps) if k == "FROM") :]
    assert ("COPY", "--from=build /opt/venv /opt/venv") in final
    assert not [r for k, r in final if k == "RUN"], "the runtime stage installs nothing"
    users = [r for k, r in final if k == "USER"]
    assert users, "no USER in the runtime stage"
    assert re.fullmatch(r"[1-9][0-9]*:[1-9][0-9]*", users[-1]), users
    env = " ".join(r for k, r in final if k == "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in env
    assert "HOME=/tmp" in env
    entrypoint = json.loads(next(r for k, r in final if k == "ENTRYPOINT"))
    assert entrypoint == ["ecr-privacy-operator", "--liveness=http://0.0.0.0:8081/healthz"]
    assert ("EXPOSE", "8080 8081") in final
    assert any(k == "LABEL" and "org.opencontainers.image.title" in r for k, r in final)


def test_no_pip_cache() -> None:
    for keyword, rest in instructions():
        if keyword == "RUN" and "pip install" in rest:
            assert "--no-cache-dir" in rest


def test_dependencies_come_only_from_the_lock_with_hashes() -> None:
    """Every pip install either installs requirements.lock with --require-hashes or fetches nothing."""
    installs = [
        segment
        for keyword, rest in instructions()
        if keyword == "RUN"
        for segment in rest.split("&&")
        if "pip install" in segment
    ]
    assert installs
    for install in installs:
        locked = "--require-hashes" in install and "-r requirements.lock" in install
        assert locked or ("--no-index" in install and "--no-deps" in install), install


def test_dockerignore_allows_only_what_the_build_copies() -> None:
    lines = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*"
    assert {"!pyproject.toml", "!requirements.lock", "!README.md", "!operator/"} <= set(lines)
