"""The exception runtime checks a policy's exceptions together: requests for ten exceptions of one policy
make ONE schedule entry and one check of all ten (no task per exception), a request while a check runs makes
one more check after it, and the next check is planned right after the soonest ``expires`` when that comes
before the resync."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import kopf
import pytest

from ecr_privacy_operator.runtime.exceptions import ExceptionRuntime
from tests.fixtures.polling import until

pytestmark = pytest.mark.unit


def body(i: int, policy: str = "ecr-private", expires: str = "2099-01-01T00:00:00Z") -> kopf.Body:
    return kopf.Body(
        {
            "apiVersion": "ecrprivacy.dev/v1alpha1",
            "kind": "EcrPrivacyException",
            "metadata": {"namespace": "team-a", "name": f"x{i}", "uid": f"uid-{i}", "generation": 1},
            "spec": {
                "policyRef": {"name": policy},
                "repositories": [f"arn:aws:ecr-public::123456789012:repository/r{i}"],
                "reason": "why",
                "expires": expires,
            },
        }
    )


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[tuple[str, str], list[str]]] = []
        self.release = asyncio.Event()
        self.release.set()

    async def __call__(self, group: tuple[str, str], uids: list[str]) -> bool:
        self.calls.append((group, uids))
        await self.release.wait()
        return False


def runtime(resync: float = 1800.0, fallback: float = 300.0) -> tuple[ExceptionRuntime, Recorder]:
    found = ExceptionRuntime(
        workspaces=None, kube=None, metrics=None, directory=None, resync=resync, fallback_resync=fallback
    )  # type: ignore[arg-type]
    recorder = Recorder()
    found._check = recorder  # type: ignore[method-assign]
    return found, recorder


def find(namespace: str, name: str) -> Any:
    return None


LOGGER: Any = kopf.ObjectLogger(body=body(0), settings=kopf.OperatorSettings())


async def test_ten_exceptions_of_one_policy_make_one_check() -> None:
    found, recorder = runtime()
    tasks_before = len(asyncio.all_tasks())
    for i in range(10):
        found.request(body(i), find, LOGGER)
    found.request(body(10, policy="other"), find, LOGGER)
    assert found.checks_planned() == 2  # one entry per policy
    assert len(asyncio.all_tasks()) == tasks_before  # nothing per exception
    found.start()
    try:
        await until(lambda: len(recorder.calls) == 2, within=5)
        await asyncio.sleep(0.8)  # nothing more comes: each policy was checked once
        by_group = dict(recorder.calls)
        assert by_group[("team-a", "ecr-private")] == sorted(f"uid-{i}" for i in range(10))
        assert by_group[("team-a", "other")] == ["uid-10"]
        assert len(recorder.calls) == 2
        assert 1800 * 0.9 - 5 < (found.schedule.due_in("team-a\x00ecr-private") or 0) <= 1800 * 1.1  # ±10 %
    finally:
        await found.stop()


async def test_a_request_during_a_check_makes_one_more_check() -> None:
    found, recorder = runtime()
    recorder.release.clear()
    found.request(body(0), find, LOGGER)
    found.start()
    try:
        await until(lambda: len(recorder.calls) == 1, within=5)
        found.request(body(1), find, LOGGER)
        found.poke("team-a", "ecr-private")
        await asyncio.sleep(1.0)  # longer than SOON: the schedule wakes for them while the check still runs
        recorder.release.set()
        await until(lambda: len(recorder.calls) == 2, within=5)
        assert recorder.calls[1][1] == ["uid-0", "uid-1"]
        await asyncio.sleep(1.5)
        assert (
            len(recorder.calls) == 2
        )  # the wake-ups asked for during the first check made one more, not two
    finally:
        await found.stop()


async def test_the_next_check_is_right_after_the_soonest_expiry() -> None:
    found, recorder = runtime()
    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=60)).strftime("%Y-%m-%dT%H:%M:%SZ")
    found.request(body(0), find, LOGGER)
    found.request(body(1, expires=soon), find, LOGGER)
    found.start()
    try:
        await until(lambda: len(recorder.calls) == 1, within=5)
        await asyncio.sleep(0.1)
        due = found.schedule.due_in("team-a\x00ecr-private")
        assert due is not None
        assert 55 < due < 62
    finally:
        await found.stop()


async def test_the_feed_asks_by_exception_and_sees_its_policy_checked() -> None:
    """The activity feed names an exception (someone else wrote its setting): its policy's exceptions are
    checked once, and while that check runs the exception is busy (the feed defers its activities)."""
    found, recorder = runtime()
    found.request(body(0), find, LOGGER)
    found.request(body(1), find, LOGGER)
    found.start()
    try:
        await until(lambda: len(recorder.calls) == 1, within=5)
        await asyncio.sleep(0.1)
        recorder.release.clear()
        assert not found.busy("uid-1")
        found.recheck(["uid-1", "uid-0", "uid-unknown"])
        await until(lambda: len(recorder.calls) == 2, within=5)
        assert recorder.calls[1] == (("team-a", "ecr-private"), ["uid-0", "uid-1"])
        assert found.busy("uid-0")
        assert found.busy("uid-1")
        recorder.release.set()
        await until(lambda: not found.busy("uid-1"), within=5)
        await asyncio.sleep(0.8)
        assert len(recorder.calls) == 2
    finally:
        await found.stop()


async def test_a_lost_feed_makes_the_policy_s_exceptions_check_as_often_as_its_passes() -> None:
    """No feed sees an edit of their settings: the exceptions of a policy whose feed is lost are checked every
    fallback interval (here 1 s), not every exception resync (here 30 minutes)."""
    found, recorder = runtime(fallback=1.0)
    found.request(body(0), find, LOGGER)
    found.request(body(1, policy="other"), find, LOGGER)
    found.start()
    try:
        await until(lambda: len(recorder.calls) == 2, within=5)
        found.fall_back("team-a", "ecr-private")
        found.fall_back("team-a", "unknown")  # a policy without exceptions: nothing to do
        await until(lambda: len(recorder.calls) >= 5, within=6)
        assert {group for group, _ in recorder.calls[2:]} == {("team-a", "ecr-private")}
        assert (found.schedule.due_in("team-a\x00other") or 0) > 1000
    finally:
        await found.stop()
