"""The bench's stack summary (``BENCH_SPY=1``): py-spy's collapsed stacks folded into the functions holding the
most samples, own (running) and inclusive (on the stack, once per stack however often it recurs)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hack.stack_sampler import summary

pytestmark = pytest.mark.unit

RAW = """\
<module> (app/__main__.py:5);run (asyncio/runners.py:190);sync (app/runtime/passes.py:277);observe (app/reconcile/observe.py:111) 30
<module> (app/__main__.py:5);run (asyncio/runners.py:190);sync (app/runtime/passes.py:280);close_unused (app/reconcile/clients.py:124) 10
<module> (app/__main__.py:5);run (asyncio/runners.py:190);select (selectors.py:468) 60
not a stack line
"""


def test_own_and_inclusive_shares_with_line_numbers_folded(tmp_path: Path) -> None:
    raw = tmp_path / "spy.txt"
    raw.write_text(RAW)
    text = summary(raw, top=3)
    assert text.startswith("100 samples")
    rows = [
        line for line in text.splitlines() if line.startswith("| ") and "%" not in line and "---" not in line
    ]
    own = [r.split("|")[1].strip() for r in rows]
    assert own == ["60.0", "30.0", "10.0"]  # select, observe, close_unused
    assert "`select (selectors.py)`" in rows[0]
    # sync sits under two stacks with different lines: one function, 40 samples inclusive
    assert "| 40.0 | `sync (runtime/passes.py)` |" in summary(raw, top=10)


def test_no_samples(tmp_path: Path) -> None:
    raw = tmp_path / "spy.txt"
    raw.write_text("")
    assert summary(raw) == "(no samples)"
