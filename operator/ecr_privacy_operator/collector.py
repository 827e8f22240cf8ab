"""Python's cyclic garbage collector, set for this process: a heap that grows with the objects it watches.

With CPython's default thresholds a young collection runs every 700 net allocations of container objects, and
the operator's work in flight (Kopf's per-object workers and events, passes waiting for a slot, requests under
way) lives through two of them and is moved to the oldest generation. Each time such moves reach a quarter of
that generation, a full collection walks the whole heap with the event loop stopped, so the more objects the
operator holds, the longer each full collection and the more of them a first sync makes: at 10,000 objects
74 full collections took 45 s (4.5 ms per object against 1.4 at 1000) and up to 1.6 s each.

``tune`` raises the young generation's threshold to ``YOUNG_THRESHOLD``: work in flight is mostly freed before
a collection looks at it, so little is promoted and full collections become rare (6 in the same first sync,
20 s of collections instead of 67). The price is garbage held longer: a threshold of 50,000 cost ~60 MiB more
RSS with 10,000 objects and saved no CPU over this one, with which the RSS stayed at ~490 MiB in that sync.
This one costs a fixed ~10 to 15 MiB whatever the fleet (1000 policies with 1000 exceptions: 185 MiB against
170 with CPython's thresholds). The older generations keep CPython's thresholds. docs/benchmarks.md has the
measurements.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 10_000


def tune() -> tuple[int, int, int]:
    """Set the collector's thresholds for the operator (before Kopf starts); returns the ones it replaced."""
    before = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, *before[1:])
    return before
