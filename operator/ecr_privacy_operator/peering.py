"""Which operator process may act: the priority a process takes in Kopf's peering, and who is alive in it.

With peering on, every replica joins one ``ClusterKopfPeering`` object (``kopf.dev/v1``) and writes a
keep-alive record ``{identity: {priority, lifetime, lastseen}}`` into its status; Kopf pauses every process
that sees a live peer of higher or equal priority. The priority here makes the OLDEST process win: a replica
started later (a rolling update, a second install, a developer's laptop) stands by instead of taking over,
so the active process is never paused mid-work, and when it dies the oldest standby takes over once its
record expires (``lifetime`` seconds after its last keep-alive).

Without peering (``--standalone``) a process reads the same object once at start-up and refuses to run when
a peer is alive there (``active_peers``): two processes reconciling the same objects would race each other's
Guardrails writes.
"""

from __future__ import annotations

import datetime
import random
import time
from collections.abc import Mapping
from typing import Any

PEERING_GROUP, PEERING_VERSION, CLUSTER_PEERING_PLURAL = "kopf.dev", "v1", "clusterkopfpeerings"
CLUSTER_PEERING_KIND = "ClusterKopfPeering"
# Later start, lower priority; the low digits break ties between processes started in the same millisecond
# (equal priorities would make Kopf pause both).
_EPOCH_MS_LIMIT = 10**13
_TIE_BREAK = 1000


def process_priority(started: float | None = None, rng: random.Random | None = None) -> int:
    """This process's peering priority: higher for an earlier start (``started``, seconds since the epoch)."""
    started_ms = int((time.time() if started is None else started) * 1000)
    tie = (rng or random.SystemRandom()).randrange(_TIE_BREAK)
    return (_EPOCH_MS_LIMIT - started_ms) * _TIE_BREAK + tie


def active_peers(
    status: Mapping[str, Any] | None, now: datetime.datetime, exclude: str = ""
) -> dict[str, datetime.datetime]:
    """The peers of a peering object's ``status`` whose keep-alive has not expired at ``now``, with the time
    it expires. Records that do not parse count as expired (Kopf removes them too)."""
    alive: dict[str, datetime.datetime] = {}
    for identity, record in (status or {}).items():
        if identity == exclude or not isinstance(record, Mapping):
            continue
        try:
            lastseen = datetime.datetime.fromisoformat(str(record["lastseen"]))
            expires = lastseen + datetime.timedelta(seconds=int(record.get("lifetime", 60)))
        except (KeyError, TypeError, ValueError):
            continue
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=datetime.UTC)
        if expires > now:
            alive[identity] = expires
    return alive
