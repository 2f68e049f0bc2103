"""/auth/me answers from the principal: the access token (or the cached API key grant)
carries the username and role, so no row is read; a rename, a role change or a role's
new name ends the access tokens that carry the old values."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Role
from accounts.tokens import AccessToken
from tests.conftest import bearer, post_form
from tests.factories import api_key_for, login_tokens

pytestmark = pytest.mark.django_db


def me(client, **auth):
    return client.get("/auth/me", **auth)


def rows_read(queries) -> list[str]:
    """The queries of a request other than the shared cache's (the embedded default's
    cache is a database table; on Redis it is not SQL at all)."""
    return [query["sql"] for query in queries if "mcp_cache" not in query["sql"]]


def test_me_with_a_jwt_reads_no_row(api_client, developer):
    auth = bearer(login_tokens(developer)["access_token"])
    with CaptureQueriesContext(connection) as queries:
        body = me(api_client, **auth).json()
    assert rows_read(queries) == []
    assert (body["id"], body["username"], body["role"]) == (
        str(developer.pk),
        developer.username,
        "developer",
    )
    assert body["auth_method"] == "jwt"


def test_me_with_an_api_key_reads_no_row_once_the_grant_is_cached(api_client, developer):
    key = api_key_for(developer)
    first = me(api_client, HTTP_X_API_KEY=key)
    assert first.status_code == 200
    with CaptureQueriesContext(connection) as queries:
        body = me(api_client, HTTP_X_API_KEY=key).json()
    assert rows_read(queries) == []
    assert (body["username"], body["role"], body["auth_method"]) == (
        developer.username,
        "developer",
        "api_key",
    )


def test_a_token_without_the_claims_is_answered_from_the_row(api_client, developer):
    """Tokens issued before the claims existed still work until they expire."""
    issued = login_tokens(developer)
    token = AccessToken(issued["access_token"].encode())
    old = AccessToken()
    for claim in ("sub", "sid", "scope", "exp", "iat", "jti"):
        old[claim] = token[claim]
    response = me(api_client, **bearer(str(old)))
    assert response.status_code == 200, response.content
    assert (response.json()["username"], response.json()["role"]) == (
        developer.username,
        "developer",
    )


def test_a_rename_ends_the_access_tokens_and_a_refresh_carries_the_new_name(api_client, developer):
    issued = login_tokens(developer)
    key = api_key_for(developer)
    assert me(api_client, HTTP_X_API_KEY=key).json()["username"] == developer.username
    developer.username = "renamed"
    developer.save()
    assert me(api_client, **bearer(issued["access_token"])).status_code == 401
    refreshed = post_form(api_client, "/auth/refresh", {"refresh_token": issued["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.content
    assert me(api_client, **bearer(refreshed.json()["access_token"])).json()["username"] == (
        "renamed"
    )
    # The cached grant of the key was dropped: the key now says the new name.
    assert me(api_client, HTTP_X_API_KEY=key).json()["username"] == "renamed"


def test_a_role_rename_ends_its_users_access_tokens(api_client, developer):
    issued = login_tokens(developer)
    key = api_key_for(developer)
    assert me(api_client, HTTP_X_API_KEY=key).json()["role"] == "developer"
    role = Role.objects.get(name="developer")
    role.name = "engineer"
    role.save()
    assert me(api_client, **bearer(issued["access_token"])).status_code == 401
    assert me(api_client, HTTP_X_API_KEY=key).json()["role"] == "engineer"
    developer.refresh_from_db()  # as a real login loads the user
    fresh = login_tokens(developer)
    assert me(api_client, **bearer(fresh["access_token"])).json()["role"] == "engineer"


def test_a_deactivated_user_s_token_is_refused_without_a_row_read(api_client, developer):
    auth = bearer(login_tokens(developer)["access_token"])
    developer.is_active = False
    developer.save()
    assert me(api_client, **auth).status_code == 401
