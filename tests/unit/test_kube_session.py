"""Kopf's session (kube_session): it carries the login's credentials, runs at most ``max_requests`` calls at
once, and never makes a watch stream wait for a slot. Against a real local HTTP server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import kopf
import pytest
from aiohttp import web

from ecr_privacy_operator.handlers import policy
from ecr_privacy_operator.kube_session import capped_session
from tests.fixtures.polling import until

pytestmark = pytest.mark.unit


class Server:
    """Answers every GET after ``release`` is set, recording how many requests were in flight at most."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.inflight = 0
        self.most = 0
        self.authorization: list[str] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.authorization.append(request.headers.get("Authorization", ""))
        if request.query.get("watch") == "true":
            return web.json_response({"type": "BOOKMARK"})
        self.inflight += 1
        self.most = max(self.most, self.inflight)
        try:
            await self.release.wait()
        finally:
            self.inflight -= 1
        return web.json_response({"kind": "Status"})


@pytest.fixture
async def server() -> AsyncIterator[tuple[Server, str]]:
    state = Server()
    app = web.Application()
    app.router.add_get("/{tail:.*}", state.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield state, f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_at_most_max_requests_run_at_once_and_watches_never_wait(server: tuple[Server, str]) -> None:
    state, url = server
    context = capped_session(kopf.ConnectionInfo(server=url, scheme="Bearer", token="t0k"), max_requests=3)
    session = context.aiohttp_session

    async def get(path: str, **params: str) -> int:
        async with session.get(f"{context.server}{path}", params=params) as response:
            await response.read()
            return response.status

    try:
        calls = [asyncio.create_task(get(f"/api/v1/namespaces/ns/pods/p{i}")) for i in range(10)]
        await until(lambda: state.inflight == 3, what="three calls in flight")
        # all three slots are taken, and a watch (with its query as Kopf sends it) still gets through
        assert (
            await asyncio.wait_for(get("/apis/ecrprivacy.dev/v1alpha1/ecrprivacypolicies", watch="true"), 5)
            == 200
        )
        state.release.set()
        assert await asyncio.gather(*calls) == [200] * 10
        assert state.most == 3
        assert set(state.authorization) == {"Bearer t0k"}
    finally:
        await session.close()


async def test_the_login_handler_wraps_the_kubeconfig_login(
    monkeypatch: pytest.MonkeyPatch, server: tuple[Server, str]
) -> None:
    _, url = server
    info = kopf.ConnectionInfo(server=url, token="abc", default_namespace="ops", priority=7)
    monkeypatch.setattr(policy, "login", lambda **_: info)
    context = await policy.kubernetes_login()
    assert isinstance(context, kopf.AiohttpSession)
    try:
        assert (context.server, context.default_namespace, context.priority) == (url, "ops", 7)
        assert context.aiohttp_session.headers["Authorization"] == "Bearer abc"
    finally:
        await context.aiohttp_session.close()
    monkeypatch.setattr(policy, "login", lambda **_: None)
    assert await policy.kubernetes_login() is None
