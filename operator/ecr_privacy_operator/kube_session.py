"""Kopf's HTTP session to the API server, with a cap on how many of its calls run at once.

Kopf's own session has no connection limit: after a burst of creations it patches hundreds of objects at
once and opens a TLS connection for each, and every connection keeps a 256 KiB read buffer, so the burst
leaves the process tens of MiB larger. This session lets at most ``max_requests`` calls wait for an answer at
once and so keeps the pool near that size. Watch streams are exempt: each holds its connection for minutes,
and there is one per watched namespace, so counting them could starve the patches.
"""

from __future__ import annotations

import asyncio

import aiohttp
import kopf


def _capped(max_requests: int) -> aiohttp.ClientMiddlewareType:
    slots = asyncio.Semaphore(max_requests)

    async def cap(
        request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
    ) -> aiohttp.ClientResponse:
        if request.url.query.get("watch") == "true":
            return await handler(request)
        async with slots:
            return await handler(request)

    return cap


def capped_session(info: kopf.ConnectionInfo, max_requests: int) -> kopf.AiohttpSession:
    """A session for Kopf with ``info``'s server, credentials and TLS, running at most ``max_requests``
    non-watch calls at once. Kopf closes it when it logs in again."""
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0, ssl=info.as_ssl_context()),
        headers=info.as_http_headers(),
        proxy=info.proxy_url,
        trust_env=info.trust_env,
        middlewares=(_capped(max_requests),),
    )
    return kopf.AiohttpSession(
        aiohttp_session=session,
        server=info.server,
        default_namespace=info.default_namespace,
        priority=info.priority,
        expiration=info.expiration,
    )
