"""Credential resolution order (contract §2.2) and secret hygiene of the Credentials model."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from ecr_privacy_operator.guardrails import ConfigurationError, Credentials, load_credentials

pytestmark = pytest.mark.unit

ENV_NAMES = [
    "TURBOT_WORKSPACE",
    "TURBOT_GRAPHQL_ENDPOINT",
    "TURBOT_ACCESS_KEY",
    "TURBOT_SECRET_KEY",
    "TURBOT_ACCESS_KEY_ID",
    "TURBOT_SECRET_ACCESS_KEY",
    "TURBOT_PROFILE",
    "TURBOT_SHARED_CREDENTIALS_FILE",
]

FILE = """
default:
  accessKey: file-default-access
  secretKey: file-default-secret
  workspace: default.example.com
staging:
  accessKey: file-staging-access
  secretKey: file-staging-secret
  workspace: https://staging.example.com/api/v5
"""


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "credentials.yml"
    path.write_text(FILE)
    # Point the default lookup at a file that does not exist unless a test says otherwise.
    monkeypatch.setenv("TURBOT_SHARED_CREDENTIALS_FILE", str(tmp_path / "absent.yml"))
    return path


def test_explicit_values_win_over_env_and_file(monkeypatch: pytest.MonkeyPatch, clean_env: Path) -> None:
    monkeypatch.setenv("TURBOT_ACCESS_KEY", "env-access")
    monkeypatch.setenv("TURBOT_SECRET_KEY", "env-secret")
    monkeypatch.setenv("TURBOT_WORKSPACE", "env.example.com")
    monkeypatch.setenv("TURBOT_SHARED_CREDENTIALS_FILE", str(clean_env))
    creds = load_credentials(access_key="a", secret_key="b", workspace="explicit.example.com")
    assert (creds.access_key, creds.secret_key.get_secret_value()) == ("a", "b")
    assert creds.endpoint == "https://explicit.example.com/api/latest/graphql"
    assert creds.source == "explicit"


def test_explicit_keys_take_workspace_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TURBOT_WORKSPACE", "env.example.com")
    creds = load_credentials(access_key="a", secret_key="b")
    assert creds.endpoint == "https://env.example.com/api/latest/graphql"


def test_explicit_needs_both_keys() -> None:
    with pytest.raises(ConfigurationError, match="both"):
        load_credentials(access_key="a", workspace="x.example.com")


def test_explicit_profile_beats_env(monkeypatch: pytest.MonkeyPatch, clean_env: Path) -> None:
    monkeypatch.setenv("TURBOT_ACCESS_KEY", "env-access")
    monkeypatch.setenv("TURBOT_SECRET_KEY", "env-secret")
    monkeypatch.setenv("TURBOT_WORKSPACE", "env.example.com")
    creds = load_credentials(profile="staging", credentials_file=clean_env)
    assert creds.access_key == "file-staging-access"
    assert creds.endpoint == "https://staging.example.com/api/v5/graphql"
    assert creds.source == "profile"


def test_env_beats_default_profile(monkeypatch: pytest.MonkeyPatch, clean_env: Path) -> None:
    monkeypatch.setenv("TURBOT_SHARED_CREDENTIALS_FILE", str(clean_env))
    monkeypatch.setenv("TURBOT_ACCESS_KEY", "env-access")
    monkeypatch.setenv("TURBOT_SECRET_KEY", "env-secret")
    monkeypatch.setenv("TURBOT_WORKSPACE", "env.example.com")
    creds = load_credentials()
    assert (creds.access_key, creds.source) == ("env-access", "environment")


def test_env_alternative_names_and_graphql_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TURBOT_ACCESS_KEY_ID", "id-access")
    monkeypatch.setenv("TURBOT_SECRET_ACCESS_KEY", "id-secret")
    monkeypatch.setenv("TURBOT_WORKSPACE", "ignored.example.com")
    monkeypatch.setenv("TURBOT_GRAPHQL_ENDPOINT", "http://127.0.0.1:9999/custom/graphql")
    creds = load_credentials()
    assert creds.access_key == "id-access"
    assert creds.endpoint == "http://127.0.0.1:9999/custom/graphql"


def test_primary_env_names_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TURBOT_ACCESS_KEY", "primary")
    monkeypatch.setenv("TURBOT_ACCESS_KEY_ID", "secondary")
    monkeypatch.setenv("TURBOT_SECRET_KEY", "s")
    monkeypatch.setenv("TURBOT_WORKSPACE", "w.example.com")
    assert load_credentials().access_key == "primary"


def test_default_and_named_profile_from_env(monkeypatch: pytest.MonkeyPatch, clean_env: Path) -> None:
    monkeypatch.setenv("TURBOT_SHARED_CREDENTIALS_FILE", str(clean_env))
    assert load_credentials().access_key == "file-default-access"
    monkeypatch.setenv("TURBOT_PROFILE", "staging")
    assert load_credentials().access_key == "file-staging-access"


def test_explicit_workspace_overrides_profile(clean_env: Path) -> None:
    creds = load_credentials(profile="default", credentials_file=clean_env, workspace="http://localhost:1")
    assert creds.endpoint == "http://localhost:1/api/latest/graphql"


def test_nothing_found_names_sources_without_secrets() -> None:
    with pytest.raises(ConfigurationError, match="no Guardrails credentials"):
        load_credentials()


def test_missing_profile(clean_env: Path) -> None:
    with pytest.raises(ConfigurationError, match="'nope' not found"):
        load_credentials(profile="nope", credentials_file=clean_env)


def test_broken_yaml_does_not_echo_content(tmp_path: Path) -> None:
    path = tmp_path / "c.yml"
    path.write_text("default: {accessKey: a, secretKey: leaked-secret-text\n")
    with pytest.raises(ConfigurationError) as info:
        load_credentials(profile="default", credentials_file=path)
    assert "leaked-secret-text" not in str(info.value)
    assert "leaked-secret-text" not in repr(info.value)


def test_invalid_workspace_is_reported_at_load() -> None:
    with pytest.raises(ConfigurationError, match="invalid workspace"):
        load_credentials(access_key="a", secret_key="b", workspace="https://x/not-api")


def test_secret_never_in_repr_str_or_dump() -> None:
    creds = load_credentials(access_key="a", secret_key="super-secret-value", workspace="x.example.com")
    for text in (repr(creds), str(creds), str(creds.model_dump()), creds.model_dump_json()):
        assert "super-secret-value" not in text


def test_authorization_header() -> None:
    creds = load_credentials(access_key="ak", secret_key="sk", workspace="x.example.com")
    assert creds.authorization_header() == "Basic " + base64.b64encode(b"ak:sk").decode()
    assert isinstance(creds, Credentials)
