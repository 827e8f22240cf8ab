"""Shared plumbing of the Guardrails client: construction, lifecycle, running a named document, parsing.

``GuardrailsClient`` (client.py) and the setting operations (settings.py) build on :class:`ClientBase`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx
import pydantic

from .credentials import Credentials
from .documents import document
from .errors import ProtocolError
from .retry import RetryPolicy
from .transport import GraphQLTransport, RequestHook, RetryHook, Verify

__all__ = ["ClientBase", "field_of"]

T = TypeVar("T")


def field_of(data: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    """``data[key]`` if it is an object, else ``None``."""
    value = data.get(key)
    return value if isinstance(value, Mapping) else None


class ClientBase:
    """Async client for one Guardrails workspace. Use as ``async with GuardrailsClient(creds) as client:``.

    ``verify``: ``True`` (system trust), ``False``, a CA bundle path or an ``ssl.SSLContext``. ``timeout``
    applies to every request. ``retry`` bounds retries of transient failures. ``on_request(operation, outcome,
    seconds)`` is called per HTTP attempt and ``on_retry(operation)`` before each retry (for metrics).
    ``transport`` replaces the network (tests pass ``httpx.MockTransport``).
    """

    def __init__(
        self,
        credentials: Credentials,
        *,
        verify: Verify = True,
        timeout: float | httpx.Timeout = 30.0,
        retry: RetryPolicy | None = None,
        on_request: RequestHook | None = None,
        on_retry: RetryHook | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._transport = GraphQLTransport(
            credentials,
            verify=verify,
            timeout=timeout,
            retry=retry,
            transport=transport,
            on_request=on_request,
            on_retry=on_retry,
        )
        self.endpoint = self._transport.endpoint

    def __repr__(self) -> str:
        return f"GuardrailsClient(endpoint={self.endpoint!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._transport.aclose()

    @property
    def is_closed(self) -> bool:
        """True once the connection pool is closed (the client can make no more requests)."""
        return self._transport.is_closed

    # -- plumbing -------------------------------------------------------------------------------------------

    async def _run(self, name: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        doc = document(name)
        reply = await self._transport.execute(doc.text, name, variables, mutation=doc.mutation)
        return reply.data

    @staticmethod
    def _parse(operation: str, build: Callable[[], T]) -> T:
        try:
            return build()
        except (pydantic.ValidationError, TypeError, AttributeError) as exc:
            raise ProtocolError("unexpected reply shape", operation=operation) from exc

    def _required(self, operation: str, data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
        node = field_of(data, key)
        if node is None:
            raise ProtocolError(f"reply lacks {key!r}", operation=operation)
        return node
