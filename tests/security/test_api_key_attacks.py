"""Hostile API-key input: every case a 401 (never 500), and no key-table query
for anything that is not even shaped like a key."""

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext

from tests.factories import api_key_for, login_tokens

pytestmark = pytest.mark.django_db

ME = "/auth/me"


@pytest.fixture
def secret(developer):
    return api_key_for(developer)


def test_control_the_real_key_works(api_client, secret):
    assert api_client.get(ME, HTTP_X_API_KEY=secret).status_code == 200
    assert api_client.get(ME, HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 200


@pytest.mark.parametrize(
    "value",
    [
        "",
        "mcp_",
        "mcp_' OR '1'='1' --",
        "mcp_../../etc/passwd",
        "mcp_" + "A" * 100_000,
        "mcp_\u00e9\u00e9\u00e9",
        "mcp_%00%00",
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.",
    ],
    ids=["empty", "prefix", "sql", "path", "huge", "non-ascii", "nul", "jwt"],
)
def test_junk_in_x_api_key(api_client, value):
    with CaptureQueriesContext(connections["default"]) as queries:
        response = api_client.get(ME, HTTP_X_API_KEY=value)
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid API key"}
    assert queries.captured_queries == []


@pytest.mark.parametrize(
    "template",
    ["{key} extra", "{key}{key}", "{upper}", "{key}x", "{key_minus_one}"],
)
def test_altered_keys_as_bearer(api_client, secret, template):
    value = template.format(key=secret, upper="MCP_" + secret[4:], key_minus_one=secret[:-1])
    response = api_client.get(ME, HTTP_AUTHORIZATION=f"Bearer {value}")
    assert response.status_code == 401


def test_a_key_forged_with_a_valid_checksum_is_still_unknown(api_client, secret):
    from accounts import apikeys

    body = secret[4:-6][:-1] + ("A" if secret[-7] != "A" else "B")
    forged = "mcp_" + body + apikeys._checksum(body)
    assert apikeys.is_well_formed(forged)
    response = api_client.get(ME, HTTP_X_API_KEY=forged)
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid API key"}


def test_a_key_cannot_mint_more_keys(api_client, secret):
    response = api_client.post(
        "/api/keys", {"name": "escalate", "scopes": ["mcp:search:code"]}, HTTP_X_API_KEY=secret
    )
    assert response.status_code == 403


def test_a_user_cannot_give_a_key_more_than_their_role(api_client, viewer):
    token = login_tokens(viewer)["access_token"]
    for scopes in (["admin"], ["index:write"], ["mcp:user:manage"]):
        response = api_client.post(
            "/api/keys",
            {"name": "escalate", "scopes": scopes},
            HTTP_AUTHORIZATION=f"Bearer {token}",
        )
        assert response.status_code == 400, scopes
        assert response.json()["error"] == "invalid_scope"
