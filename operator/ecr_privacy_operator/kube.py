"""The operator's own Kubernetes calls besides Kopf's: read credential Secrets, patch object status, keep the
finalizers that protect a workspace's Secret (and the RoleBinding that lets the operator read it), the two
reads behind pack ownership (the cluster's identity, whether an owner object still exists), and the peering
object at start-up.

Kopf owns watching, its own finalizers, events and peering keep-alives; this module covers the calls the
operator makes outside a handler's patch. They go over one async httpx client with the credentials Kopf logs in with
(``login``: the in-cluster service account, else the kubeconfig), so the official client library (and its
threads) is not needed. Secret values are returned as ``SecretStr`` and never logged.
"""

from __future__ import annotations

import base64
import os
import re
import ssl
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import kopf
from pydantic import SecretStr

from ecr_privacy_operator.reconcile.clients import ACCESS_KEY, SECRET_KEY

GROUP, VERSION, PLURAL = "ecrprivacy.dev", "v1alpha1", "ecrprivacypolicies"
SECRET_CACHE_SECONDS = 30.0
SECRET_KEYS = (ACCESS_KEY, SECRET_KEY)  # the only keys of a credentials Secret the operator decodes
TIMEOUT_SECONDS = 30.0


class SecretNotFoundError(LookupError):
    """The named Secret, or a required key in it, does not exist or the operator may not read it."""


class SecretInvalidError(SecretNotFoundError):
    """A key the operator uses holds something that is not base64-encoded UTF-8 text."""


def _decode_keys(data: dict[str, str], source: str) -> dict[str, SecretStr]:
    """The keys the operator uses (``SECRET_KEYS``), decoded; any other key is never decoded, so a tenant's
    extra key (binary, huge) cannot fail or slow anything. A used key that does not decode raises
    ``SecretInvalidError`` naming the key, never its value."""
    values: dict[str, SecretStr] = {}
    for key in SECRET_KEYS:
        raw = data.get(key)
        if raw is None:
            continue
        try:
            values[key] = SecretStr(base64.b64decode(raw, validate=True).decode("utf-8"))
        except (ValueError, TypeError):  # binascii.Error and UnicodeDecodeError are ValueErrors
            raise SecretInvalidError(f"{source}: key {key} is not UTF-8 text") from None
    return values


class KubernetesUnavailableError(RuntimeError):
    """The Kubernetes API did not answer (unreachable, timed out, HTTP 429 or 5xx): worth retrying soon."""


class KubernetesError(RuntimeError):
    """The Kubernetes API refused a call for another reason (HTTP status and the API's message)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


class InvalidNameError(ValueError):
    """A name that is not a Kubernetes object name reached an API path: nothing was sent."""


SERVICE_ACCOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
# an API path segment: a DNS subdomain (object names, namespaces, groups, versions, plurals), never "." or ".."
_SEGMENT = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")


def in_cluster(directory: str = SERVICE_ACCOUNT) -> kopf.ConnectionInfo | None:
    """The Pod's service account: the API server from ``KUBERNETES_SERVICE_HOST``/``_PORT`` (as the
    official clients do; no cluster DNS needed), its token and CA as mounted. None outside a Pod."""
    host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT")
    mounted = Path(directory)
    if not host or not port or not (mounted / "token").exists():
        return None
    namespace = mounted / "namespace"
    return kopf.ConnectionInfo(
        server=f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}",
        ca_path=str(mounted / "ca.crt"),
        scheme="Bearer",
        token=(mounted / "token").read_text().strip(),
        default_namespace=namespace.read_text().strip() if namespace.exists() else None,
    )


def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    """Kopf's login (``@kopf.on.login``) and ours: the Pod's service account (read afresh each time, so a
    rotated token is picked up), else the kubeconfig (``KUBECONFIG`` or ``~/.kube/config``: token, basic or
    client-certificate users; no exec plugins)."""
    return in_cluster() or kopf.login_with_kubeconfig(**kwargs)


def _pem(data: str | bytes) -> str:
    """PEM text from a kubeconfig's ``*-data`` field: PEM as is, or base64 of PEM (as kubeconfigs embed it)."""
    text = data.decode() if isinstance(data, bytes) else data
    return text if text.startswith("-----BEGIN ") else base64.b64decode(text).decode()


def _private_file(directory: Callable[[], str], name: str, data: str | bytes) -> str:
    path = os.path.join(directory(), name)
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
        out.write(_pem(data))
    return path


def _client_for(
    info: kopf.ConnectionInfo, directory: Callable[[], str], transport: httpx.AsyncBaseTransport | None
) -> httpx.AsyncClient:
    """An httpx client for one set of credentials; client-certificate *data* (a kubeconfig that embeds it)
    goes to owner-only files in ``directory()``, as ``ssl`` loads certificates from files only."""
    verify: ssl.SSLContext | bool = False
    if not info.insecure:
        verify = ssl.create_default_context(
            cafile=os.fsdecode(info.ca_path) if info.ca_path else None,
            cadata=_pem(info.ca_data) if info.ca_data else None,
        )
        cert = info.certificate_path
        key = info.private_key_path
        if info.certificate_data:
            cert = _private_file(directory, "client.crt", info.certificate_data)
        if info.private_key_data:
            key = _private_file(directory, "client.key", info.private_key_data)
        if cert:
            verify.load_cert_chain(os.fsdecode(cert), os.fsdecode(key) if key else None)
    headers = {"Accept": "application/json"}
    if info.token:
        headers["Authorization"] = f"{info.scheme or 'Bearer'} {info.token}"
    auth = httpx.BasicAuth(info.username, info.password or "") if info.username else None
    # Proxy variables (HTTPS_PROXY, ...) apply to the API server only as they do to Kopf's own calls
    # (settings.networking.trust_env, off by default): a proxy meant for Guardrails must not catch them.
    return httpx.AsyncClient(
        base_url=info.server,
        verify=verify,
        headers=headers,
        auth=auth,
        timeout=TIMEOUT_SECONDS,
        transport=transport,
        trust_env=info.trust_env,
    )


@dataclass
class Kube:
    """Secret reads (cached briefly, so 1000 objects sharing a Secret read it once) and status patches.

    ``credentials`` is called for the first request and again after an HTTP 401 (a rotated service-account
    token); ``transport`` replaces the network in unit tests.
    """

    credentials: Callable[[], kopf.ConnectionInfo | None]
    transport: httpx.AsyncBaseTransport | None = None
    _secrets: dict[tuple[str, str], tuple[float, dict[str, SecretStr]]] = field(default_factory=dict)
    _client: httpx.AsyncClient | None = None
    _files: tempfile.TemporaryDirectory[str] | None = None

    def _connect(self) -> httpx.AsyncClient:
        info = self.credentials()
        if info is None:
            raise KubernetesUnavailableError(
                "no Kubernetes credentials: neither in a cluster nor a kubeconfig"
            )
        return _client_for(info, self._private_dir, self.transport)

    def _private_dir(self) -> str:
        if self._files is None:
            self._files = tempfile.TemporaryDirectory(prefix="ecr-privacy-kube-")
        return self._files.name

    async def _request(self, method: str, path: str, what: str, **kwargs: Any) -> httpx.Response:
        """One API call; 401 logs in again once; transport errors, 429 and 5xx are KubernetesUnavailable."""
        for attempt in (1, 2):
            if self._client is None:
                self._client = self._connect()
            try:
                response = await self._client.request(method, path, **kwargs)
            except httpx.TransportError as exc:  # refused, reset, timed out: an API-server restart
                raise KubernetesUnavailableError(
                    f"cannot {what}: the Kubernetes API is unreachable ({type(exc).__name__})"
                ) from None
            if response.status_code == 401 and attempt == 1:
                await self.aclose()
                continue
            if response.status_code == 429 or response.status_code >= 500:
                raise KubernetesUnavailableError(
                    f"cannot {what}: the Kubernetes API answered HTTP {response.status_code}"
                )
            return response
        return response

    async def read_secret(self, namespace: str, name: str) -> dict[str, SecretStr]:
        key = (namespace, name)
        cached = self._secrets.get(key)
        if cached and time.monotonic() - cached[0] < SECRET_CACHE_SECONDS:
            return cached[1]
        what = f"read Secret {namespace}/{name}"
        response = await self._request("GET", secret_path(namespace, name), what)
        if response.status_code == 404:
            raise SecretNotFoundError(f"Secret {namespace}/{name} not found")
        if response.status_code == 403:
            raise SecretNotFoundError(
                f"Secret {namespace}/{name} cannot be read: forbidden to the operator (bind the "
                f"ClusterRole ecr-privacy-operator-credentials to it in namespace {namespace} with a RoleBinding "
                "named ecr-privacy-operator-credentials)"
            )
        _raise_for(response, what)
        data: dict[str, str] = response.json().get("data") or {}
        values = _decode_keys(data, f"Secret {namespace}/{name}")
        self._secrets[key] = (time.monotonic(), values)
        return values

    def forget_secret(self, namespace: str, name: str) -> None:
        self._secrets.pop((namespace, name), None)

    async def patch_status(
        self, namespace: str, name: str, status: dict[str, Any], plural: str = PLURAL
    ) -> None:
        """Merge-patch ``status`` of one of our objects (lists such as conditions are replaced whole);
        ``namespace`` "" for a cluster-scoped kind."""
        where = ("namespaces", namespace) if namespace else ()
        what = f"patch the status of {plural} {namespace + '/' if namespace else ''}{name}"
        path = api_path("apis", GROUP, VERSION, *where, plural, name, "status")
        response = await self._request(
            "PATCH",
            path,
            what,
            json={"status": status},
            headers={"Content-Type": "application/merge-patch+json"},
        )
        _raise_for(response, what)

    async def set_finalizer(self, path: str, finalizer: str, present: bool, what: str) -> bool:
        """Add (``present``) or remove ``finalizer`` on the object at API ``path`` (e.g. a Secret's); False if the
        object does not exist. Read-modify-write guarded by resourceVersion, retried on a conflict. A Secret's
        data is read with it but never kept or logged."""
        for _ in range(5):
            response = await self._request("GET", path, f"read {what}")
            if response.status_code == 404:
                return False
            _raise_for(response, f"read {what}")
            meta = response.json().get("metadata") or {}
            finalizers = list(meta.get("finalizers") or [])
            if (finalizer in finalizers) == present:
                return True
            finalizers = [*finalizers, finalizer] if present else [f for f in finalizers if f != finalizer]
            patch = {"metadata": {"finalizers": finalizers, "resourceVersion": meta.get("resourceVersion")}}
            response = await self._request(
                "PATCH",
                path,
                f"update the finalizers of {what}",
                json=patch,
                headers={"Content-Type": "application/merge-patch+json"},
            )
            if response.status_code == 409:  # changed meanwhile: read again
                continue
            if response.status_code == 404:
                return False
            _raise_for(response, f"update the finalizers of {what}")
            return True
        raise KubernetesUnavailableError(f"cannot update the finalizers of {what}: it keeps changing")

    async def namespace_uid(self, name: str) -> str:
        """The UID of a namespace (``kube-system``: the cluster's identity). Read with ``list`` and a field
        selector, which the operator may already do for Kopf, so it needs no ``get`` on namespaces."""
        what = f"read the UID of namespace {name}"
        response = await self._request(
            "GET", "/api/v1/namespaces", what, params={"fieldSelector": f"metadata.name={name}"}
        )
        _raise_for(response, what)
        items = response.json().get("items") or []
        if not items:
            raise KubernetesError(404, f"cannot {what}: it does not exist")
        return str(items[0]["metadata"]["uid"])

    async def policy_exists(self, namespace: str, name: str, uid: str) -> bool:
        """True when the EcrPrivacyPolicy ``namespace/name`` exists with this UID (a namesake made later, with
        another UID, is not it)."""
        what = f"read {namespace}/{name}"
        path = api_path("apis", GROUP, VERSION, "namespaces", namespace, PLURAL, name)
        response = await self._request("GET", path, what)
        if response.status_code == 404:
            return False
        _raise_for(response, what)
        return bool(response.json().get("metadata", {}).get("uid") == uid)

    async def read_cluster_peering(
        self, group: str, version: str, plural: str, name: str
    ) -> dict[str, Any] | None:
        """The ``status`` of one cluster-scoped peering object (Kopf's keep-alive records); None when the object
        or its CRD does not exist. Other refusals (403) raise ``KubernetesError``."""
        what = f"read the {plural} object {name}"
        response = await self._request("GET", api_path("apis", group, version, plural, name), what)
        if response.status_code == 404:
            return None
        _raise_for(response, what)
        status: dict[str, Any] = response.json().get("status") or {}
        return status

    async def create_cluster_peering(
        self, group: str, version: str, plural: str, kind: str, name: str
    ) -> bool:
        """Create an empty cluster-scoped peering object; True when created, False when it already existed.
        ``KubernetesError`` with status 404 when its CRD is not installed."""
        what = f"create the {plural} object {name}"
        body = {"apiVersion": f"{group}/{version}", "kind": kind, "metadata": {"name": name}}
        response = await self._request("POST", api_path("apis", group, version, plural), what, json=body)
        if response.status_code == 409:
            return False
        _raise_for(response, what)
        return True

    async def aclose(self) -> None:
        """Close the connection pool (the next call connects again with fresh credentials)."""
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()


def api_path(*segments: str) -> str:
    """An API path from segments that are each a valid Kubernetes name (so never ``..``, ``/`` or a query),
    each percent-quoted; raises ``InvalidNameError`` before anything is sent."""
    for segment in segments:
        if not _SEGMENT.match(segment) or ".." in segment:
            raise InvalidNameError(f"{segment[:80]!r} is not a valid Kubernetes name")
    return "/" + "/".join(quote(segment, safe="") for segment in segments)


def secret_path(namespace: str, name: str) -> str:
    return api_path("api", "v1", "namespaces", namespace, "secrets", name)


def role_binding_path(namespace: str, name: str) -> str:
    return api_path("apis", "rbac.authorization.k8s.io", "v1", "namespaces", namespace, "rolebindings", name)


def _raise_for(response: httpx.Response, what: str) -> None:
    if response.is_success:
        return
    try:
        message = str(response.json().get("message") or response.reason_phrase)
    except ValueError:
        message = response.reason_phrase
    raise KubernetesError(response.status_code, f"cannot {what}: {message}")
