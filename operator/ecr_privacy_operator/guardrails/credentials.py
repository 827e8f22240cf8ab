"""Guardrails credentials: the model, and where they come from (explicit values, environment, profile file).

Resolution order (contract §2.2, the Terraform provider's order):

1. explicit ``access_key`` + ``secret_key`` (the workspace explicit or from the environment);
2. an explicit ``profile`` from the credentials file;
3. the environment: ``TURBOT_ACCESS_KEY``/``TURBOT_SECRET_KEY`` (or ``TURBOT_ACCESS_KEY_ID``/
   ``TURBOT_SECRET_ACCESS_KEY``) with ``TURBOT_GRAPHQL_ENDPOINT`` (full URL, used as given) or
   ``TURBOT_WORKSPACE``;
4. the profile ``TURBOT_PROFILE`` (else ``default``) from ``TURBOT_SHARED_CREDENTIALS_FILE``
   (else ``~/.config/turbot/credentials.yml``): YAML keyed by profile with ``accessKey``, ``secretKey``,
   ``workspace``.

An explicit ``workspace``/``graphql_endpoint`` always overrides the workspace of the chosen source. The secret
key is a :class:`pydantic.SecretStr`: it never shows in ``repr``, ``str``, logs or error messages."""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, SecretStr, field_validator

from .endpoint import graphql_endpoint
from .errors import ConfigurationError

__all__ = ["DEFAULT_CREDENTIALS_FILE", "Credentials", "load_credentials"]

DEFAULT_CREDENTIALS_FILE = Path("~/.config/turbot/credentials.yml")
CredentialSource = Literal["explicit", "profile", "environment"]


class Credentials(BaseModel):
    """Access key pair plus where to send requests. Build it directly or with :func:`load_credentials`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    access_key: str
    secret_key: SecretStr
    workspace: str | None = None
    graphql_endpoint: str | None = None
    source: CredentialSource = "explicit"

    @field_validator("access_key")
    @classmethod
    def _non_empty(cls, value: str) -> str:
        if not value:
            raise ValueError("access_key must not be empty")
        return value

    @property
    def endpoint(self) -> str:
        """The GraphQL URL: ``graphql_endpoint`` as given, else built from ``workspace``."""
        if self.graphql_endpoint:
            return self.graphql_endpoint
        if self.workspace:
            return graphql_endpoint(self.workspace)
        raise ConfigurationError("no workspace or GraphQL endpoint configured")

    def authorization_header(self) -> str:
        """The ``Authorization`` header value (``Basic base64(access:secret)``); never log it."""
        raw = f"{self.access_key}:{self.secret_key.get_secret_value()}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")


def _first(env: Mapping[str, str], *names: str) -> str | None:
    for name in names:
        value = env.get(name)
        if value:
            return value
    return None


def _read_profile(path: Path, profile: str) -> dict[str, Any]:
    try:
        text = path.expanduser().read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigurationError(f"credentials file {path} not found (profile {profile!r})") from exc
    except OSError as exc:
        raise ConfigurationError(f"credentials file {path} unreadable: {type(exc).__name__}") from exc
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        # The YAML error text may quote file content (a secret), so only its type is kept.
        raise ConfigurationError(f"credentials file {path} is not valid YAML") from exc
    entry = document.get(profile) if isinstance(document, dict) else None
    if not isinstance(entry, dict):
        raise ConfigurationError(f"profile {profile!r} not found in credentials file {path}")
    return entry


def _from_profile(path: Path, profile: str, workspace: str | None, endpoint: str | None) -> Credentials:
    entry = _read_profile(path, profile)
    access, secret = entry.get("accessKey"), entry.get("secretKey")
    if not isinstance(access, str) or not isinstance(secret, str) or not access or not secret:
        raise ConfigurationError(f"profile {profile!r} in {path} lacks accessKey or secretKey")
    file_workspace = entry.get("workspace") if isinstance(entry.get("workspace"), str) else None
    return _build(access, secret, workspace or (None if endpoint else file_workspace), endpoint, "profile")


def _build(
    access: str, secret: str, workspace: str | None, endpoint: str | None, source: CredentialSource
) -> Credentials:
    if not workspace and not endpoint:
        raise ConfigurationError(f"credentials from {source} have no workspace (set TURBOT_WORKSPACE)")
    creds = Credentials(
        access_key=access,
        secret_key=SecretStr(secret),
        workspace=workspace,
        graphql_endpoint=endpoint,
        source=source,
    )
    _ = creds.endpoint  # validate the workspace string now, not on the first request
    return creds


def load_credentials(
    *,
    access_key: str | None = None,
    secret_key: str | None = None,
    workspace: str | None = None,
    graphql_endpoint: str | None = None,
    profile: str | None = None,
    credentials_file: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> Credentials:
    """Resolve credentials in the provider's order (see the module docstring).

    ``env`` defaults to ``os.environ``. Raises :class:`ConfigurationError` when nothing usable is found; the
    message names the sources tried, never a secret."""
    environ = os.environ if env is None else env
    env_endpoint = _first(environ, "TURBOT_GRAPHQL_ENDPOINT")
    env_workspace = _first(environ, "TURBOT_WORKSPACE")
    if workspace or graphql_endpoint:
        chosen_workspace, chosen_endpoint = workspace, graphql_endpoint
    else:
        chosen_workspace, chosen_endpoint = (None, env_endpoint) if env_endpoint else (env_workspace, None)
    path = Path(
        credentials_file or _first(environ, "TURBOT_SHARED_CREDENTIALS_FILE") or DEFAULT_CREDENTIALS_FILE
    )

    if access_key or secret_key:
        if not (access_key and secret_key):
            raise ConfigurationError("explicit credentials need both access_key and secret_key")
        return _build(access_key, secret_key, chosen_workspace, chosen_endpoint, "explicit")
    if profile:
        return _from_profile(path, profile, workspace, graphql_endpoint)
    env_access = _first(environ, "TURBOT_ACCESS_KEY", "TURBOT_ACCESS_KEY_ID")
    env_secret = _first(environ, "TURBOT_SECRET_KEY", "TURBOT_SECRET_ACCESS_KEY")
    if env_access and env_secret:
        return _build(env_access, env_secret, chosen_workspace, chosen_endpoint, "environment")
    default_profile = _first(environ, "TURBOT_PROFILE") or "default"
    if path.expanduser().exists() or _first(environ, "TURBOT_PROFILE"):
        return _from_profile(path, default_profile, workspace, graphql_endpoint)
    raise ConfigurationError(
        "no Guardrails credentials: pass access_key/secret_key, set TURBOT_ACCESS_KEY/TURBOT_SECRET_KEY"
        f" and TURBOT_WORKSPACE, or create profile {default_profile!r} in {path}"
    )
