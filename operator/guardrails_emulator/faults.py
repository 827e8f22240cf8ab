"""Fault injection (§4.9): transient HTTP errors, latency, dropped connections, and flags for the attach race,
attachment lag, async evaluation and enforcement failure. All off by default; counts of injected faults.

JSON form (``PUT /__emulator/faults``, ``--faults``), every key optional::

    {"rate": 0.2, "nextN": 3, "statuses": [429, 503], "body": "json"|"html", "retryAfter": 1,
     "latencyMs": 50 | [10, 200], "dropRate": 0.1, "dropNext": 1, "operations": ["AttachSmartFolder"],
     "race": true, "raceWindowMs": 200, "attachLagMs": 1000, "asyncEvaluation": true,
     "enforcementFailure": true, "feedItemErrorRate": 0.05, "feedNullItemRate": 0.01, "feedLateMs": 60000,
     "feedLateRate": 1.0, "feedLateTypes": ["policy_setting_updated"], "feedFilterLimit": 50, "feedDeletedIdError": true}

The ``feed*`` keys shape ``notifications`` as real Guardrails may (contract §4.11): a share of activities
(chosen by a hash of their id, so the same ones on every read) whose nested ``resource``/``oldResource`` fail
with a GraphQL error and a ``path`` (``feedItemErrorRate``), or that come back as null items
(``feedNullItemRate``); a share listed only ``feedLateMs`` after their timestamp (``feedLateRate``, default all, of the
``feedLateTypes``, default every type);
at most ``feedFilterLimit`` values in one filter term (more: an error); ``resource:`` naming a deleted id answered
"Not Found" (``feedDeletedIdError``).
"""

from __future__ import annotations

import hashlib
import random
import re
from collections import Counter
from dataclasses import dataclass, field, fields
from typing import Any

_KEYS = {
    "rate": "rate",
    "nextN": "next_n",
    "statuses": "statuses",
    "body": "body",
    "retryAfter": "retry_after",
    "latencyMs": "latency_ms",
    "dropRate": "drop_rate",
    "dropNext": "drop_next",
    "operations": "operations",
    "race": "race",
    "raceWindowMs": "race_window_ms",
    "attachLagMs": "attach_lag_ms",
    "asyncEvaluation": "async_evaluation",
    "enforcementFailure": "enforcement_failure",
    "feedItemErrorRate": "feed_item_error_rate",
    "feedNullItemRate": "feed_null_item_rate",
    "feedLateMs": "feed_late_ms",
    "feedLateRate": "feed_late_rate",
    "feedLateTypes": "feed_late_types",
    "feedFilterLimit": "feed_filter_limit",
    "feedDeletedIdError": "feed_deleted_id_error",
}
ALLOWED_STATUSES = {401, 429, 500, 502, 503, 504, 529}  # 401: a key revoked (or rotated) while in use
JSON_TEXTS = {
    401: "Unauthorized",
    429: "Too many requests.",
    500: "Internal Error",
    502: "Unavailable",
    503: "Unavailable",
    504: "Timeout",
    529: "Try again later",
}


@dataclass
class FaultConfig:
    rate: float = 0.0
    next_n: int = 0
    statuses: list[int] = field(default_factory=lambda: [503])
    body: str = "json"
    retry_after: float = 1.0
    latency_ms: float | list[float] = 0.0
    drop_rate: float = 0.0
    drop_next: int = 0
    operations: list[str] = field(default_factory=list)
    race: bool = False
    race_window_ms: float = 200.0
    attach_lag_ms: float = 0.0
    async_evaluation: bool = False
    enforcement_failure: bool = False
    feed_item_error_rate: float = 0.0
    feed_null_item_rate: float = 0.0
    feed_late_ms: float = 0.0
    feed_late_rate: float = 1.0
    feed_late_types: list[str] = field(default_factory=list)  # notificationTypes listed late (empty: all)
    feed_filter_limit: int = 0  # 0: no limit
    feed_deleted_id_error: bool = False

    @staticmethod
    def picks(rate: float, key: str, salt: str) -> bool:
        """Whether the item ``key`` is one of the ``rate`` share chosen for the fault ``salt`` (stable)."""
        if rate <= 0:
            return False
        digest = hashlib.sha256(f"{salt}:{key}".encode()).digest()
        return int.from_bytes(digest[:4], "big") / 2**32 < rate

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> FaultConfig:
        """Build from the camelCase JSON form; raises ValueError on unknown keys or bad values."""
        unknown = set(doc) - set(_KEYS)
        if unknown:
            raise ValueError(f"unknown fault keys: {sorted(unknown)}")
        cfg = cls(**{_KEYS[k]: v for k, v in doc.items()})
        if not set(cfg.statuses) <= ALLOWED_STATUSES or not cfg.statuses:
            raise ValueError(f"statuses must be a non-empty subset of {sorted(ALLOWED_STATUSES)}")
        if cfg.body not in ("json", "html"):
            raise ValueError('body must be "json" or "html"')
        if isinstance(cfg.latency_ms, list) and len(cfg.latency_ms) != 2:
            raise ValueError("latencyMs must be a number or [min, max]")
        return cfg

    def to_json(self) -> dict[str, Any]:
        names = {v: k for k, v in _KEYS.items()}
        return {names[f.name]: getattr(self, f.name) for f in fields(self)}


@dataclass
class Decision:
    """What to do to one API request before serving it."""

    latency_s: float = 0.0
    drop: bool = False
    status: int | None = None


class Faults:
    """The active fault configuration (``baseline`` comes from the CLI) and the injected-fault counters."""

    def __init__(self, baseline: FaultConfig | None = None) -> None:
        self.baseline = baseline or FaultConfig()
        self.config = FaultConfig(**vars(self.baseline))
        self.counts: Counter[str] = Counter()
        self._rng = random.Random()

    def set(self, config: FaultConfig) -> None:
        self.config = config

    def clear(self) -> None:
        self.config = FaultConfig()

    def reset(self) -> None:
        self.config = FaultConfig(**vars(self.baseline))
        self.counts.clear()

    def _targeted(self, operation_name: str | None, query: str) -> bool:
        ops = self.config.operations
        if not ops:
            return True
        return any(op == operation_name or re.search(rf"\b{re.escape(op)}\b", query) for op in ops)

    def decide(self, operation_name: str | None, query: str) -> Decision:
        cfg = self.config
        decision = Decision()
        if not self._targeted(operation_name, query):
            return decision
        if isinstance(cfg.latency_ms, list):
            decision.latency_s = self._rng.uniform(cfg.latency_ms[0], cfg.latency_ms[1]) / 1000.0
        else:
            decision.latency_s = float(cfg.latency_ms) / 1000.0
        if decision.latency_s > 0:
            self.counts["delayed"] += 1
        if cfg.drop_next > 0 or (cfg.drop_rate > 0 and self._rng.random() < cfg.drop_rate):
            cfg.drop_next = max(0, cfg.drop_next - 1)
            self.counts["dropped"] += 1
            decision.drop = True
            return decision
        if cfg.next_n > 0 or (cfg.rate > 0 and self._rng.random() < cfg.rate):
            cfg.next_n = max(0, cfg.next_n - 1)
            decision.status = self._rng.choice(cfg.statuses)
            self.counts[f"status{decision.status}"] += 1
            self.counts["errors"] += 1
        return decision

    def error_body(self, status: int) -> tuple[str, str, dict[str, str]]:
        """(body, content type, extra headers) of an injected error answer."""
        headers: dict[str, str] = {}
        if status == 429:
            headers["Retry-After"] = f"{self.config.retry_after:g}"
        if self.config.body == "html":
            html = f"<html><head><title>{status}</title></head><body><h1>{status} Error</h1></body></html>"
            return html, "text/html", headers
        message = JSON_TEXTS.get(status, "Internal Error")
        return '{"errors":[{"message":"' + message + '"}]}', "application/json", headers

    def snapshot(self) -> dict[str, Any]:
        return {"config": self.config.to_json(), "counts": dict(self.counts)}
