"""Retry policy for transient failures: exponential backoff with jitter, bounded in attempts and total time.

Defaults follow contract §2.6: delay ``base_delay · 2ⁿ`` (capped at ``max_delay``) with up to ``jitter`` of it
removed at random, at most ``max_attempts`` attempts and ``max_elapsed`` seconds in all; a ``Retry-After``
header replaces the computed delay. ``sleep`` is injectable so tests can record delays instead of waiting."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

__all__ = ["RetryPolicy", "parse_retry_after"]


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long the client retries transient failures. ``max_attempts=1`` disables retries."""

    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_elapsed: float = 30.0
    jitter: float = 0.5
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        if min(self.base_delay, self.max_delay, self.max_elapsed) < 0 or not 0 <= self.jitter <= 1:
            raise ValueError("delays must be >= 0 and jitter within [0, 1]")

    def backoff(self, retry_number: int) -> float:
        """Delay before retry ``retry_number`` (0 for the first retry), jitter applied."""
        delay: float = min(self.max_delay, self.base_delay * (2**retry_number))
        return delay * (1 - self.jitter * random.random())

    def next_delay(self, retry_number: int, elapsed: float, retry_after: float | None) -> float | None:
        """The delay before the next attempt, or ``None`` if the attempt or time budget is spent."""
        if retry_number + 1 >= self.max_attempts:
            return None
        delay = retry_after if retry_after is not None else self.backoff(retry_number)
        if elapsed + delay > self.max_elapsed:
            return None
        return delay


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date); ``None`` if absent or
    bad."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
