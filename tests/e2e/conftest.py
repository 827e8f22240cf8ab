"""The e2e tier: every test here is marked ``e2e``. Its helpers and fixtures (``e2e_ns``, ``solo_ns``,
``policies``, ``Policies``, ``Guardrails``) live in ``tests/fixtures/policies.py``, shared with the reliability
tier."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/e2e/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.e2e)
