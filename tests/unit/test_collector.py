"""The collector's young threshold follows the policies a process serves (``collector.fit``): CPython's 700 for
a few, the number of policies for more, 10,000 at most; the older generations as CPython sets them."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from ecr_privacy_operator import collector
from tests.fixtures.runtime import CachingKube, runtime_for

pytestmark = pytest.mark.unit


@pytest.fixture
def thresholds() -> Iterator[None]:
    saved = gc.get_threshold()
    gc.set_threshold(700, 10, 10)  # CPython's
    try:
        yield
    finally:
        gc.set_threshold(*saved)


def test_the_young_threshold_is_the_objects_served_within_bounds() -> None:
    assert [collector.young_threshold(n) for n in (0, 700, 2500, 10_000, 50_000)] == [
        700,
        700,
        2500,
        10_000,
        10_000,
    ]


def test_fit_sets_only_the_young_threshold(thresholds: None) -> None:
    collector.fit(4000)
    assert gc.get_threshold() == (4000, 10, 10)
    collector.fit(12)
    assert gc.get_threshold() == (700, 10, 10)


async def test_the_runtime_fits_the_collector_as_policies_come_and_go(thresholds: None) -> None:
    runtime = runtime_for(CachingKube({}))
    for i in range(2500):
        runtime.state(f"u-{i}")
    runtime.state("u-0")  # known: nothing changes
    assert gc.get_threshold() == (2500, 10, 10)
    for i in range(2000):
        runtime.forget(f"u-{i}", "team", f"p-{i}")
    assert gc.get_threshold() == (700, 10, 10)
    await runtime.pool.aclose()
