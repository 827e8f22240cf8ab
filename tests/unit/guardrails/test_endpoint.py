"""Endpoint building from workspace strings (contract §2.1)."""

from __future__ import annotations

import pytest

from ecr_privacy_operator.guardrails import ConfigurationError, graphql_endpoint, health_url

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("workspace", "expected"),
    [
        ("myworkspace.acme.com", "https://myworkspace.acme.com/api/latest/graphql"),
        ("myworkspace.acme.com/", "https://myworkspace.acme.com/api/latest/graphql"),
        ("https://x/api/v5/", "https://x/api/v5/graphql"),
        ("https://x/api/v5", "https://x/api/v5/graphql"),
        ("https://x/api/latest", "https://x/api/latest/graphql"),
        ("https://x.example/api/latest/", "https://x.example/api/latest/graphql"),
        ("localhost:8443", "https://localhost:8443/api/latest/graphql"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080/api/latest/graphql"),
        ("  acme.cloud.turbot.com  ", "https://acme.cloud.turbot.com/api/latest/graphql"),
    ],
)
def test_graphql_endpoint(workspace: str, expected: str) -> None:
    assert graphql_endpoint(workspace) == expected


@pytest.mark.parametrize(
    "workspace",
    [
        "",
        "/",
        "https://x/foo",
        "https://x/api/v5/graphql",
        "ftp://x",
        "https://x/api/latest?a=1",
        "https://",
        "https://x:99999",  # a port the API server used to admit: an OverflowError at connect time
        "https://x:0",
        "https://x:",
        "https://x:12ab",
        "https://a..b",
        "https://-a.example",
        "https://a-.example",
        "https://user:pass@x.example",
        "https://x.example:443:1",
        "https://" + "a" * 64 + ".example",
    ],
)
def test_invalid_workspace(workspace: str) -> None:
    with pytest.raises(ConfigurationError, match="invalid workspace"):
        graphql_endpoint(workspace)


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        ("https://x/api/latest/graphql", "https://x/api/latest/turbot/health"),
        ("http://127.0.0.1:1/api/v5/graphql", "http://127.0.0.1:1/api/v5/turbot/health"),
        ("https://x/custom", "https://x/api/latest/turbot/health"),
    ],
)
def test_health_url(endpoint: str, expected: str) -> None:
    assert health_url(endpoint) == expected
