"""Send one GraphQL document over HTTP and turn the reply into data or a classified error, with retries.

This is the only module that touches httpx requests. It builds the envelope (contract §2.3), decodes the
reply, classifies failures (``errors.classify``), retries transient ones under a :class:`RetryPolicy` and
reports every attempt to the optional ``on_request(operation, outcome, seconds)`` and ``on_retry(operation)``
hooks.

A caller can have every mutation wait for a check first (``BEFORE_MUTATION``, a context variable: the
operator's runtime checks that the keys it writes with are still the ones in the workspace's Secret).

Mutations are retried only when the request provably did not run: a connection that was never established,
or HTTP 429/503 whose body carries no GraphQL ``data``. Any other transient failure of a mutation is raised as
:class:`TransientError` so that the caller re-reads before writing again.
"""

from __future__ import annotations

import json
import logging
import os
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import httpx

from .credentials import Credentials
from .endpoint import health_url
from .errors import (
    TRANSIENT_STATUSES,
    ConfigurationError,
    ForbiddenError,
    GuardrailsError,
    ProtocolError,
    TransientError,
    UnauthorizedError,
    classify,
)
from .retry import RetryPolicy, parse_retry_after

__all__ = ["BEFORE_MUTATION", "GraphQLResponse", "GraphQLTransport", "RequestHook", "RetryHook", "Verify"]

log = logging.getLogger(__name__)

RequestHook = Callable[[str, str, float], None]
"""``on_request(operation, outcome, seconds)``: called once per HTTP attempt; outcome ``ok`` or an error's."""
RetryHook = Callable[[str], None]
"""``on_retry(operation)``: called before each retry."""
Verify = bool | str | os.PathLike[str] | ssl.SSLContext
BEFORE_MUTATION: ContextVar[Callable[[], Awaitable[None]] | None] = ContextVar(
    "before_mutation", default=None
)
"""Awaited before each mutation is sent, in the caller's context (None: nothing); what it raises goes up."""

_NOT_EXECUTED_STATUSES = frozenset({429, 503})
_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@dataclass(frozen=True)
class GraphQLResponse:
    """A decoded reply: ``data`` is always a dict; ``errors`` is non-empty only for accepted partial
    replies."""

    data: dict[str, Any]
    errors: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200


@dataclass
class _Attempt:
    response: GraphQLResponse | None = None
    error: GuardrailsError | None = None
    retry_safe: bool = True
    retry_after: float | None = None


def _ssl_context(verify: Verify) -> ssl.SSLContext | bool:
    if isinstance(verify, str | os.PathLike):
        return ssl.create_default_context(cafile=os.fspath(verify))
    return verify


def _tls_failure(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class GraphQLTransport:
    """Owns the httpx client; ``execute`` sends one GraphQL document with retries."""

    def __init__(
        self,
        credentials: Credentials,
        *,
        verify: Verify = True,
        timeout: float | httpx.Timeout = 30.0,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        on_request: RequestHook | None = None,
        on_retry: RetryHook | None = None,
        user_agent: str = "ecr-privacy-operator",
    ) -> None:
        self.endpoint = credentials.endpoint
        self.retry = retry or RetryPolicy()
        self._auth = credentials.authorization_header()
        self._on_request = on_request
        self._on_retry = on_retry
        self._http = httpx.AsyncClient(
            verify=_ssl_context(verify),
            timeout=timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout),
            transport=transport,
            headers={"User-Agent": user_agent},
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return f"GraphQLTransport(endpoint={self.endpoint!r})"

    async def aclose(self) -> None:
        await self._http.aclose()

    @property
    def is_closed(self) -> bool:
        return self._http.is_closed

    async def execute(
        self,
        document: str,
        operation: str,
        variables: Mapping[str, Any] | None = None,
        *,
        mutation: bool = False,
        allow_partial: bool = False,
    ) -> GraphQLResponse:
        """Run ``document`` and return its data; raise a :class:`GuardrailsError` subclass on failure.

        ``allow_partial`` returns replies whose errors all carry a ``path`` (batched mutations) instead of
        raising."""
        guard = BEFORE_MUTATION.get() if mutation else None
        if guard is not None:
            await guard()
        payload = {"query": document, "variables": dict(variables) if variables else None}
        payload["operationName"] = operation
        content = json.dumps(payload).encode("utf-8")
        headers = {
            "Authorization": self._auth,
            "Content-Type": "application/json; charset=utf-8",
            "Accept": "application/json; charset=utf-8",
            "Cache-Control": "no-cache",
        }

        async def send() -> _Attempt:
            try:
                response = await self._http.post(self.endpoint, content=content, headers=headers)
            except httpx.TransportError as exc:
                return self._transport_failure(exc, operation, mutation)
            return self._decode(response, operation, mutation=mutation, allow_partial=allow_partial)

        result = await self._with_retries(operation, send)
        assert result is not None
        return result

    async def health(self) -> int:
        """GET the workspace health URL (no credentials sent) and return the HTTP status."""
        url = health_url(self.endpoint)
        status = 0

        async def send() -> _Attempt:
            nonlocal status
            try:
                response = await self._http.get(url)
            except httpx.TransportError as exc:
                return self._transport_failure(exc, "Health", False)
            status = response.status_code
            if status in TRANSIENT_STATUSES:
                error = TransientError("health check failed", operation="Health", status=status)
                return _Attempt(
                    error=error, retry_after=parse_retry_after(response.headers.get("Retry-After"))
                )
            return _Attempt()

        await self._with_retries("Health", send)
        return status

    async def _with_retries(self, operation: str, send: Callable[[], Any]) -> GraphQLResponse | None:
        spent = 0.0  # request time plus planned waits: equals wall time, and stays testable with a fake sleep
        retry_number = 0
        while True:
            attempt_start = time.monotonic()
            attempt: _Attempt = await send()
            error = attempt.error
            duration = time.monotonic() - attempt_start
            spent += duration
            self._report(operation, error.outcome if error else "ok", duration)
            if error is None:
                return attempt.response
            if not isinstance(error, TransientError) or not attempt.retry_safe:
                raise error
            delay = self.retry.next_delay(retry_number, spent, attempt.retry_after)
            if delay is None:
                raise error
            log.debug("retrying %s in %.3fs after %s", operation, delay, type(error).__name__)
            if self._on_retry is not None:
                try:
                    self._on_retry(operation)
                except Exception:
                    log.exception("on_retry hook failed")
            await self.retry.sleep(delay)
            spent += delay
            retry_number += 1

    def _report(self, operation: str, outcome: str, seconds: float) -> None:
        log.debug("guardrails %s -> %s in %.3fs", operation, outcome, seconds)
        if self._on_request is not None:
            try:
                self._on_request(operation, outcome, seconds)
            except Exception:
                log.exception("on_request hook failed")

    @staticmethod
    def _transport_failure(exc: httpx.TransportError, operation: str, mutation: bool) -> _Attempt:
        error: GuardrailsError
        if _tls_failure(exc):
            error = ConfigurationError("TLS certificate verification failed", operation=operation)
        elif isinstance(exc, httpx.UnsupportedProtocol):
            error = ConfigurationError("unsupported URL scheme", operation=operation)
        else:
            kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "connection failed"
            error = TransientError(f"{kind} ({type(exc).__name__})", operation=operation)
        error.__cause__ = exc
        return _Attempt(error=error, retry_safe=not mutation or isinstance(exc, _NEVER_SENT))

    @staticmethod
    def _decode(response: httpx.Response, operation: str, *, mutation: bool, allow_partial: bool) -> _Attempt:
        status = response.status_code
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        try:
            body = json.loads(response.content)
        except ValueError as exc:
            error = _non_json_error(status, operation)
            error.__cause__ = exc
            safe = not mutation or status in _NOT_EXECUTED_STATUSES
            return _Attempt(error=error, retry_safe=safe, retry_after=retry_after)
        if not isinstance(body, dict):
            return _Attempt(
                error=ProtocolError("reply is not a JSON object", operation=operation, status=status)
            )
        executed = "data" in body
        safe = not mutation or (status in _NOT_EXECUTED_STATUSES and not executed)
        errors = body.get("errors")
        if errors is not None and not isinstance(errors, list):
            return _Attempt(error=ProtocolError("'errors' is not a list", operation=operation, status=status))
        error_list = [e if isinstance(e, dict) else {"message": str(e)} for e in errors or []]
        data = body.get("data")
        if error_list:
            partial_ok = allow_partial and status == 200 and all(e.get("path") for e in error_list)
            if partial_ok and isinstance(data, dict):
                return _Attempt(response=GraphQLResponse(data, error_list, status))
            error = classify(operation=operation, status=status, errors=error_list)
            return _Attempt(error=error, retry_safe=safe, retry_after=retry_after)
        if status != 200:
            error = _non_json_error(status, operation)
            return _Attempt(error=error, retry_safe=safe, retry_after=retry_after)
        if not isinstance(data, dict):
            return _Attempt(
                error=ProtocolError("reply has no 'data' object", operation=operation, status=status)
            )
        return _Attempt(response=GraphQLResponse(data, [], status))


def _non_json_error(status: int, operation: str) -> GuardrailsError:
    if status == 401:
        return UnauthorizedError("Unauthorized", operation=operation, status=status)
    if status == 403:
        return ForbiddenError("Forbidden", operation=operation, status=status)
    if status in TRANSIENT_STATUSES or status >= 500:
        return TransientError(f"server returned HTTP {status}", operation=operation, status=status)
    if status == 200:
        return ProtocolError("reply is not JSON", operation=operation, status=status)
    return ProtocolError(
        f"unexpected HTTP {status} (check the workspace URL)", operation=operation, status=status
    )
