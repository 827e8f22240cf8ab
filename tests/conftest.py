"""Test-suite wiring: fixture plugins and markers.

Tests that use the ``kube`` fixture (directly or through another fixture) are marked ``cluster``
automatically, so ``-m unit`` and ``-m "not cluster"`` select the fast tiers.
"""

from __future__ import annotations

import pytest

pytest_plugins = [
    "tests.fixtures.kube",
    "tests.fixtures.emulator",
    "tests.fixtures.operator",
    "tests.fixtures.policies",
    "tests.fixtures.tenancy",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "kube" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.cluster)
