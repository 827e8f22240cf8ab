"""The emulator's clock: wall time plus an adjustable offset, and the timestamp/duration formats it uses."""

from __future__ import annotations

import datetime as dt
import re

_DURATION = re.compile(r"^\s*([+-]?)\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def iso(moment: dt.datetime) -> str:
    """ISO-8601 UTC with milliseconds, e.g. ``2024-10-15T12:00:00.000Z``."""
    moment = moment.astimezone(dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_iso(text: str) -> dt.datetime:
    """Parse an ISO-8601 timestamp (``Z`` or an offset; naive means UTC). Raises ValueError."""
    value = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def parse_duration(text: str) -> dt.timedelta:
    """``61m``, ``-10m``, ``2d``, ``1.5h``, ``500ms`` -> timedelta. Raises ValueError."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"invalid duration {text!r} (use e.g. 61m, -2d, 30s, 500ms)")
    sign = -1.0 if match.group(1) == "-" else 1.0
    return dt.timedelta(seconds=sign * float(match.group(2)) * _UNITS[match.group(3)])


class Clock:
    """Wall time shifted by ``offset``; setting or advancing it only changes the offset."""

    def __init__(self, offset_seconds: float = 0.0) -> None:
        self.offset = dt.timedelta(seconds=offset_seconds)

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.offset

    def now_iso(self) -> str:
        return iso(self.now())

    def set(self, moment: dt.datetime) -> None:
        self.offset = moment - dt.datetime.now(dt.UTC)

    def advance(self, delta: dt.timedelta) -> None:
        self.offset += delta

    def reset(self) -> None:
        self.offset = dt.timedelta(0)

    def resolve(self, text: str) -> dt.datetime:
        """An absolute ISO time, or a duration relative to now (``-10m``)."""
        try:
            return self.now() + parse_duration(text)
        except ValueError:
            return parse_iso(text)
