"""Sampled stacks of a running process (``BENCH_SPY=1 make bench``): what the operator spends its CPU on during
one phase of a scenario, with py-spy (the ``bench`` extra), as collapsed stacks and a summary.

py-spy samples from outside the process (no instrumentation, a few per cent of overhead), so a phase's figures
stay comparable with a run without it. The summary lists the functions holding the most samples: "own" (the
function was running) and "inclusive" (it was on the stack), by function and file, line numbers folded.
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
from collections import Counter
from pathlib import Path


def start(pid: int, seconds: float, out: Path, rate: int = 50) -> subprocess.Popen[bytes] | None:
    """Sample ``pid`` for ``seconds`` into ``out`` (py-spy's raw, collapsed format); None without py-spy."""
    spy = shutil.which("py-spy") or str(Path(__file__).resolve().parents[1] / ".venv" / "bin" / "py-spy")
    if not Path(spy).exists():
        return None
    command = [spy, "record", "--pid", str(pid), "--duration", str(max(1, int(seconds)))]
    command += ["--rate", str(rate), "--nonblocking", "--format", "raw", "--output", str(out)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _frame(frame: str) -> str:
    """``name (path/to/module.py:123)`` -> ``name (module.py)``."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    parts = Path(path).parts
    short = "/".join(parts[-2:]) if len(parts) > 1 else path
    return f"{name} ({short})"


def _cell(row: tuple[str, int] | None, total: int) -> str:
    """``share | function`` of one table row, blank where that column has no more functions."""
    return " | " if row is None else f"{100 * row[1] / total:.1f} | `{row[0]}`"


def summary(raw: Path, top: int = 20) -> str:
    """The ``top`` functions by own and by inclusive samples, as a Markdown table."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [_frame(f) for f in stack.split(";") if f]
        if not frames:
            continue
        samples = int(count)
        total += samples
        own[frames[-1]] += samples
        for frame in set(frames):
            inclusive[frame] += samples
    if not total:
        return "(no samples)"
    rows = ["| own % | function | | inclusive % | function |", "|---|---|---|---|---|"]
    for own_row, inclusive_row in itertools.zip_longest(own.most_common(top), inclusive.most_common(top)):
        rows.append(f"| {_cell(own_row, total)} | | {_cell(inclusive_row, total)} |")
    return f"{total} samples\n\n" + "\n".join(rows)
