"""Python's cyclic garbage collector, set for this process: its young threshold follows the objects served.

With CPython's default thresholds a young collection runs every 700 net allocations of container objects, and
the operator's work in flight (Kopf's per-object workers and events, passes waiting for a slot, requests under
way) lives through two of them and is moved to the oldest generation. Each time such moves reach a quarter of
that generation, a full collection walks the whole heap with the event loop stopped, so the more objects the
operator holds, the longer each full collection and the more of them a first sync makes: at 10,000 objects
74 full collections took 45 s (4.5 ms per object against 1.4 at 1000) and up to 1.6 s each.

A young threshold of 10,000 made them rare at 10,000 objects (6 in the same first sync, 20 s of collections
instead of 67; 50,000 cost ~60 MiB more RSS and saved no CPU over it). Its price is the garbage it lets wait
for a collection, a fixed ~10 to 15 MiB whatever the fleet: 1000 policies with 1000 exceptions peaked at 185
MiB against 170 with CPython's 700. So ``fit`` sets the young threshold to the number of policies the process
serves, between CPython's 700 and 10,000: the work in flight of a burst grows with the objects, and so does
the garbage allowed to wait (176 MiB in that scenario). In a burst of 10,000 new policies the threshold climbs
as they arrive, so that first sync takes 301 s of CPU, against 266 with a fixed 10,000 and 326 with 700. The
older generations keep CPython's thresholds. docs/benchmarks.md has the measurements.
"""

from __future__ import annotations

import gc

CPYTHON_YOUNG = 700
YOUNG_CEILING = 10_000


def young_threshold(objects: int) -> int:
    """The young threshold for a process serving ``objects`` policies."""
    return max(CPYTHON_YOUNG, min(YOUNG_CEILING, objects))


def fit(objects: int) -> None:
    """Set the young threshold for ``objects`` policies served (a C call and a compare: called as they come
    and go); the older generations' thresholds are left as they are."""
    young, *older = gc.get_threshold()
    wanted = young_threshold(objects)
    if wanted != young:
        gc.set_threshold(wanted, *older)
