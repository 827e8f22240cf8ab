"""One backoff formula for every retry the runtime makes: a failed pass, a deletion that must wait.

The n-th failure in a row waits 2^n seconds, capped by ``ECR_PRIVACY_MAX_BACKOFF`` only (a short resync interval
does not make a failing object retry sooner: its passes would take the slots of others), with jitter so that
objects failing together do not retry together.
"""

from __future__ import annotations

import random


def backoff(failures: int, max_backoff: float) -> float:
    """Seconds to wait after ``failures`` failures in a row (no jitter)."""
    return min(max_backoff, 2.0 ** min(failures, 16))


def retry_after_failure(failures: int, max_backoff: float) -> float:
    """The delay before a failed object's next pass: the backoff, jittered (not capped by the resync)."""
    return backoff(failures, max_backoff) * random.uniform(0.8, 1.0)


def within_fallback(longest: float) -> float:
    """The delay of a pass pulled forward because its feed is lost: spread over ``longest``, so that the
    objects of one lost feed do not all resync at once."""
    return random.uniform(0.1, 1.0) * longest


def next_resync(resync: float) -> float:
    """The delay before a healthy object's next pass: its resync interval, jittered by ±10 %."""
    return resync * random.uniform(0.9, 1.1)
