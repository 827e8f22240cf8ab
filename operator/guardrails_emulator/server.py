"""The aiohttp application: GraphQL endpoints with Basic auth and fault injection, health, persistence."""

from __future__ import annotations

import asyncio
import base64
import binascii
import dataclasses
import hmac
import json
import logging
import os
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from .calculated import Calculator
from .clock import Clock
from .context import Context
from .engine import Engine, RequestError, document_label
from .faults import Faults
from .fixtures import build_workspace
from .model import Activity, Actor, Key
from .permissions import Permissions
from .policy import validity_crossed
from .workspace import Workspace

log = logging.getLogger("guardrails_emulator")
JSON_TYPE = "application/json; charset=utf-8"
UNAUTHORIZED = {"errors": [{"message": "Unauthorized"}]}
FIRST_IDENTITY_ID = 900000000000001
CONSOLE = Actor("900000000000000", "Console")  # who writes through /__emulator/console/graphql
VALIDITY_POLL_S = 0.25  # how often the clock is checked against settings' validFrom/validTo


@dataclass
class Emulator:
    """Everything the handlers share: the workspace (replaced on reset), keys, faults and options."""

    keys: list[Key]
    fixture: dict[str, Any] | None = None
    workspace_version: str = "5.52.3"
    state_file: Path | None = None
    log_requests: bool = False
    faults: Faults = field(default_factory=Faults)
    engine: Engine = field(default_factory=Engine)
    # GraphQL requests received, by name (operation name, else first field)
    requests: Counter[str] = field(default_factory=Counter)
    in_flight: int = 0  # GraphQL requests being answered now
    max_in_flight: int = 0  # the most at once since the last reset (of the counters)
    permissions: Permissions = field(default_factory=Permissions)
    identities: dict[str, Actor] = field(init=False)  # access key -> the identity its writes are recorded as
    ws: Workspace = field(init=False)
    persisted_activity: int = field(init=False, default=0)  # the newest activity id in the activity file
    calculator: Calculator = field(init=False)

    def __post_init__(self) -> None:
        self.calculator = Calculator(self.faults)
        self.identities = {
            key.access_key: Actor(str(FIRST_IDENTITY_ID + i), key.access_key)
            for i, key in enumerate(self.keys)
        }
        if self.state_file is not None and self.state_file.exists():
            self.ws = Workspace.from_json(json.loads(self.state_file.read_text(encoding="utf-8")))
            self.ws.calculator = self.calculator
            if self.activity_file is not None and self.activity_file.exists():
                lines = self.activity_file.read_text(encoding="utf-8").splitlines()
                self.ws.activities = [Activity.from_json(json.loads(line)) for line in lines if line.strip()]
                stamps = [a.create_ts for a in self.ws.activities]
                self.ws.activities_in_order = stamps == sorted(stamps)
                self.persisted_activity = int(self.ws.activities[-1].id) if self.ws.activities else 0
            log.info("state loaded from the state file")
        else:
            self.reset(self.fixture)

    def reset(self, fixture: dict[str, Any] | None) -> None:
        """A fresh workspace from ``fixture`` (None = startup fixture); clock, faults reset. Ids made after the
        reset continue the old sequence: Guardrails never reuses an id, and a client polling across a reset
        (the test bed's shared operator) must not take a new activity or pack for one it already handled."""
        previous = getattr(self, "ws", None)
        self.ws = build_workspace(
            fixture if fixture is not None else self.fixture, Clock(), self.workspace_version
        )
        if previous is not None:
            self.ws.counter = max(self.ws.counter, previous.counter)
        self.ws.calculator = self.calculator
        self.faults.reset()
        self.permissions = Permissions()
        self.requests.clear()
        self.max_in_flight = self.in_flight
        if self.activity_file is not None:
            self.activity_file.unlink(missing_ok=True)
        self.persisted_activity = 0
        self.persist()

    @property
    def activity_file(self) -> Path | None:
        """Where the activity log is kept next to the state file: one JSON line per activity, appended."""
        return (
            None
            if self.state_file is None
            else self.state_file.with_name(self.state_file.name + ".activities")
        )

    def persist(self) -> None:
        """Write the state file atomically (temp file + rename) and append the activities recorded since the
        last call to the activity file, when a state file is configured."""
        if self.state_file is None or self.activity_file is None:
            return
        directory = self.state_file.parent
        fd, tmp = tempfile.mkstemp(prefix=".state-", dir=directory)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(self.ws.to_json(), handle)
        os.replace(tmp, self.state_file)
        new: list[Activity] = []
        for activity in reversed(self.ws.activities):
            if int(activity.id) <= self.persisted_activity:
                break
            new.append(activity)
        if new:
            with self.activity_file.open("a", encoding="utf-8") as log_file:
                log_file.writelines(json.dumps(dataclasses.asdict(a)) + "\n" for a in reversed(new))
            self.persisted_activity = int(new[0].id)

    def evaluate(self, force_sync: bool = False) -> int:
        from .policy import evaluate

        cfg = self.faults.config
        return evaluate(
            self.ws,
            async_mode=cfg.async_evaluation and not force_sync,
            enforcement_failure=cfg.enforcement_failure,
        )

    async def watch_validity(self) -> None:
        """Evaluate the controls again whenever a setting starts or ends as time passes (its
        ``validFromTimestamp``/``validToTimestamp``); moving the clock through the admin surface evaluates at
        once. A control that changes state records its ``control_updated`` activity, as any evaluation does."""
        since = self.ws.clock.now()
        while True:
            await asyncio.sleep(VALIDITY_POLL_S)
            now = self.ws.clock.now()
            if validity_crossed(self.ws, since, now) and self.evaluate():
                self.persist()
            since = now

    def authenticate(self, header: str | None) -> Key | None:
        """The caller's key for a ``Basic`` Authorization header, or None."""
        if not header or not header.lower().startswith("basic "):
            return None
        try:
            access, _, secret = base64.b64decode(header[6:].strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        for key in self.keys:
            same_access = hmac.compare_digest(access.encode(), key.access_key.encode())
            if same_access and hmac.compare_digest(secret.encode(), key.secret_key.encode()):
                return key
        return None

    async def execute(
        self,
        query: str,
        variables: dict[str, Any] | None,
        operation_name: str | None,
        role: str,
        actor: Actor,
        denied: frozenset[str] = frozenset(),
        hidden: frozenset[str] = frozenset(),
    ) -> tuple[int, dict[str, Any]]:
        """Validate and run one document as ``actor`` with ``role``; persist after a write. Returns (HTTP
        status, body); a document that does not validate is HTTP 400."""
        without = frozenset(self.permissions.unsupported)
        try:
            doc = self.engine.prepare(query, without)
        except RequestError as err:
            return 400, {"errors": err.errors}
        ctx = Context(self.ws, self.faults, role, actor=actor, denied=denied, hidden=hidden)
        status, payload = await self.engine.run(doc, variables, operation_name, ctx, without)
        if ctx.mutated:
            self.persist()
        return status, payload


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status, text=json.dumps(body), content_type="application/json", headers=headers
    )


def _request_log(emu: Emulator, name: str, status: int, started: float, outcome: str) -> None:
    """One line per GraphQL request under ``--log-requests``: its name, HTTP status, outcome and duration."""
    if emu.log_requests:
        elapsed = (time.perf_counter() - started) * 1000
        log.info("graphql op=%s status=%s %s %.1fms", name, status, outcome, elapsed)


def _rejected(emu: Emulator, name: str, started: float, status: int, body: dict[str, Any]) -> web.Response:
    """Answer a request refused before execution, and log why (the first error's message, never a header)."""
    _request_log(emu, name, status, started, f"rejected: {body['errors'][0]['message']}")
    return _json(status, body)


async def graphql_handler(request: web.Request) -> web.StreamResponse:
    """One GraphQL request, counted while it is in flight (``/__emulator/requests`` reports the most at once)."""
    emu: Emulator = request.app["emulator"]
    emu.in_flight += 1
    emu.max_in_flight = max(emu.max_in_flight, emu.in_flight)
    try:
        return await _graphql(request, emu)
    finally:
        emu.in_flight -= 1


async def _graphql(request: web.Request, emu: Emulator) -> web.StreamResponse:
    started = time.perf_counter()
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("query"), str):
        bad = {"errors": [{"message": "Bad Request: the body must be JSON with a query string"}]}
        return _rejected(emu, "-", started, 400, bad)
    query: str = body["query"]
    variables = body.get("variables")
    operation_name = body.get("operationName") if isinstance(body.get("operationName"), str) else None
    name = operation_name or document_label(query)
    emu.requests[name] += 1
    decision = emu.faults.decide(name, query)
    if decision.latency_s > 0:
        await asyncio.sleep(decision.latency_s)
    if decision.drop:
        if request.transport is not None:
            request.transport.abort()
        log.info("fault: dropped a connection")
        _request_log(emu, name, 0, started, "rejected: fault: connection dropped")
        return web.Response(status=502)  # never sent: the socket is already closed
    if decision.status is not None:
        text, content_type, headers = emu.faults.error_body(decision.status)
        _request_log(emu, name, decision.status, started, f"rejected: fault: HTTP {decision.status}")
        return web.Response(status=decision.status, text=text, content_type=content_type, headers=headers)
    key = emu.authenticate(request.headers.get("Authorization"))
    if key is None:
        why = "no Basic Authorization header" if not _basic(request) else "unknown key pair"
        _request_log(emu, name, 401, started, f"rejected: Unauthorized: {why}")
        return _json(401, UNAUTHORIZED)
    if variables is not None and not isinstance(variables, dict):
        return _rejected(
            emu, name, started, 400, {"errors": [{"message": "Bad Request: variables must be an object"}]}
        )
    actor, denied = emu.identities[key.access_key], emu.permissions.denied(key.access_key)
    hidden = emu.permissions.hidden(key.access_key)
    status, payload = await emu.execute(query, variables, operation_name, key.role, actor, denied, hidden)
    if status == 400:
        return _rejected(emu, name, started, 400, payload)
    _request_log(emu, name, status, started, f"errors={len(payload.get('errors', []))}")
    return _json(status, payload)


def _basic(request: web.Request) -> bool:
    return request.headers.get("Authorization", "").lower().startswith("basic ")


async def health_handler(request: web.Request) -> web.Response:
    return _json(200, {"status": "ok"})


def make_app(emulator: Emulator) -> web.Application:
    from .admin import add_admin_routes

    app = web.Application(client_max_size=16 * 1024 * 1024)
    app["emulator"] = emulator
    app.router.add_post("/api/latest/graphql", graphql_handler)
    app.router.add_post(r"/api/{version:v[0-9]+}/graphql", graphql_handler)
    app.router.add_get("/api/latest/turbot/health", health_handler)
    app.router.add_get(r"/api/{version:v[0-9]+}/turbot/health", health_handler)
    add_admin_routes(app)

    async def validity_watch(app: web.Application) -> Any:
        task = asyncio.create_task(emulator.watch_validity())
        yield
        task.cancel()

    app.cleanup_ctx.append(validity_watch)
    return app
