"""Peering decisions without a cluster: the older process has the higher priority, and only keep-alive records
that have not expired count as active peers."""

from __future__ import annotations

import datetime
import random

import pytest

from ecr_privacy_operator.config import OperatorConfig
from ecr_privacy_operator.peering import active_peers, process_priority

pytestmark = pytest.mark.unit

NOW = datetime.datetime(2026, 12, 3, 8, 0, tzinfo=datetime.UTC)


def test_an_earlier_start_has_the_higher_priority_whatever_the_tie_break() -> None:
    rng = random.Random(7)
    for _ in range(200):
        older = process_priority(1_800_000_000.000, rng)
        younger = process_priority(1_800_000_000.001, rng)  # one millisecond later
        assert older > younger


def test_processes_started_in_the_same_millisecond_rarely_tie() -> None:
    priorities = {process_priority(1_800_000_000.0) for _ in range(20)}
    assert len(priorities) >= 15


def _record(seconds_ago: float, lifetime: int = 30) -> dict[str, object]:
    lastseen = NOW - datetime.timedelta(seconds=seconds_ago)
    return {"priority": 1, "lifetime": lifetime, "lastseen": lastseen.isoformat()}


def test_active_peers_are_the_unexpired_records_except_our_own() -> None:
    status = {
        "alive@a": _record(5),
        "expired@b": _record(31),
        "self@c": _record(1),
        "short@d": _record(11, lifetime=10),
        "garbage@e": {"lastseen": "yesterday"},
        "nolastseen@f": {"priority": 3},
        "notamapping@g": "x",
    }
    alive = active_peers(status, NOW, exclude="self@c")
    assert set(alive) == {"alive@a"}
    assert alive["alive@a"] == NOW + datetime.timedelta(seconds=25)


def test_no_status_means_no_peers() -> None:
    assert active_peers(None, NOW) == {}
    assert active_peers({}, NOW) == {}


def test_naive_timestamps_are_read_as_utc() -> None:
    naive = (NOW - datetime.timedelta(seconds=5)).replace(tzinfo=None).isoformat()
    assert set(active_peers({"p": {"lastseen": naive, "lifetime": 30}}, NOW)) == {"p"}


def test_peering_settings_from_the_environment() -> None:
    config = OperatorConfig.from_env(
        {
            "ECR_PRIVACY_PEERING": "true",
            "ECR_PRIVACY_PEERING_NAME": "ops",
            "ECR_PRIVACY_PEERING_LIFETIME": "15",
        }
    )
    assert (config.peering, config.peering_name, config.peering_lifetime) == (True, "ops", 15)
    assert OperatorConfig.from_env({}).peering is False
    for bad in ({"ECR_PRIVACY_PEERING_NAME": "Not A Name"}, {"ECR_PRIVACY_PEERING_LIFETIME": "2"}):
        with pytest.raises(ValueError, match="peering"):
            OperatorConfig.from_env(bad)
