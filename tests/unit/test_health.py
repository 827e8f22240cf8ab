"""The health module: the watchdog that lets liveness fail when a pass is wedged, readiness, the /readyz +
/metrics server, and the metrics that are computed at scrape time or removed with their object."""

from __future__ import annotations

import asyncio
import gzip
import urllib.error
import urllib.request
from typing import Any

import kopf
import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families

from ecr_privacy_operator.handlers import policy
from ecr_privacy_operator.health import Readiness, Watchdog, WedgedError, serve
from ecr_privacy_operator.metrics import Metrics
from tests.fixtures.runtime import Clock

pytestmark = pytest.mark.unit


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = b"".join(metrics.exposition()).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): float(s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


# ---- watchdog ---------------------------------------------------------------------------------------------
def test_watchdog_is_quiet_when_idle_and_tracks_the_oldest_pass() -> None:
    clock = Clock()
    dog = Watchdog(wedged_after=60, clock=clock)
    assert dog.check() == 0.0
    assert dog.oldest() is None
    with dog.track("ns/a"):
        clock.now += 10
        with dog.track("ns/b"):
            clock.now += 5
            assert dog.inflight == 2
            assert dog.oldest() == ("ns/a", 15.0)
            assert dog.check() == 15.0
        assert dog.inflight == 1
    assert dog.inflight == 0
    assert dog.oldest_age() == 0.0


def test_watchdog_raises_past_the_limit_and_recovers_when_the_pass_ends() -> None:
    clock = Clock()
    dog = Watchdog(wedged_after=60, clock=clock)
    with dog.track("team-a/stuck"):
        clock.now += 60
        assert dog.check() == 60.0  # at the limit: still alive
        clock.now += 1
        with pytest.raises(WedgedError, match=r"team-a/stuck has been running for 61s \(limit 60s\)"):
            dog.check()
    assert dog.check() == 0.0


def test_watchdog_forgets_a_pass_that_raised() -> None:
    dog = Watchdog()
    with pytest.raises(RuntimeError), dog.track("ns/x"):
        raise RuntimeError("boom")
    assert dog.inflight == 0


def test_probe_raises_a_permanent_error_when_wedged() -> None:
    clock = Clock()
    runtime: Any = type("R", (), {"watchdog": Watchdog(wedged_after=5, clock=clock)})()
    memo = kopf.Memo(runtime=runtime)
    assert asyncio.run(policy.oldest_pass(memo=memo)) == 0.0
    with runtime.watchdog.track("ns/slow"):
        clock.now += 6
        with pytest.raises(kopf.PermanentError, match="wedged: the pass of ns/slow"):
            asyncio.run(policy.oldest_pass(memo=memo))
    assert asyncio.run(policy.oldest_pass(memo=kopf.Memo())) == 0.0  # before start-up


# ---- readiness --------------------------------------------------------------------------------------------
def test_readiness_waits_for_startup_then_for_a_working_client() -> None:
    ready = Readiness()
    assert ready.status()[0] is False
    ready.started = True
    assert ready.status() == (True, "ok: no Guardrails request made yet")
    ready.on_request("ObservePolicy", "transient", 0.1)
    ready.on_request("ObservePolicy", "unauthorized", 0.1)
    ok, reason = ready.status()
    assert not ok
    assert "ObservePolicy: unauthorized" in reason
    ready.on_request("ObservePolicy", "policy_type_not_found", 0.1)  # Guardrails answered: the client works
    assert ready.status()[0] is True
    ready.on_request("ObservePolicy", "transient", 0.1)  # latched: an outage later does not unready the pod
    assert ready.status()[0] is True


def test_server_serves_metrics_and_readiness() -> None:
    metrics, ready = Metrics(), Readiness()
    server = serve(0, metrics.scrape, ready, addr="127.0.0.1")
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(f"{base}/readyz", timeout=5)
        assert info.value.code == 503
        ready.started = True
        with urllib.request.urlopen(f"{base}/readyz", timeout=5) as response:
            assert response.status == 200
        with urllib.request.urlopen(f"{base}/metrics", timeout=5) as response:
            assert b"ecrprivacy_build_info" in response.read()
    finally:
        server.shutdown()
        server.server_close()


def test_metrics_are_served_as_text_or_openmetrics_plain_or_gzipped() -> None:
    metrics, ready = Metrics(), Readiness()
    metrics.set_object("team-a", "p", drift=1, compliance={"ok": 4}, conditions={"Ready": "True"})
    metrics.reconciles.labels("create", "Succeeded", "").inc()
    server = serve(0, metrics.scrape, ready, addr="127.0.0.1")
    url = f"http://127.0.0.1:{server.server_address[1]}/metrics"
    prometheus_accept = "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.4"
    try:
        for accept, encoding in (
            ("", ""),
            (prometheus_accept, ""),
            ("", "gzip"),
            (prometheus_accept, "gzip"),
        ):
            request = urllib.request.Request(url, headers={"Accept": accept, "Accept-Encoding": encoding})
            with urllib.request.urlopen(request, timeout=5) as response:
                body, headers = response.read(), response.headers
            assert (headers.get("Content-Encoding") == "gzip") == bool(encoding)
            text = (gzip.decompress(body) if encoding else body).decode()
            if accept:
                assert headers["Content-Type"].startswith("application/openmetrics-text")
                assert text.endswith("# EOF\n")
                assert text.count("# EOF") == 1
                families = list(openmetrics_families(text))
            else:
                assert headers["Content-Type"].startswith("text/plain")
                families = list(text_string_to_metric_families(text))
            got = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families for s in f.samples}
            assert got[("ecrprivacy_drift_fields", (("name", "p"), ("namespace", "team-a")))] == 1
            assert (
                got[
                    (
                        "ecrprivacy_reconcile_total",
                        (("reason", ""), ("result", "Succeeded"), ("trigger", "create")),
                    )
                ]
                == 1
            )
    finally:
        server.shutdown()
        server.server_close()


def test_the_per_object_families_are_written_in_chunks_of_bounded_size() -> None:
    """A scrape of many objects never holds them all as text (or as prometheus-client samples) at once."""
    metrics = Metrics()
    for i in range(2000):
        metrics.set_object(f"ns-{i % 7}", f"policy-{i:05d}", drift=0, compliance=None, conditions={})
    chunks = list(metrics.exposition())
    total = sum(map(len, chunks))
    assert total > 4_000_000, total  # 22 series per object
    assert max(map(len, chunks)) < 400_000, f"a chunk of {max(map(len, chunks))} bytes of {total}"
    got = samples(metrics)
    assert len([key for key in got if key[0] == "ecrprivacy_object_condition"]) == 2000 * 15


# ---- metrics ----------------------------------------------------------------------------------------------
def test_objects_by_condition_are_counted_at_scrape_time_and_forgotten() -> None:
    m = Metrics()
    ready = {"Ready": "True", "Synced": "True", "Drifted": "False"}
    m.set_object("a", "one", drift=0, compliance={"ok": 2, "alarm": 1}, conditions=ready)
    m.set_object("a", "two", drift=2, compliance=None, conditions={"Ready": "False", "Stalled": "True"})
    m.set_object("b", "one", drift=0, compliance=None, conditions=ready)
    got = samples(m)
    assert got[("ecrprivacy_objects", (("condition", "Ready"), ("status", "True")))] == 2
    assert got[("ecrprivacy_objects", (("condition", "Ready"), ("status", "False")))] == 1
    assert got[("ecrprivacy_objects", (("condition", "Stalled"), ("status", "Unknown")))] == 2
    assert got[("ecrprivacy_drift_fields", (("name", "two"), ("namespace", "a")))] == 2
    assert (
        got[("ecrprivacy_compliance_controls", (("name", "one"), ("namespace", "a"), ("state", "alarm")))]
        == 1
    )

    m.forget_object("a", "two")
    got = samples(m)
    assert got[("ecrprivacy_objects", (("condition", "Ready"), ("status", "False")))] == 0
    assert not [key for key in got if ("name", "two") in key[1]], "a forgotten object leaves no series"
    m.forget_object("a", "two")  # twice is fine


def test_pass_gauges_read_the_watchdog() -> None:
    m, clock = Metrics(), Clock()
    dog = Watchdog(clock=clock)
    m.watch_passes(dog.oldest_age, lambda: dog.inflight)
    with dog.track("ns/a"):
        clock.now += 3
        got = samples(m)
        assert got[("ecrprivacy_oldest_pass_seconds", ())] == 3.0
        assert got[("ecrprivacy_passes_in_flight", ())] == 1.0
    assert [v for (name, _), v in samples(m).items() if name == "ecrprivacy_build_info"] == [1.0]
