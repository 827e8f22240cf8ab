"""The ``ecr-privacy-operator`` command: parse flags, set up logging and metrics, and run Kopf.

    ecr-privacy-operator [--namespace NS ... | --all-namespaces] [--liveness URL] [--metrics-port N]
                         [--log-format plain|json] [--allowed-hosts HOST,...] [--operator-namespace NS]
                         [--ca-bundle PATH]
                         [--peering [--peering-name NAME] | --standalone]

Flags override the ``ECR_PRIVACY_*`` environment variables of ``config.py``. With ``--peering`` (the chart's
default) replicas share a ClusterKopfPeering and one acts while the others stand by; standalone (the
command's default) the process refuses to start while another operator is alive in that peering.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
import sys

# The operator reaches Kubernetes through Kopf and httpx only. When the official client library happens to be
# installed beside it (a development venv; the image has none), Kopf imports it at start-up just to recognise
# its model classes: about 10 MiB and 0.3 s for nothing. This process never imports it.
sys.modules.setdefault("kubernetes", None)  # type: ignore[arg-type]

import kopf  # noqa: E402


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ecr-privacy-operator", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument(
        "-n",
        "--namespace",
        action="append",
        default=[],
        help="watch this namespace (repeatable; globs like 'team-*' work); default: all",
    )
    scope.add_argument("-A", "--all-namespaces", action="store_true", help="watch every namespace (default)")
    parser.add_argument(
        "--liveness",
        default=os.environ.get("ECR_PRIVACY_LIVENESS", "http://0.0.0.0:8081/healthz"),
        help="liveness endpoint URL served by Kopf (empty: off)",
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        help="port of /metrics and /readyz (0: off) [ECR_PRIVACY_METRICS_PORT, 8080]",
    )
    parser.add_argument("--log-format", choices=["plain", "json"], help="log format [ECR_PRIVACY_LOG_FORMAT]")
    parser.add_argument(
        "--allowed-hosts",
        metavar="HOST,...",
        help="workspace hosts keys may be sent to; *.domain for any host below it "
        "[ECR_PRIVACY_ALLOWED_HOSTS, *.cloud.turbot.com]",
    )
    parser.add_argument(
        "--operator-namespace",
        metavar="NS",
        help="where ClusterGuardrailsWorkspace Secrets live [ECR_PRIVACY_OPERATOR_NAMESPACE, the Pod's]",
    )
    parser.add_argument(
        "--ca-bundle", help="CA bundle for Guardrails' TLS certificate [ECR_PRIVACY_CA_BUNDLE]"
    )
    peering = parser.add_mutually_exclusive_group()
    peering.add_argument(
        "--peering",
        action="store_const",
        const="true",
        help="join Kopf's peering: act while no older replica is alive, else stand by [ECR_PRIVACY_PEERING]",
    )
    peering.add_argument(
        "--standalone",
        dest="peering",
        action="store_const",
        const="false",
        help="no peering (default); refuses to start while another operator is active in the peering",
    )
    parser.add_argument(
        "--peering-name",
        help="the ClusterKopfPeering object [ECR_PRIVACY_PEERING_NAME, ecr-privacy-operator]",
    )
    parser.add_argument(
        "--feed-interval",
        type=float,
        metavar="SECONDS",
        help="seconds between reads of each workspace's activity feed (0: off) [ECR_PRIVACY_FEED_INTERVAL, 5]",
    )
    parser.add_argument("--verbose", action="store_true", help="debug logging")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    for flag, var in (
        ("metrics_port", "METRICS_PORT"),
        ("log_format", "LOG_FORMAT"),
        ("allowed_hosts", "ALLOWED_HOSTS"),
        ("operator_namespace", "OPERATOR_NAMESPACE"),
        ("ca_bundle", "CA_BUNDLE"),
        ("peering", "PEERING"),
        ("peering_name", "PEERING_NAME"),
        ("feed_interval", "FEED_INTERVAL"),
    ):
        value = getattr(args, flag)
        if value is not None:
            os.environ[f"ECR_PRIVACY_{var}"] = str(value)

    from ecr_privacy_operator import kopf_gate, kopf_namespaces
    from ecr_privacy_operator.config import OperatorConfig
    from ecr_privacy_operator.handlers import policy
    from ecr_privacy_operator.health import serve
    from ecr_privacy_operator.peering import process_priority

    try:
        config = OperatorConfig.from_env()
    except ValueError as exc:
        print(f"ecr-privacy-operator: invalid configuration: {exc}", file=sys.stderr)
        return 2
    json_logs = config.log_format == "json"
    kopf.configure(
        debug=args.verbose,
        verbose=args.verbose,
        # plain: "[time] logger [LEVEL] [namespace/name] message"; json: one object a line, the object under "object"
        log_format=kopf.LogFormat.JSON if json_logs else kopf.LogFormat.FULL,
        log_prefix=not json_logs,
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # request lines carry no secrets, but are noise
    if config.metrics_port:
        serve(config.metrics_port, policy.METRICS.scrape, policy.READINESS)
    # Kopf names itself from POD_ID, else from the OS user name, which fails for a uid without a passwd
    # entry (e.g. a random runAsUser); the chart sets POD_ID from the Pod's name. The process id keeps two
    # processes on one host apart in the peering.
    os.environ.setdefault("POD_ID", f"ecr-privacy-operator@{socket.gethostname()}/{os.getpid()}")
    kopf_gate.install()  # Kopf's start-up gate without a wake-up of every waiting worker per object
    kopf_namespaces.install()  # a namespace created while the operator starts is served, not skipped
    asyncio.run(
        kopf.operator(
            standalone=not config.peering,
            peering_name=config.peering_name if config.peering else None,
            priority=process_priority(),
            clusterwide=not args.namespace,
            namespaces=list(args.namespace),
            liveness_endpoint=args.liveness or None,
            settings=_settings(args.namespace),
        )
    )
    return 0


def _settings(namespaces: list[str]) -> kopf.OperatorSettings:
    """Kopf's settings before start-up. With exact namespace names (no glob), Kopf does not scan namespaces:
    a scan skips a namespace that is being deleted, so an operator restarted while one of its namespaces is
    Terminating would never serve it again and its finalizers would hold the deletion forever. The price:
    a CRD created after start-up is noticed only after a restart (the chart installs the CRDs first)."""
    settings = kopf.OperatorSettings()
    if namespaces and not any(ch in ns for ns in namespaces for ch in "*?[!"):
        settings.scanning.disabled = True
    return settings


if __name__ == "__main__":
    raise SystemExit(main())
