"""The unauthenticated, loopback-only admin surface under ``/__emulator/`` (contract §4.10)."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
from typing import Any

from aiohttp import web

from . import activities
from .clock import parse_duration, parse_iso
from .faults import FaultConfig
from .fixtures import create_resource
from .permissions import Permissions
from .server import CONSOLE, Emulator
from .views import ResourceView

PREFIX = "/__emulator"


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, text=json.dumps(body), content_type="application/json")


def _emulator(request: web.Request) -> Emulator:
    remote = request.remote or ""
    try:
        loopback = ipaddress.ip_address(remote.split("%")[0]).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise web.HTTPForbidden(
            text='{"error":"the admin surface is loopback only"}', content_type="application/json"
        )
    emulator: Emulator = request.app["emulator"]
    return emulator


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        doc = json.loads(raw)
    except json.JSONDecodeError:
        raise web.HTTPBadRequest(text='{"error":"invalid JSON"}', content_type="application/json") from None
    if not isinstance(doc, dict):
        raise web.HTTPBadRequest(text='{"error":"expected a JSON object"}', content_type="application/json")
    return doc


def _bad(message: str) -> web.Response:
    return _json({"error": message}, 400)


async def reset(request: web.Request) -> web.Response:
    emu = _emulator(request)
    doc = await _body(request)
    try:
        emu.reset(doc or None)
    except (ValueError, KeyError) as err:
        return _bad(f"invalid fixture: {err}")
    return _json({"ok": True, "now": emu.ws.now()})


def _resource_json(emu: Emulator, rid: str) -> dict[str, Any]:
    res = emu.ws.resources.get(rid)
    if res is None:
        return {"id": rid, "exists": False}
    from .context import Context

    return {"exists": True, **ResourceView(Context(emu.ws, emu.faults), res).meta(), "data": res.data}


async def add_resource(request: web.Request) -> web.Response:
    """Discovery: ``{"parent": id|AKA, "type": "publicRepository", "name": "new", "createdAt": "-5m"}``."""
    emu = _emulator(request)
    doc = await _body(request)
    parent = emu.ws.lookup(str(doc.pop("parent", emu.ws.root_id)))
    if parent is None:
        return _json({"error": "parent does not exist"}, 404)
    try:
        res = create_resource(emu.ws, doc, parent)
    except (ValueError, KeyError) as err:
        return _bad(str(err))
    for rid in [res.id, *emu.ws.descendants(res.id)]:
        activities.record(emu.ws, "resource_created", emu.ws.resources[rid], None)
    emu.evaluate()
    emu.persist()
    return _json(_resource_json(emu, res.id), 201)


async def delete_resource(request: web.Request) -> web.Response:
    emu = _emulator(request)
    res = emu.ws.lookup(request.match_info["ref"])
    if res is None:
        return _json({"error": "no such resource"}, 404)
    for rid in [*reversed(emu.ws.descendants(res.id)), res.id]:
        activities.remove(emu.ws, rid, None)
    emu.evaluate()
    emu.persist()
    return _json({"deleted": res.id})


async def clock(request: web.Request) -> web.Response:
    emu = _emulator(request)
    if request.method == "POST":
        doc = await _body(request)
        try:
            if "now" in doc:
                emu.ws.clock.set(parse_iso(str(doc["now"])))
            if "advance" in doc:
                emu.ws.clock.advance(parse_duration(str(doc["advance"])))
        except ValueError as err:
            return _bad(str(err))
        emu.evaluate()
        emu.persist()
    return _json({"now": emu.ws.now()})


async def tick(request: web.Request) -> web.Response:
    emu = _emulator(request)
    changed = emu.evaluate(force_sync=True)
    emu.persist()
    return _json({"changed": changed})


async def faults(request: web.Request) -> web.Response:
    emu = _emulator(request)
    if request.method == "PUT":
        try:
            emu.faults.set(FaultConfig.from_json(await _body(request)))
        except (ValueError, TypeError) as err:
            return _bad(str(err))
    elif request.method == "DELETE":
        emu.faults.clear()
    return _json(emu.faults.snapshot())


async def events(request: web.Request) -> web.Response:
    return _json({"events": _emulator(request).ws.events})


async def requests(request: web.Request) -> web.Response:
    """GraphQL requests received since the last reset, by name (the operationName, else the document's
    operation name, else its first root field; "-" when the body is unusable); DELETE zeroes them."""
    emu = _emulator(request)
    if request.method == "DELETE":
        emu.requests.clear()
        emu.max_in_flight = emu.in_flight
    return _json(
        {
            "total": sum(emu.requests.values()),
            "byOperation": dict(emu.requests),
            "maxInFlight": emu.max_in_flight,
        }
    )


async def permissions(request: web.Request) -> web.Response:
    """``PUT`` root fields Forbidden per access key and Query fields the workspace lacks (permissions.py);
    ``DELETE`` clears them."""
    emu = _emulator(request)
    if request.method == "PUT":
        schema = emu.engine.schema
        query = set(schema.query_type.fields) if schema.query_type else set()
        mutation = set(schema.mutation_type.fields) if schema.mutation_type else set()
        try:
            emu.permissions = Permissions.from_json(await _body(request), query | mutation, query)
        except ValueError as err:
            return _bad(str(err))
    elif request.method == "DELETE":
        emu.permissions = Permissions()
    return _json(emu.permissions.to_json())


async def console(request: web.Request) -> web.Response:
    """Run a GraphQL document as the Guardrails console would: an admin identity of its own (``Console``),
    outside fault injection and the request counters."""
    emu = _emulator(request)
    doc = await _body(request)
    query, variables = doc.get("query"), doc.get("variables")
    if not isinstance(query, str) or not isinstance(variables, dict | None):
        return _bad("expected {query, variables}")
    name = doc.get("operationName") if isinstance(doc.get("operationName"), str) else None
    status, payload = await emu.execute(query, variables, name, "admin", CONSOLE)
    return _json(payload, status)


async def activity_log(request: web.Request) -> web.Response:
    """The activity log, oldest first, as stored (the ``notifications`` query serves it to clients)."""
    emu = _emulator(request)
    return _json({"activities": [dataclasses.asdict(a) for a in emu.ws.activities]})


async def state(request: web.Request) -> web.Response:
    emu = _emulator(request)
    return _json({**emu.ws.to_json(), "now": emu.ws.now(), "faults": emu.faults.snapshot()})


def add_admin_routes(app: web.Application) -> None:
    app.router.add_post(f"{PREFIX}/reset", reset)
    app.router.add_post(f"{PREFIX}/resources", add_resource)
    app.router.add_delete(PREFIX + "/resources/{ref:.+}", delete_resource)
    app.router.add_post(f"{PREFIX}/clock", clock)
    app.router.add_get(f"{PREFIX}/clock", clock)
    app.router.add_post(f"{PREFIX}/tick", tick)
    app.router.add_put(f"{PREFIX}/faults", faults)
    app.router.add_get(f"{PREFIX}/faults", faults)
    app.router.add_delete(f"{PREFIX}/faults", faults)
    app.router.add_get(f"{PREFIX}/events", events)
    app.router.add_get(f"{PREFIX}/state", state)
    app.router.add_get(f"{PREFIX}/activities", activity_log)
    app.router.add_get(f"{PREFIX}/requests", requests)
    app.router.add_put(f"{PREFIX}/permissions", permissions)
    app.router.add_get(f"{PREFIX}/permissions", permissions)
    app.router.add_delete(f"{PREFIX}/permissions", permissions)
    app.router.add_post(f"{PREFIX}/console/graphql", console)
    app.router.add_delete(f"{PREFIX}/requests", requests)
