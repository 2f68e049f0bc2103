"""Revocation on every path that must end tokens, and its failure mode."""

import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connections
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from accounts.models import Role, User
from tests.conftest import bearer
from tests.factories import UserFactory, login_tokens

pytestmark = pytest.mark.django_db

ME = "/auth/me"


def _me(client, tokens):
    return client.get(ME, **bearer(tokens["access_token"]))


def test_password_change_ends_every_token(api_client, viewer):
    tokens = login_tokens(viewer)
    viewer.set_password("a brand new password 42")
    viewer.save()
    assert _me(api_client, tokens).status_code == 401
    assert (
        api_client.post("/auth/refresh", {"refresh_token": tokens["refresh_token"]}).status_code
        == 401
    )


def test_deactivation_ends_every_token(api_client, viewer):
    tokens = login_tokens(viewer)
    viewer.is_active = False
    viewer.save()
    assert _me(api_client, tokens).status_code == 401
    assert (
        api_client.post("/auth/refresh", {"refresh_token": tokens["refresh_token"]}).status_code
        == 401
    )


def test_role_change_ends_access_tokens_but_refresh_picks_up_the_new_role(api_client, developer):
    tokens = login_tokens(developer)
    developer.role = Role.objects.get(name="viewer")
    developer.save()
    assert _me(api_client, tokens).status_code == 401
    refreshed = api_client.post("/auth/refresh", {"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200
    assert refreshed.json()["scope"] == "mcp:search:code mcp:search:semantic"


def test_changing_a_roles_scopes_ends_access_tokens_of_its_users(api_client):
    role = Role.objects.create(name="auditor", scopes=["mcp:search:code"])
    holder = UserFactory(role=role)
    other = UserFactory(role__name="viewer")
    holder_tokens, other_tokens = login_tokens(holder), login_tokens(other)
    role = Role.objects.get(pk=role.pk)
    role.scopes = ["mcp:search:code", "mcp:system:config"]
    role.save()
    assert _me(api_client, holder_tokens).status_code == 401
    assert _me(api_client, other_tokens).status_code == 200


def test_an_unrelated_save_ends_nothing(api_client, viewer):
    tokens = login_tokens(viewer)
    viewer.email = "viewer@example.com"
    viewer.save()
    assert _me(api_client, tokens).status_code == 200


def test_deleting_a_user_ends_their_access_tokens(api_client, viewer):
    tokens = login_tokens(viewer)
    viewer.delete()
    assert _me(api_client, tokens).status_code == 401


def test_the_authentication_path_makes_no_application_query(viewer):
    """The principal comes from the claims; revocation is one cache read.

    On Redis there is no SQL at all. On the embedded default the cache is a
    table, so exactly one query runs, and it reads the cache table.
    """
    from rest_framework.test import APIRequestFactory

    from accounts.authentication import BearerTokenAuthentication

    tokens = login_tokens(viewer)
    request = APIRequestFactory().get(ME, **bearer(tokens["access_token"]))
    with CaptureQueriesContext(connections["default"]) as queries:
        principal, _token = BearerTokenAuthentication().authenticate(request)
    assert principal.id == str(viewer.pk)
    assert principal.scopes == {"mcp:search:code", "mcp:search:semantic"}
    if settings.CACHES["default"]["BACKEND"].endswith("RedisCache"):
        assert len(queries) == 0, queries.captured_queries
    else:
        assert len(queries) == 1, queries.captured_queries
        assert "mcp_cache" in queries.captured_queries[0]["sql"]


UNREACHABLE_CACHE = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        # Port 1 on loopback: nothing listens, the connection is refused at once.
        "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
    }
}


def test_revocation_store_down_fails_closed_with_503(api_client, viewer):
    tokens = login_tokens(viewer)
    with override_settings(CACHES=UNREACHABLE_CACHE):
        response = _me(api_client, tokens)
        assert response.status_code == 503
        assert "revocation store is unavailable" in response.json()["detail"]
        assert response["Retry-After"]
        assert "Traceback" not in response.content.decode()

        health = api_client.get("/api/health")
        assert health.status_code == 503
        assert health.json()["cache"] == "unavailable"

        login = api_client.post("/auth/login", {"username": "x", "password": "y"})
        assert login.status_code == 503
    # And it recovers without a restart once the store answers again.
    assert _me(api_client, tokens).status_code == 200


def test_logout_fails_closed_when_the_store_is_down(api_client, viewer):
    tokens = login_tokens(viewer)
    with override_settings(CACHES=UNREACHABLE_CACHE):
        # Authentication itself needs the store, so this is a 503, never a
        # 204 that did not revoke anything.
        assert api_client.post("/auth/logout", **bearer(tokens["access_token"])).status_code == 503


def test_a_password_hash_upgrade_is_not_a_password_change(api_client, settings):
    """Django rehashes on login when hasher settings change; that must not log anyone out."""
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        "django.contrib.auth.hashers.Argon2PasswordHasher",
    ]
    user = UserFactory(with_password="old style passphrase 5")
    assert user.password.startswith("pbkdf2")
    tokens = login_tokens(User.objects.get(pk=user.pk))
    settings.PASSWORD_HASHERS = list(reversed(settings.PASSWORD_HASHERS))
    reloaded = User.objects.get(pk=user.pk)
    assert reloaded.check_password("old style passphrase 5")
    assert User.objects.get(pk=user.pk).password.startswith("argon2")
    assert _me(api_client, tokens).status_code == 200


def test_a_login_that_raced_a_password_change_is_refused(viewer):
    """The password was verified, then changed before the session was created."""
    from accounts import services
    from accounts.exceptions import BadCredentials

    verified = User.objects.get(pk=viewer.pk)
    changed = User.objects.get(pk=viewer.pk)
    changed.set_password("changed meanwhile 77")
    changed.save()
    with pytest.raises(BadCredentials):
        services.session_start(user=verified, requested_scopes=None, client_ip=None)


def test_access_tokens_end_with_the_session(viewer, settings):
    import jwt

    settings.MCP_AUTH = {
        **settings.MCP_AUTH,
        "SESSION_MAX_AGE": timedelta(minutes=5),
    }
    tokens = login_tokens(viewer)
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert claims["exp"] <= viewer.login_sessions.get().expires_at.timestamp()


def test_a_wiped_revocation_store_refuses_older_access_tokens(api_client, viewer):
    """A store that lost its contents cannot vouch for tokens it may have revoked: access
    tokens issued before the loss are refused; refreshing (checked against the database)
    and tokens issued afterwards work."""
    from django.core.cache import caches

    from accounts import revocation
    from accounts.conf import auth_settings
    from tests.conftest import bearer, post_form

    before = login_tokens(viewer)
    assert api_client.get("/auth/me", **bearer(before["access_token"])).status_code == 200
    store = caches[auth_settings.CACHE_ALIAS]
    if hasattr(store, "delete_pattern"):
        store.delete_pattern("*")
    else:
        store.clear()
    time.sleep(0.01)
    refused = api_client.get("/auth/me", **bearer(before["access_token"]))
    assert refused.status_code == 401
    assert "reset of the revocation store" in refused.json()["detail"]
    refreshed = post_form(api_client, "/auth/refresh", {"refresh_token": before["refresh_token"]})
    assert refreshed.status_code == 200
    assert api_client.get("/auth/me", **bearer(refreshed.json()["access_token"])).status_code == 200
    after = login_tokens(viewer)
    assert api_client.get("/auth/me", **bearer(after["access_token"])).status_code == 200
    assert store.get(revocation.KEPT_SINCE_KEY) is not None
