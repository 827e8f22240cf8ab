"""Health of the operator process: a watchdog over passes in flight (liveness), readiness, and the small HTTP
server that serves ``/metrics`` and ``/readyz`` on the metrics port.

- ``Watchdog``: each pass registers while it works (``track``); ``check`` raises ``WedgedError`` once the oldest
  pass in flight has run longer than ``wedged_after`` seconds — longer than request timeouts and retry budgets
  can explain. Kopf's liveness endpoint (``/healthz``) runs a probe that calls it and answers an error then, so
  Kubernetes restarts a wedged operator, not only a dead one. A blocked event loop fails the same endpoint by
  not answering at all.
- ``Readiness``: ready once Kopf's start-up handlers finished, unless every Guardrails request so far failed
  in a way that says the client cannot work (unreachable, TLS, bad credentials). The first request that
  Guardrails answers as an authenticated client latches it ready for the life of the process; an operator that
  has had nothing to talk to yet is ready too. A supervised background loop that is down (``loop_down``, until
  ``loop_up``) makes it not ready, with the loop's name and why, while it restarts.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

__all__ = ["READINESS_PATH", "Readiness", "Watchdog", "WedgedError", "serve"]

READINESS_PATH = "/readyz"

# Outcomes of a Guardrails request (``GuardrailsError.outcome``) after which the client evidently works:
# Guardrails answered an authenticated request, even if it refused what was asked.
WORKING_OUTCOMES = frozenset(
    {
        "ok",
        "not_found",
        "forbidden",
        "validation",
        "policy_type_not_found",
        "conflict",
        "attachment_not_verified",
    }
)


class WedgedError(Exception):
    """A pass has been in flight for longer than the operator allows."""


@dataclass
class Watchdog:
    """Passes in flight and their start times; ``clock`` is injectable for tests."""

    wedged_after: float = 600.0
    clock: Callable[[], float] = time.monotonic
    _inflight: dict[int, tuple[str, float]] = field(default_factory=dict)
    _ids: Iterator[int] = field(default_factory=itertools.count)
    _lock: threading.Lock = field(default_factory=threading.Lock)  # the metrics thread reads too

    @contextlib.contextmanager
    def track(self, what: str) -> Iterator[None]:
        """Register a pass (``what``: e.g. ``namespace/name``) for the duration of the block."""
        token = next(self._ids)
        with self._lock:
            self._inflight[token] = (what, self.clock())
        try:
            yield
        finally:
            with self._lock:
                del self._inflight[token]

    @property
    def inflight(self) -> int:
        return len(self._inflight)

    def oldest(self) -> tuple[str, float] | None:
        """The oldest pass in flight and its age in seconds, or None when idle."""
        with self._lock:
            if not self._inflight:
                return None
            what, started = min(self._inflight.values(), key=lambda item: item[1])
        return what, self.clock() - started

    def oldest_age(self) -> float:
        """Seconds the oldest pass in flight has run (0 when idle): a gauge's callback."""
        oldest = self.oldest()
        return 0.0 if oldest is None else oldest[1]

    def check(self) -> float:
        """The age of the oldest pass in flight (0 when idle); raise ``WedgedError`` when it is too old."""
        oldest = self.oldest()
        if oldest is None:
            return 0.0
        what, age = oldest
        if age > self.wedged_after:
            raise WedgedError(
                f"the pass of {what} has been running for {age:.0f}s (limit {self.wedged_after:.0f}s)"
            )
        return age


@dataclass
class Readiness:
    """Readiness state; written from the event loop, read from the HTTP server's thread (plain attributes)."""

    started: bool = False
    working: bool = False
    failures: int = 0
    last_failure: str = ""
    down: dict[str, str] = field(default_factory=dict)  # supervised loop -> why it is down

    def loop_down(self, loop: str, why: str) -> None:
        self.down[loop] = why

    def loop_up(self, loop: str) -> None:
        self.down.pop(loop, None)

    def on_request(self, operation: str, outcome: str, seconds: float) -> None:
        """The Guardrails client's per-attempt hook."""
        if outcome in WORKING_OUTCOMES:
            self.working = True
        else:
            self.failures += 1
            self.last_failure = f"{operation}: {outcome}"

    def status(self) -> tuple[bool, str]:
        """(ready, a one-line reason)."""
        if not self.started:
            return False, "starting: Kopf's start-up handlers have not finished"
        for loop, why in sorted(dict(self.down).items()):
            return False, f"{loop} is down and restarting: {why}"
        if self.working:
            return True, "ok: Guardrails answered"
        if self.failures:
            return False, f"no Guardrails request has succeeded yet (last: {self.last_failure})"
        return True, "ok: no Guardrails request made yet"


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes and probes are not worth a log line each."""


Scrape = Callable[[str], tuple[str, Iterable[bytes]]]  # Accept header -> content type, the response's chunks


def _gzipped(chunks: Iterable[bytes]) -> Iterator[bytes]:
    compressor = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # the gzip container
    for chunk in chunks:
        if out := compressor.compress(chunk):
            yield out
    yield compressor.flush()


def app(scrape: Scrape, readiness: Readiness) -> Callable[..., Iterable[bytes]]:
    """The WSGI app: ``/readyz`` answers 200 or 503 with a reason; every other path is the metrics, streamed in
    chunks as ``scrape`` writes them in the format the scraper asks for (gzip if it accepts it)."""

    def handle(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == READINESS_PATH:
            ready, reason = readiness.status()
            start_response(
                "200 OK" if ready else "503 Service Unavailable",
                [("Content-Type", "text/plain; charset=utf-8")],
            )
            return [reason.encode() + b"\n"]
        content_type, chunks = scrape(environ.get("HTTP_ACCEPT", ""))
        headers = [("Content-Type", content_type)]
        if "gzip" in environ.get("HTTP_ACCEPT_ENCODING", ""):
            headers.append(("Content-Encoding", "gzip"))
            chunks = _gzipped(chunks)
        start_response("200 OK", headers)
        return chunks

    return handle


def serve(
    port: int,
    scrape: Scrape,
    readiness: Readiness,
    addr: str = "0.0.0.0",  # noqa: S104 - a metrics port in a pod
) -> WSGIServer:
    """Serve ``/metrics`` and ``/readyz`` on ``addr:port`` from a daemon thread; return the server."""
    server = make_server(addr, port, app(scrape, readiness), _Server, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="metrics-server", daemon=True).start()
    return server
