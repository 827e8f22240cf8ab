"""Turn a Guardrails workspace string into the GraphQL endpoint URL (and the health URL).

Same algorithm as the Terraform provider (contract §2.1): strip a trailing ``/``, default to ``https://``,
accept a path only if it matches ``/api/v<N>`` or ends in ``latest`` and append ``/graphql``; no path means
``/api/latest/graphql``. Differences, on purpose: an explicit ``http://`` is kept (the emulator's plain-HTTP
mode); a full GraphQL URL (``TURBOT_GRAPHQL_ENDPOINT``) never passes through here, it is used as given."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from .errors import ConfigurationError

__all__ = ["graphql_endpoint", "health_url"]

_VERSIONED_PATH = re.compile(r"/api/v[0-9]+$")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
# host[:port]: DNS labels of 1-63 letters, digits and inner hyphens (an IPv4 address is such a name too)
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_NETLOC = re.compile(rf"^{_LABEL}(\.{_LABEL})*(:[0-9]{{1,5}})?$")


def graphql_endpoint(workspace: str) -> str:
    """Return the GraphQL endpoint for a workspace string such as ``acme.cloud.turbot.com``.

    Raises :class:`ConfigurationError` for an empty string, an unsupported scheme, a host that is not a DNS name
    (user info, empty labels), a port outside 1-65535, a query/fragment, or a path that is neither
    ``/api/v<N>`` nor ends in ``latest``."""
    text = workspace.strip()
    match = _SCHEME.match(text)
    scheme = match.group(0)[:-3].lower() if match else "https"
    rest = (text[match.end() :] if match else text).rstrip("/")
    if scheme not in ("https", "http"):
        raise ConfigurationError(f"invalid workspace {workspace!r}: only https:// (or http://) is supported")
    parts = urlsplit(f"{scheme}://{rest}")
    if not rest or not _NETLOC.match(parts.netloc) or parts.query or parts.fragment:
        raise ConfigurationError(f"invalid workspace {workspace!r}: expected host[:port][/api/latest]")
    port = parts.netloc.partition(":")[2]
    if port and not 1 <= int(port) <= 65535:  # urlsplit's .port raises ValueError past 65535
        raise ConfigurationError(f"invalid workspace {workspace!r}: the port must be 1-65535")
    path = parts.path
    if not path:
        path = "/api/latest"
    elif not (_VERSIONED_PATH.search(path) or path.endswith("latest")):
        raise ConfigurationError(
            f"invalid workspace {workspace!r}: the path must be /api/latest or /api/v<N>, got {path!r}"
        )
    return f"{parts.scheme}://{parts.netloc}{path}/graphql"


def health_url(endpoint: str) -> str:
    """Return the health URL that belongs to a GraphQL endpoint (``…/api/latest/turbot/health``)."""
    parts = urlsplit(endpoint)
    path = parts.path.rstrip("/")
    api_base = path[: -len("/graphql")] if path.endswith("/graphql") else "/api/latest"
    return f"{parts.scheme}://{parts.netloc}{api_base}/turbot/health"
