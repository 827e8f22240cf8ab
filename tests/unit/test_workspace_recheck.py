"""Which policies a new workspace object re-checks (handlers/workspaces.py): only those that may have run without
it. A policy waiting for its first pass needs no second one queued behind it (the first sync's extra passes)."""

from __future__ import annotations

import pytest

from ecr_privacy_operator.handlers.workspaces import _ran_without
from tests.fixtures.runtime import CachingKube, runtime_for

pytestmark = pytest.mark.unit


async def test_a_new_workspace_rechecks_only_policies_that_may_have_run_without_it() -> None:
    runtime = runtime_for(CachingKube({}))
    runtime.state("waiting")  # created after the workspace; its first pass is queued
    runtime.state("failed").failures = 1  # e.g. WorkspaceNotFound before the workspace existed
    running = runtime.state("running")
    await running.lock.acquire()  # a pass in flight may have looked before the workspace existed
    assert [uid for uid in ("waiting", "failed", "running", "unknown") if _ran_without(runtime, uid)] == [
        "failed",
        "running",
    ]
    running.lock.release()
    await runtime.pool.aclose()
