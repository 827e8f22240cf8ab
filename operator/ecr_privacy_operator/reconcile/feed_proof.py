"""Whether one workspace's feed can see (pure): Guardrails answers a key that may not see the activities with
an empty feed, not Forbidden (contract §4.11), so a feed that is read without error proves nothing.

Two proofs, both free of extra requests:

- **Own writes.** The writes the operator made through the client that the feed's views list (a setting
  written on a pack, a pack updated) are ``expect``-ed by their echo key (``feed.change_key``). Each one the feed
  lists is proof that it sees; one still not listed ``blind_after`` seconds after it was made (while its pack
  is followed) is proof that it does not.
- **A known activity.** When no proof came for ``probe_interval`` seconds, the next poll carries one more view
  (``guardrails.activities.proof_query``): any activity of one followed pack, at any time. Every pack has at
  least its creation's activities, so an empty answer means the feed cannot see. Packs written in the last
  ``settle`` seconds are not probed (their activities may not be listed yet); the probed pack rotates.

``verdict`` is what the poll proved: ``True`` (sees), ``False`` (blind), ``None`` (nothing either way).
Memory is bounded: at most ``MEMORY`` keys of each kind.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ecr_privacy_operator.guardrails.activities import Activity
from ecr_privacy_operator.reconcile.apply import Change
from ecr_privacy_operator.reconcile.feed import activity_key, change_key

BLIND_AFTER = 45.0  # seconds: an own write the feed does not list by then means it cannot see
PROBE_INTERVAL = 60.0  # seconds without proof before a poll reads a known activity
SETTLE = 120.0  # seconds after a write to a pack before it is probed
MEMORY = 10_000
_LISTED = frozenset(
    {"SettingCreated", "SettingUpdated", "PackUpdated", "PackAdopted"}
)  # the views list these


def _trim(keys: dict[str, Any]) -> None:
    while len(keys) > MEMORY:
        del keys[next(iter(keys))]


@dataclass
class FeedProof:
    """One client's proof that its feed sees (times from a monotonic clock)."""

    blind_after: float = BLIND_AFTER
    probe_interval: float = PROBE_INTERVAL
    settle: float = SETTLE
    _pending: dict[str, tuple[float, str]] = field(default_factory=dict)  # key -> (written at, pack id)
    _listed: dict[str, None] = field(default_factory=dict)  # keys the feed listed before they were expected
    _written: dict[str, float] = field(default_factory=dict)  # pack id -> its last write
    _proven: float | None = None  # when the feed last proved it sees
    _probed: int = 0
    _verdict: bool | None = None

    def expect(self, changes: Iterable[Change], pack_id: str | None, now: float) -> None:
        """Writes made through the client to ``pack_id``'s pack: the feed must list those its views cover."""
        changes = list(changes)
        if pack_id is None or not changes:
            return
        self._written.pop(pack_id, None)
        self._written[pack_id] = now
        for change in changes:
            key = change_key(change) if change.reason in _LISTED else None
            if key is None:
                continue
            if key in self._listed:  # listed before the pass that made it ended
                del self._listed[key]
                self._proof(True, now)
            else:
                self._pending[key] = (now, pack_id)
        _trim(self._pending)
        _trim(self._written)

    def observe(self, activities: Iterable[Activity], now: float) -> None:
        """Activities the feed listed (each once): an expected write among them is proof."""
        for activity in activities:
            key = activity_key(activity)
            if key is None:
                continue
            if self._pending.pop(key, None) is not None:
                self._proof(True, now)
            else:
                self._listed[key] = None
        _trim(self._listed)

    def probe(self, packs: Iterable[str], now: float) -> str | None:
        """The pack to read a known activity of in this poll, if one is due."""
        if self._proven is not None and now - self._proven < self.probe_interval:
            return None
        settled = sorted(p for p in packs if now - self._written.get(p, now - self.settle) >= self.settle)
        if not settled:
            return None
        self._probed += 1
        return settled[self._probed % len(settled)]

    def probed(self, found: bool | None, now: float) -> None:
        """What the probe view held (``None``: it was not read); the next probe is due an interval later,
        whatever this one said."""
        if found is not None:
            self._proven = now
            self._verdict = found if self._verdict is not False else False

    def verdict(self, followed: Mapping[str, object], now: float) -> bool | None:
        """What this poll proved, then forget it. An own write overdue while its pack is followed (in
        ``followed``) says blind; a write to a pack no longer followed is forgotten once overdue."""
        overdue = [k for k, (at, _) in self._pending.items() if now - at >= self.blind_after]
        blind = False
        for key in overdue:
            _, pack_id = self._pending.pop(key)
            blind = blind or pack_id in followed
        verdict, self._verdict = (False if blind else self._verdict), None
        return verdict

    def _proof(self, found: bool, now: float) -> None:
        self._proven = now
        if self._verdict is None:
            self._verdict = found


__all__ = ["BLIND_AFTER", "PROBE_INTERVAL", "SETTLE", "FeedProof"]
