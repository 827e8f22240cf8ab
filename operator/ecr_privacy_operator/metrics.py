"""Prometheus metrics of the operator: one registry, plus the per-object families, which ``exposition``
writes straight to text for ``/metrics``.

Labels stay bounded: namespace and name of objects, operation names of our own GraphQL documents, results
and condition reasons from fixed sets — never ids, messages or values. ``docs/observability.md`` lists every
family. Per-object series are removed when the object goes (``forget_object``).
"""

from __future__ import annotations

import threading
from collections import Counter as Tally
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import metadata

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

COMPLIANCE_STATES = ("ok", "alarm", "error", "invalid", "skipped", "tbd")
CONDITION_TYPES = ("Ready", "Reconciling", "Stalled", "Synced", "Drifted")
CONDITION_STATUSES = ("True", "False", "Unknown")
_OPENMETRICS_END = b"# EOF\n"


def _version() -> str:
    try:
        return metadata.version("ecr-privacy-operator")
    except metadata.PackageNotFoundError:
        return "unknown"


@dataclass(frozen=True)
class _Published:
    """What the last pass published of one object: drift, compliance by state, condition statuses."""

    drift: int
    compliance: tuple[int, ...]  # in COMPLIANCE_STATES order; zeros before compliance was read
    conditions: tuple[str, ...]  # in CONDITION_TYPES order


OBJECTS_PER_CHUNK = 200


def _label(value: str) -> str:
    """A label value as the exposition formats write it (backslash, quote and newline escaped)."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class _PerObject(Collector):
    """The per-object families, kept as one small record per object (a plain dict, not ~20 Gauge children
    with a lock each) and written straight to text at scrape time in chunks (``exposition``): at 10,000
    objects (220,000 series) prometheus-client's samples took ~100 MiB for each scrape. Through the registry
    it yields only ``ecrprivacy_objects``, their counts by condition."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._objects: dict[tuple[str, str], _Published] = {}

    def set(self, key: tuple[str, str], published: _Published) -> None:
        with self._lock:
            self._objects[key] = published

    def forget(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._objects.pop(key, None)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self._lock:
            counts = Tally(
                pair
                for p in self._objects.values()
                for pair in zip(CONDITION_TYPES, p.conditions, strict=True)
            )
        objects = GaugeMetricFamily(
            "ecrprivacy_objects",
            "EcrPrivacyPolicy objects served by this process, by condition and status.",
            labels=["condition", "status"],
        )
        for ctype in CONDITION_TYPES:
            for status in CONDITION_STATUSES:
                objects.add_metric([ctype, status], counts[(ctype, status)])
        yield objects

    def exposition(self) -> Iterator[str]:
        """The per-object families in the text format (the same lines in OpenMetrics), a chunk of
        ``OBJECTS_PER_CHUNK`` objects at a time, sorted by namespace and name."""
        with self._lock:
            snapshot = sorted(self._objects.items())
        for family, help_text, samples in _PER_OBJECT_FAMILIES:
            yield f"# HELP {family} {help_text}\n# TYPE {family} gauge\n"
            for start in range(0, len(snapshot), OBJECTS_PER_CHUNK):
                yield _lines(family, snapshot[start : start + OBJECTS_PER_CHUNK], samples)


def _lines(
    family: str,
    objects: list[tuple[tuple[str, str], _Published]],
    samples: Callable[[_Published], Iterator[tuple[str, int]]],
) -> str:
    """One family's lines for these objects (their namespace and name written once per object)."""
    lines: list[str] = []
    for (namespace, name), published in objects:
        series = f'{family}{{namespace="{_label(namespace)}",name="{_label(name)}"'
        lines.extend(f"{series}{labels}}} {value}\n" for labels, value in samples(published))
    return "".join(lines)


def _drift_samples(published: _Published) -> Iterator[tuple[str, int]]:
    yield "", published.drift


def _compliance_samples(published: _Published) -> Iterator[tuple[str, int]]:
    for state, value in zip(COMPLIANCE_STATES, published.compliance, strict=True):
        yield f',state="{state}"', value


def _condition_samples(published: _Published) -> Iterator[tuple[str, int]]:
    for ctype, current in zip(CONDITION_TYPES, published.conditions, strict=True):
        for status in CONDITION_STATUSES:
            yield f',condition="{ctype}",status="{status}"', 1 if status == current else 0


# name, help, and each object's samples: the labels after namespace and name, and the value
_PER_OBJECT_FAMILIES: tuple[tuple[str, str, Callable[[_Published], Iterator[tuple[str, int]]]], ...] = (
    ("ecrprivacy_drift_fields", "Fields currently drifted from the spec, per object.", _drift_samples),
    (
        "ecrprivacy_compliance_controls",
        "Approved controls under the attached targets, by state.",
        _compliance_samples,
    ),
    (
        "ecrprivacy_object_condition",
        "1 when the object's condition has this status, per object.",
        _condition_samples,
    ),
)


@dataclass
class Metrics:
    """All metric families; create one per process (tests may create more, each with its own registry)."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.reconciles = Counter(
            "ecrprivacy_reconcile_total",
            "Reconciles by trigger, result and reason.",
            ["trigger", "result", "reason"],
            registry=r,
        )
        self.reconcile_seconds = Histogram(
            "ecrprivacy_reconcile_duration_seconds",
            "Time for one reconcile (observe, plan, apply).",
            ["trigger"],
            registry=r,
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
        )
        self.requests = Counter(
            "ecrprivacy_guardrails_requests_total",
            "Guardrails HTTP requests by operation and outcome.",
            ["operation", "outcome"],
            registry=r,
        )
        self.request_seconds = Histogram(
            "ecrprivacy_guardrails_request_duration_seconds",
            "Guardrails request latency by operation.",
            ["operation"],
            registry=r,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.retries = Counter(
            "ecrprivacy_guardrails_retries_total",
            "Guardrails requests retried after a transient failure.",
            ["operation"],
            registry=r,
        )
        self.guardrails_changes = Counter(
            "ecrprivacy_guardrails_changes_total",
            "Writes made to Guardrails, by action.",
            ["action"],
            registry=r,
        )
        self.objects = _PerObject()
        r.register(self.objects)
        self.oldest_pass = Gauge(
            "ecrprivacy_oldest_pass_seconds",
            "Age of the oldest reconcile or deletion pass in flight (0 when idle); liveness fails past the limit.",
            registry=r,
        )
        self.passes_in_flight = Gauge(
            "ecrprivacy_passes_in_flight", "Reconcile and deletion passes in flight.", registry=r
        )
        self.feed_polls = Counter(
            "ecrprivacy_feed_polls_total",
            "Reads of a workspace's activity feed, by outcome (ok, forbidden, not_supported, error).",
            ["outcome"],
            registry=r,
        )
        self.feed_activities = Counter(
            "ecrprivacy_feed_activities_total",
            "Activities read from the feed, each once, by handling (pass, compliance, exception: acted on; "
            "echo: the operator's own write; unmatched: no object of this process).",
            ["handling"],
            registry=r,
        )
        self.feed_lag = Gauge(
            "ecrprivacy_feed_lag_seconds",
            "When the feed last acted: now minus the newest activity it acted on (Guardrails' clock).",
            registry=r,
        )
        self.feed_fallbacks = Counter(
            "ecrprivacy_feed_fallbacks_total",
            "Times a workspace's feed could not be read and its objects fell back to periodic resyncs.",
            ["reason"],
            registry=r,
        )
        self.feeds_unavailable = Gauge(
            "ecrprivacy_feeds_unavailable",
            "Workspace feeds (one per credential set in use) in fallback now.",
            registry=r,
        )
        self.exception_expiry = Gauge(
            "ecrprivacy_exception_expiry_timestamp_seconds",
            "When each EcrPrivacyException expires (Unix time); alert on it a week ahead.",
            ["namespace", "name"],
            registry=r,
        )
        self.feed_skipped = Counter(
            "ecrprivacy_feed_items_skipped_total",
            "Feed replies' GraphQL errors (error: a nested field of an item failed) and null or malformed items "
            "(null), counted and skipped; the rest of the reply is used.",
            ["why"],
            registry=r,
        )
        self.feed_loop_up = Gauge(
            "ecrprivacy_feed_loop_up",
            "0 while the loop that polls every workspace's activity feed is down (restarting), else 1.",
            registry=r,
        )
        self.feed_loop_up.set(1)  # not down: also with the feeds off, so that an alert on 0 means down
        for why in ("error", "null"):
            self.feed_skipped.labels(why)
        self.feed_loop_restarts = Counter(
            "ecrprivacy_feed_loop_restarts_total",
            "Times the activity feed loop ended unexpectedly and was restarted.",
            registry=r,
        )
        self.build = Info("ecrprivacy_build", "The operator's version.", registry=r)
        self.build.info({"version": _version()})

    def watch_passes(self, oldest_age: Callable[[], float], inflight: Callable[[], float]) -> None:
        """Read the pass gauges from the runtime's watchdog at scrape time."""
        self.oldest_pass.set_function(oldest_age)
        self.passes_in_flight.set_function(inflight)

    # -- hooks for the Guardrails client ---------------------------------------------------------------
    def on_request(self, operation: str, outcome: str, seconds: float) -> None:
        self.requests.labels(operation, outcome).inc()
        self.request_seconds.labels(operation).observe(seconds)

    def on_retry(self, operation: str) -> None:
        self.retries.labels(operation).inc()

    # -- hooks for the activity feeds (reconcile/feed_follower.py) -----------------------------------------------
    def feed_polled(self, outcome: str) -> None:
        self.feed_polls.labels(outcome).inc()

    def feed_handled(self, handling: str, count: int) -> None:
        self.feed_activities.labels(handling).inc(count)

    def feed_acted(self, lag_seconds: float) -> None:
        self.feed_lag.set(lag_seconds)

    def feed_fell_back(self, reason: str) -> None:
        self.feed_fallbacks.labels(reason).inc()

    def feeds_lost(self, count: int) -> None:
        self.feeds_unavailable.set(count)

    def feed_items_skipped(self, why: str, count: int) -> None:
        if count:
            self.feed_skipped.labels(why).inc(count)

    def feed_loop(self, up: bool) -> None:
        """The supervised feed loop is running (or down, about to restart)."""
        self.feed_loop_up.set(1 if up else 0)
        if not up:
            self.feed_loop_restarts.inc()

    # -- per-object gauges ----------------------------------------------------------------------------------
    def set_object(
        self,
        namespace: str,
        name: str,
        *,
        drift: int,
        compliance: dict[str, int] | None,
        conditions: dict[str, str],
    ) -> None:
        published = _Published(
            drift=drift,
            compliance=tuple((compliance or {}).get(state, 0) for state in COMPLIANCE_STATES),
            conditions=tuple(conditions.get(ctype, "Unknown") for ctype in CONDITION_TYPES),
        )
        self.objects.set((namespace, name), published)

    def forget_object(self, namespace: str, name: str) -> None:
        """Drop an object's series when it is deleted, so gauges do not linger."""
        self.objects.forget((namespace, name))

    # -- exposition -----------------------------------------------------------------------------------------
    def exposition(self, encoder: Callable[[CollectorRegistry], bytes] = generate_latest) -> Iterator[bytes]:
        """Every family, in chunks: the registry's as ``encoder`` (prometheus-client's) writes them, then the
        per-object families written directly (in OpenMetrics, before the ``# EOF`` that ends the registry's)."""
        registry = encoder(self.registry)
        end = _OPENMETRICS_END if registry.endswith(_OPENMETRICS_END) else b""
        yield registry.removesuffix(end)
        for text in self.objects.exposition():
            yield text.encode()
        yield end

    def scrape(self, accept: str) -> tuple[str, Iterator[bytes]]:
        """A scrape's content type and chunks, in the format the scraper's ``Accept`` header asks for (as
        prometheus-client negotiates it)."""
        encoder, content_type = choose_encoder(accept)
        return content_type, self.exposition(encoder)
