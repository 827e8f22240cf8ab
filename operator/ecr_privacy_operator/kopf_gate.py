"""Kopf's start-up gate ("no handler runs before every index is filled") at a cost that does not grow with N.

Kopf keeps a set of toggles: one per watched resource kind until its first listing is indexed, and one per
object that arrives before the whole operator was first indexed, dropped once that object is indexed. Each
object's worker then waits on the set's condition until every toggle is on. Kopf (1.45) wakes every waiting
worker whenever a toggle is added or dropped, although they wait only for the set as a whole to turn on: a
burst of N objects at start-up (a restart with N objects, or N created while the operator starts) costs N
wake-ups of up to N workers each. In the bench's first sync that was 8 ms of CPU per object at N=3000 and
0.1 ms at N=300.

``install`` makes Kopf build its toggle sets from ``QuietToggleSet``, which wakes its waiters only when its
own state (on or off) changes. A toggle turned on or off by its owner still wakes them itself, as before.
When a Kopf version no longer builds its sets the way this expects, ``install`` leaves Kopf as it is and says
so in a warning (the cost is CPU at start-up, never correctness).
"""

from __future__ import annotations

import importlib
import inspect
import logging
from collections.abc import Callable
from types import ModuleType
from typing import Any

logger = logging.getLogger(__name__)


def _kopf_toggles() -> ModuleType | None:
    """Kopf's toggles module, if this Kopf builds its sets from ``aiotoggles.ToggleSet`` as expected."""
    try:
        toggles = importlib.import_module("kopf._cogs.aiokits.aiotoggles")
        orchestration = importlib.import_module("kopf._core.reactor.orchestration")
        built = "aiotoggles.ToggleSet(" in inspect.getsource(orchestration.orchestrator)
        probe = toggles.ToggleSet(all)
    except (ImportError, OSError, TypeError, AttributeError):
        return None
    return toggles if built and hasattr(probe, "_condition") and hasattr(probe, "_toggles") else None


def quiet_toggle_set(toggles: ModuleType) -> type:
    """A subclass of Kopf's ``ToggleSet`` that notifies its waiters only when adding or dropping a toggle
    changes the set's state."""
    base: Any = toggles.ToggleSet

    class QuietToggleSet(base):  # type: ignore[misc]
        async def make_toggle(self, __val: bool = False, *, name: str | None = None) -> Any:
            toggle = toggles.Toggle(__val, name=name, condition=self._condition)
            await self._change(lambda: self._toggles.add(toggle))
            return toggle

        async def drop_toggle(self, toggle: Any) -> None:
            await self.drop_toggles([toggle])

        async def drop_toggles(self, dropped: Any) -> None:
            await self._change(lambda: self._toggles.difference_update(dropped))

        async def _change(self, edit: Callable[[], None]) -> None:
            """Edit the set of toggles; wake the waiters only if the set's state changed."""
            async with self._condition:
                was = self.is_on()
                edit()
                if self.is_on() != was:
                    self._condition.notify_all()

    return QuietToggleSet


def install() -> bool:
    """Make Kopf's toggle sets quiet (once, before ``kopf.operator`` runs); False if this Kopf is not the one
    this module knows, and then nothing is changed."""
    toggles = _kopf_toggles()
    if toggles is None:
        logger.warning("Kopf's start-up gate is not the expected one: left as it is (start-up costs O(N²))")
        return False
    if not getattr(toggles.ToggleSet, "quiet", False):
        quiet = quiet_toggle_set(toggles)
        quiet.quiet = True  # type: ignore[attr-defined]
        setattr(toggles, "ToggleSet", quiet)  # noqa: B010 (a module of Kopf, typed as any module)
    return True
