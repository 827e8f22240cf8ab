"""The reliability tier (``make reliability``): every test here is marked ``reliability``.

``RELIABILITY_SCALE=full`` runs the issue's sizes (100 objects under faults, 20 crashes, ...); the default
``fast`` runs small versions of the same scenarios inside ``make test``. Each scenario records one row of
figures (``report`` fixture); the table is printed at the end of the run.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.reliability.scenario import ROWS, SCALE, Row


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/reliability/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.reliability)


@pytest.fixture
def report() -> Callable[[Row], None]:
    """Record the figures of one scenario for the summary table."""
    return ROWS.append


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not ROWS:
        return
    terminalreporter.section(f"reliability figures (RELIABILITY_SCALE={SCALE.name})")
    for line in Row.table(ROWS):
        terminalreporter.write_line(line)
