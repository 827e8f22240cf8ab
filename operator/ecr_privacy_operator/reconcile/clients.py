"""Guardrails clients for workspaces: credentials from a Secret's data, and one pooled client per credential set.

A Secret holds ``accessKey`` and ``secretKey``; the URL comes from the workspace object that names the Secret
(never from the Secret or the policy). Workspaces that share a URL, keys and CA bundle share one client (one
connection pool). Secret values stay ``SecretStr``; the pool key holds only hashes of the secret key and the
CA bundle.

Before a pass's first write, the runtime reads the Secret again (``writes_checked``): a rotated key pair is
used from that write on, and nothing more goes out with the old keys.

The pool counts which objects use which client (``get(credentials, user=uid)``): when a key is rotated or a
URL changes, every object moves to a new client on its next pass, and ``close_unused`` closes the clients no
object uses any more (``release`` when an object is gone), so rotations do not pile up connection pools.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import ssl
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field

from pydantic import SecretStr

from ecr_privacy_operator.guardrails.client import GuardrailsClient
from ecr_privacy_operator.guardrails.credentials import Credentials, load_credentials
from ecr_privacy_operator.guardrails.errors import ConfigurationError
from ecr_privacy_operator.guardrails.retry import RetryPolicy
from ecr_privacy_operator.guardrails.transport import BEFORE_MUTATION, RequestHook, RetryHook

__all__ = [
    "ClientPool",
    "CredentialsError",
    "CredentialsRotatedError",
    "GuardrailsClient",  # re-exported: the handlers name the client type through this module
    "credentials_from_secret",
    "writes_checked",
]

ACCESS_KEY, SECRET_KEY = "accessKey", "secretKey"


class CredentialsError(Exception):
    """The credentials of a workspace cannot be assembled (a Secret key is missing, the URL is invalid)."""


def credentials_from_secret(data: Mapping[str, SecretStr], url: str, source: str) -> Credentials:
    """Build credentials for ``url`` from a Secret's decoded data; ``source`` names the Secret in messages."""
    missing = [k for k in (ACCESS_KEY, SECRET_KEY) if not data.get(k) or not data[k].get_secret_value()]
    if missing:
        raise CredentialsError(f"{source} has no {' or '.join(missing)} key")
    try:
        return load_credentials(
            access_key=data[ACCESS_KEY].get_secret_value(),
            secret_key=data[SECRET_KEY].get_secret_value(),
            workspace=url,
        )
    except ConfigurationError as exc:
        raise CredentialsError(f"{source}: {exc}") from None


class CredentialsRotatedError(Exception):
    """The workspace's Secret holds other keys than the ones a pass started with: nothing was written with the
    old ones; the pass starts again with the new."""


@contextlib.contextmanager
def writes_checked(check: Callable[[], Awaitable[None]]) -> Iterator[None]:
    """Inside, the first Guardrails write (of this task and the tasks it starts) awaits ``check`` first, once;
    what ``check`` raises (``CredentialsRotatedError``) stops the write. A pass that writes nothing checks
    nothing (an idle resync makes no Kubernetes request)."""
    lock = asyncio.Lock()
    checked = False

    async def guard() -> None:
        nonlocal checked
        async with lock:
            if not checked:
                await check()
                checked = True

    token = BEFORE_MUTATION.set(guard)
    try:
        yield
    finally:
        BEFORE_MUTATION.reset(token)


PoolKey = tuple[str, str, str, str]  # (endpoint, access key, sha256 of the secret key, sha256 of the CA)


@dataclass
class ClientPool:
    """Caches one GuardrailsClient per (endpoint, access key, secret hash), and which object uses which.

    A client got without a ``user`` is kept until ``aclose``. Per-object passes must not overlap (the runtime
    holds a lock per object), so once an object has got another client, no pass of it uses the old one.
    """

    ca_bundle: str | None = None
    timeout: float = 30.0
    retry: RetryPolicy | None = None
    on_request: RequestHook | None = None
    on_retry: RetryHook | None = None
    _clients: dict[PoolKey, GuardrailsClient] = field(default_factory=dict)
    _users: dict[str, PoolKey] = field(default_factory=dict)  # object UID -> the client it uses now
    _kept: set[PoolKey] = field(default_factory=set)  # got without a user: never closed before aclose
    _user_counts: Counter[PoolKey] = field(default_factory=Counter)  # how many objects use each client
    _left: set[PoolKey] = field(default_factory=set)  # clients an object stopped using since close_unused

    def get(
        self, credentials: Credentials, ca_pem: str | None = None, user: str | None = None
    ) -> GuardrailsClient:
        """The client for ``credentials``; ``ca_pem`` (a workspace's caBundle) replaces the trust roots;
        ``user`` (an object's UID) records that the object uses it now (and no longer the one it used before)."""
        digest = hashlib.sha256(credentials.secret_key.get_secret_value().encode()).hexdigest()
        ca_digest = hashlib.sha256(ca_pem.encode()).hexdigest() if ca_pem else ""
        key = (credentials.endpoint, credentials.access_key, digest, ca_digest)
        if user is None:
            self._kept.add(key)
        else:
            before = self._users.get(user)
            if before != key:
                if before is not None:
                    self._stop_using(before)
                self._users[user] = key
                self._user_counts[key] += 1
        client = self._clients.get(key)
        if client is None:
            verify: ssl.SSLContext | str | bool = self.ca_bundle or True
            if ca_pem:
                try:
                    verify = ssl.create_default_context(cadata=ca_pem)
                except (ssl.SSLError, ValueError, TypeError):  # TypeError: not ASCII
                    raise CredentialsError("caBundle holds no usable PEM certificate") from None
            client = GuardrailsClient(
                credentials,
                verify=verify,
                timeout=self.timeout,
                retry=self.retry,
                on_request=self.on_request,
                on_retry=self.on_retry,
            )
            self._clients[key] = client
        return client

    def sleep_between_retries(self, sleep: Callable[[float], Awaitable[None]]) -> None:
        """Clients made from now on wait between request retries with ``sleep`` (the runtime's, which gives the
        pass's slot back meanwhile), unless a retry policy with its own sleep was given."""
        retry = self.retry or RetryPolicy()
        if retry.sleep is asyncio.sleep:
            self.retry = dataclasses.replace(retry, sleep=sleep)

    def __len__(self) -> int:
        """How many clients (connection pools) are open."""
        return len(self._clients)

    async def release(self, user: str) -> None:
        """The object is gone: forget what it used, and close the clients no object uses any more."""
        self.forget_user(user)
        await self.close_unused()

    def forget_user(self, user: str) -> None:
        """The object is gone: its client may be closed by the next ``close_unused``."""
        key = self._users.pop(user, None)
        if key is not None:
            self._stop_using(key)

    def _stop_using(self, key: PoolKey) -> None:
        self._user_counts[key] -= 1
        if self._user_counts[key] <= 0:
            del self._user_counts[key]
            self._left.add(key)

    async def close_unused(self) -> int:
        """Close the clients that no object uses (their keys were rotated, their URL changed, their objects
        are gone); return how many."""
        # only the clients some object stopped using since the last call can have become unused: this runs
        # after every pass, so it must not look at every object (that made a pass cost O(N))
        unused = [
            k for k in self._left if k in self._clients and k not in self._user_counts and k not in self._kept
        ]
        self._left.clear()
        for key in unused:
            await self._clients.pop(key).aclose()
        return len(unused)

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()
        self._users.clear()
        self._kept.clear()
        self._user_counts.clear()
        self._left.clear()
