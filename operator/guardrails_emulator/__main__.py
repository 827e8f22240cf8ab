"""Command line of the Guardrails GraphQL emulator: parse options, build the app, serve HTTP or HTTPS."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import ssl
import sys
import tempfile
from pathlib import Path
from typing import Any

from aiohttp import web

from .faults import FaultConfig, Faults
from .fixtures import load_fixture_file
from .model import Key
from .server import Emulator, make_app

log = logging.getLogger("guardrails_emulator")


def parser() -> argparse.ArgumentParser:
    env = os.environ.get
    p = argparse.ArgumentParser(
        prog="guardrails-emulator",
        description="A local emulator of the Turbot Guardrails GraphQL API (policy packs, settings, "
        "attachments, policy values, the ECR public repository Approved control) with fault injection. "
        "GraphQL at /api/latest/graphql and /api/v5/graphql; admin surface at /__emulator/ (loopback only).",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    p.add_argument(
        "--port",
        type=int,
        default=8080,
        help="port (default: %(default)s; 0 = a free port, printed on stdout)",
    )
    p.add_argument(
        "--tls", action="store_true", help="serve HTTPS with a certificate from a fresh local test CA"
    )
    p.add_argument(
        "--tls-ca-out", type=Path, metavar="PATH", help="with --tls: write the CA certificate (PEM) here"
    )
    p.add_argument(
        "--access-key",
        default=env("GUARDRAILS_EMULATOR_ACCESS_KEY", "emulator-access-key"),
        help="admin access key (env GUARDRAILS_EMULATOR_ACCESS_KEY; default: emulator-access-key)",
    )
    p.add_argument(
        "--secret-key",
        default=env("GUARDRAILS_EMULATOR_SECRET_KEY", "emulator-secret-key"),
        help="admin secret key (env GUARDRAILS_EMULATOR_SECRET_KEY; default: emulator-secret-key)",
    )
    p.add_argument(
        "--read-only-access-key",
        default=env("GUARDRAILS_EMULATOR_READ_ONLY_ACCESS_KEY"),
        help="access key of an optional read-only identity whose mutations are Forbidden",
    )
    p.add_argument(
        "--read-only-secret-key",
        default=env("GUARDRAILS_EMULATOR_READ_ONLY_SECRET_KEY"),
        help="secret key of the read-only identity",
    )
    p.add_argument(
        "--scoped-key",
        action="append",
        default=[],
        metavar="ACCESS:SECRET:RESOURCE",
        help="an identity limited to the subtree of RESOURCE (id or AKA), contract §4.8; repeatable",
    )
    p.add_argument(
        "--fixture", type=Path, metavar="PATH", help="fixture file (YAML or JSON) replacing the default tree"
    )
    p.add_argument(
        "--state-file",
        type=Path,
        metavar="PATH",
        help="persist the state as JSON here after every write (atomically) and load it at start if present; "
        "the activity log is appended to PATH.activities",
    )
    p.add_argument(
        "--faults", metavar="JSON", help='initial fault configuration, e.g. \'{"rate":0.1,"statuses":[503]}\''
    )
    p.add_argument("--latency-ms", type=float, default=0.0, help="fixed latency added to every API request")
    p.add_argument(
        "--log-requests",
        action="store_true",
        help="log one line per GraphQL request: its name, status and outcome, or why it was refused (no secrets)",
    )
    p.add_argument(
        "--workspace-version",
        default="5.52.3",
        help="value of the workspaceVersion policy (default: %(default)s)",
    )
    return p


def _keys(args: argparse.Namespace) -> list[Key]:
    keys = [Key(args.access_key, args.secret_key, "admin")]
    if args.read_only_access_key and args.read_only_secret_key:
        keys.append(Key(args.read_only_access_key, args.read_only_secret_key, "readonly"))
    for spec in args.scoped_key:
        access, secret, resource = ([*spec.split(":", 2), "", ""])[:3]
        if not (access and secret and resource):
            raise SystemExit(f"--scoped-key needs ACCESS:SECRET:RESOURCE, got {spec!r}")
        keys.append(Key(access, secret, f"scoped:{resource}"))
    return keys


def _faults(args: argparse.Namespace) -> Faults:
    doc: dict[str, Any] = json.loads(args.faults) if args.faults else {}
    if args.latency_ms and "latencyMs" not in doc:
        doc["latencyMs"] = args.latency_ms
    return Faults(FaultConfig.from_json(doc))


def _ssl_context(args: argparse.Namespace) -> ssl.SSLContext:
    # Only --tls needs cryptography (the `emulator` extra): the operator image runs the emulator without it.
    from .tls import issue_server_cert, make_ca

    ca = make_ca("guardrails-emulator test CA")
    hosts = ["localhost", "127.0.0.1", "::1"]
    if args.host not in hosts and args.host not in ("0.0.0.0", "::"):  # noqa: S104 - just a comparison
        hosts.append(args.host)
    server = issue_server_cert(ca, hosts)
    if args.tls_ca_out:
        args.tls_ca_out.write_bytes(ca.cert_pem)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = Path(tmp, "server.crt"), Path(tmp, "server.key")
        cert.write_bytes(server.cert_pem + ca.cert_pem)
        key.write_bytes(server.key_pem)
        key.chmod(0o600)
        context.load_cert_chain(cert, key)
    return context


async def serve(args: argparse.Namespace) -> None:
    fixture = load_fixture_file(args.fixture) if args.fixture else None
    emulator = Emulator(
        keys=_keys(args),
        fixture=fixture,
        workspace_version=args.workspace_version,
        state_file=args.state_file,
        log_requests=args.log_requests,
        faults=_faults(args),
    )
    runner = web.AppRunner(make_app(emulator), access_log=None, handle_signals=False)
    await runner.setup()
    ssl_context = _ssl_context(args) if args.tls else None
    site = web.TCPSite(runner, args.host, args.port, ssl_context=ssl_context)
    await site.start()
    port = runner.addresses[0][1] if runner.addresses else args.port  # the real port when --port 0
    scheme = "https" if args.tls else "http"
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(f"guardrails-emulator listening on {scheme}://{host}:{port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutting down")
    await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if args.tls_ca_out and not args.tls:
        parser().error("--tls-ca-out needs --tls")
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        _faults(args)
    except (ValueError, TypeError) as err:
        parser().error(f"--faults: {err}")
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
