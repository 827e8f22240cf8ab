"""Kopf handlers for EcrPrivacyPolicy: start-up settings (peering among them), create/update/resume, the
resync schedule, deletion, and the liveness probes (the workspace kinds' handlers are in ``workspaces.py``, the
indices in ``indices.py``).

Each handler is a few lines: it hands the object to the shared ``Runtime`` (in ``memo``), which owns
credentials, the reconcile engine, status, Events and metrics.
"""

from __future__ import annotations

import datetime
import logging
import os
import time
from typing import Any

import kopf

from ecr_privacy_operator.config import OperatorConfig
from ecr_privacy_operator.crd.spec import API_GROUP, API_VERSION, PLURAL
from ecr_privacy_operator.handlers import exceptions as _exception_handlers  # noqa: F401 (registers them)
from ecr_privacy_operator.handlers import indices as _indices  # noqa: F401 (registers them)
from ecr_privacy_operator.handlers import workspaces as _workspace_handlers  # noqa: F401 (registers them)
from ecr_privacy_operator.health import Readiness, Watchdog, WedgedError
from ecr_privacy_operator.kube import Kube, KubernetesError, KubernetesUnavailableError, login
from ecr_privacy_operator.kube_session import capped_session
from ecr_privacy_operator.metrics import Metrics
from ecr_privacy_operator.peering import (
    CLUSTER_PEERING_KIND,
    CLUSTER_PEERING_PLURAL,
    PEERING_GROUP,
    PEERING_VERSION,
    active_peers,
)
from ecr_privacy_operator.reconcile.clients import ClientPool
from ecr_privacy_operator.reconcile.ownership import Owner, Ownership
from ecr_privacy_operator.runtime.passes import Runtime

RESOURCE = (API_GROUP, API_VERSION, PLURAL)
# process-wide, so that main() can serve /metrics and /readyz before Kopf's start-up handlers run
METRICS = Metrics()
READINESS = Readiness()


def _on_request(operation: str, outcome: str, seconds: float) -> None:
    METRICS.on_request(operation, outcome, seconds)
    READINESS.on_request(operation, outcome, seconds)


@kopf.on.login()
async def kubernetes_login(**kwargs: Any) -> kopf.AiohttpSession | None:
    """The service account in a cluster, else the kubeconfig (the same credentials as ``Kube``'s), in a
    session that keeps Kopf's connection pool small."""
    info = login(**kwargs)
    return capped_session(info, OperatorConfig.from_env().kube_max_requests) if info else None


async def _ownership(config: OperatorConfig, kube: Kube) -> Ownership:
    """The cluster's identity (``ECR_PRIVACY_CLUSTER_ID``, else the UID of namespace kube-system, read once) and
    the owner lookup the engine uses before it takes back a pack."""

    async def owner_exists(owner: Owner) -> bool:
        if owner.namespace is None or owner.name is None:
            return True  # a legacy owner cannot be looked up: count it as alive (never taken on a guess)
        try:
            return await kube.policy_exists(owner.namespace, owner.name, owner.uid)
        except KubernetesError as exc:  # e.g. forbidden: say so in a condition and retry, never guess
            raise KubernetesUnavailableError(
                f"cannot tell whether {owner.namespace}/{owner.name}, the owner of the pack, still exists: {exc}"
            ) from None

    cluster_id = config.cluster_id
    if cluster_id is None:
        try:
            cluster_id = await kube.namespace_uid("kube-system")
        except KubernetesUnavailableError as exc:
            raise kopf.TemporaryError(f"cannot read the cluster identity yet: {exc}", delay=5) from None
        except KubernetesError as exc:
            raise kopf.PermanentError(
                f"cannot read the cluster identity ({exc}); set ECR_PRIVACY_CLUSTER_ID"
            ) from None
    return Ownership(cluster_id=cluster_id, owner_exists=owner_exists)


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
    config = OperatorConfig.from_env()
    settings.persistence.finalizer = f"{API_GROUP}/finalizer"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=API_GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=API_GROUP, key="last-handled-configuration"
    )
    settings.posting.level = logging.WARNING  # Events are posted explicitly; Kopf's own only for problems
    settings.watching.server_timeout = 270
    settings.watching.client_timeout = 300
    # the first list of each kind in pages: a restart with 10,000 policies reads 20 replies of 500 objects, not
    # one of all of them (tens of MiB held at once, in the API server and here)
    settings.watching.chunk_size = 500
    # Kopf keeps a worker task (with the object's last event) per object until it has been idle this long;
    # after a burst of 1000 creations, 1 s instead of 5 s lets that memory go sooner.
    settings.batching.idle_timeout = 1.0
    pool = ClientPool(
        ca_bundle=config.ca_bundle,
        timeout=config.request_timeout,
        on_request=_on_request,
        on_retry=METRICS.on_retry,
    )
    watchdog = Watchdog(wedged_after=config.wedged_after)
    METRICS.watch_passes(watchdog.oldest_age, lambda: watchdog.inflight)
    kube = Kube(credentials=lambda: login(logger=logger, settings=settings))
    ownership = await _ownership(config, kube)
    runtime = Runtime.build(
        config=config,
        kube=kube,
        pool=pool,
        metrics=METRICS,
        ownership=ownership,
        watchdog=watchdog,
        settings=settings,
        readiness=READINESS,
    )
    memo.runtime = runtime
    await _peering(settings, config, runtime.kube, logger)
    READINESS.started = True
    logger.info(
        "ecr-privacy-operator started (cluster id %s, metrics on :%s)",
        ownership.cluster_id,
        config.metrics_port or "off",
    )


async def _peering(
    settings: kopf.OperatorSettings, config: OperatorConfig, kube: Kube, logger: kopf.Logger
) -> None:
    """Peering on: join the ClusterKopfPeering ``config.peering_name``, creating it when missing (its CRD must
    be installed). Off (standalone): refuse to start while another operator is alive in it, since both would
    reconcile the same objects."""
    name = config.peering_name
    where = (PEERING_GROUP, PEERING_VERSION, CLUSTER_PEERING_PLURAL)
    try:
        status = await kube.read_cluster_peering(*where, name)
        if config.peering and status is None:
            await kube.create_cluster_peering(*where, CLUSTER_PEERING_KIND, name)
    except (KubernetesError, KubernetesUnavailableError) as exc:
        if config.peering:
            missing = isinstance(exc, KubernetesError) and exc.status == 404
            hint = (
                " (install deploy/crds/kopf.dev_clusterkopfpeerings.yaml, or run --standalone)"
                if missing
                else ""
            )
            raise kopf.PermanentError(
                f"peering is on, but ClusterKopfPeering {name} is unusable: {exc}{hint}"
            ) from None
        logger.warning(
            "Running standalone without checking for another operator (ClusterKopfPeering %s: %s); "
            "make sure no other ecr-privacy-operator serves these objects.",
            name,
            exc,
        )
        return
    if config.peering:
        settings.peering.clusterwide = True  # one object for every namespace mode
        settings.peering.lifetime = config.peering_lifetime
        settings.peering.stealth = True
        logger.info(
            "Peering in ClusterKopfPeering %s (priority %d): this process acts while no replica started "
            "before it is alive, and stands by otherwise.",
            name,
            settings.peering.priority,
        )
        return
    alive = active_peers(status, datetime.datetime.now(datetime.UTC), exclude=os.environ.get("POD_ID", ""))
    if alive:
        raise kopf.PermanentError(
            f"refusing to run standalone: another operator is active in ClusterKopfPeering {name} "
            f"({', '.join(sorted(alive))}); two would reconcile the same objects twice. Stop it, or run with "
            "--peering to stand by beside it."
        )


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    runtime: Runtime = memo.runtime
    await runtime.stop_resyncs()
    await runtime.pool.aclose()
    await runtime.kube.aclose()


@kopf.on.create(*RESOURCE)
@kopf.on.update(*RESOURCE, field="spec")
@kopf.on.resume(*RESOURCE)
async def sync(body: kopf.Body, reason: str, memo: kopf.Memo, logger: kopf.Logger, **kwargs: Any) -> None:
    runtime: Runtime = memo.runtime
    runtime.directory.bind(kwargs)  # Kopf's indices (indices.py)
    runtime.start_resyncs()  # from a resource handler: its context can post Events
    runtime.request(body, str(reason))


@kopf.on.event(*RESOURCE, id="gone")
async def gone(event: kopf.RawEvent, memo: kopf.Memo, **_: Any) -> None:
    """An object deleted without our finalizer running (it was removed by hand): stop its resyncs."""
    if event["type"] == "DELETED":
        runtime: Runtime = memo.runtime
        meta = event["object"]["metadata"]
        runtime.forget(meta["uid"], meta.get("namespace", ""), meta["name"])


def _not_gone_succeeded(record: logging.LogRecord) -> bool:
    """Kopf logs every event handler's success at INFO: for ``gone`` that is a line per watch event."""
    return record.getMessage() != "Handler 'gone' succeeded."


logging.getLogger("kopf.objects").addFilter(_not_gone_succeeded)


@kopf.on.delete(*RESOURCE)
async def delete(body: kopf.Body, memo: kopf.Memo, logger: kopf.Logger, **kwargs: Any) -> None:
    runtime: Runtime = memo.runtime
    runtime.directory.bind(kwargs)
    await runtime.finalize(body, logger)


@kopf.on.probe(id="lastPassAgeSeconds")
async def last_pass_age(memo: kopf.Memo, **_: Any) -> float:
    runtime: Runtime | None = getattr(memo, "runtime", None)
    return 0.0 if runtime is None else round(time.monotonic() - runtime.last_pass, 1)


@kopf.on.probe(id="oldestPassSeconds")
async def oldest_pass(memo: kopf.Memo, **_: Any) -> float:
    """Fail the liveness endpoint (HTTP 500) while a pass has been in flight for longer than
    ``ECR_PRIVACY_WEDGED_AFTER``: the operator is wedged, and a restart is the cure."""
    runtime: Runtime | None = getattr(memo, "runtime", None)
    if runtime is None:
        return 0.0
    try:
        return round(runtime.watchdog.check(), 1)
    except WedgedError as exc:
        raise kopf.PermanentError(f"wedged: {exc}") from None


__all__ = ["METRICS", "READINESS", "OperatorConfig"]
