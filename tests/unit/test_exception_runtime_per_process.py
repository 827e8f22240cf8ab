"""One exceptions' runtime per process: Kopf gives each object a shallow copy of the operator's memo, so the
runtime the exception handlers build must live on the shared ``Runtime``, not on their copy of the memo."""

from __future__ import annotations

import copy

import kopf
import pytest

from ecr_privacy_operator.handlers.exceptions import _runtime
from tests.fixtures.runtime import CachingKube, runtime_for

pytestmark = pytest.mark.unit


async def test_every_exception_object_gets_the_same_runtime() -> None:
    memo = kopf.Memo()
    memo.runtime = runtime_for(CachingKube({}))
    first, second = copy.copy(memo), copy.copy(memo)  # what Kopf hands two exception objects
    found = _runtime(first, {"policies_by_name": {}})
    assert _runtime(second, {"policies_by_name": {}}) is found
    assert memo.runtime.exception_checks is found  # where the feed routes the exceptions' edits
    assert len(memo.runtime.compliance_listeners) == 1
    await found.stop()
    await memo.runtime.pool.aclose()
