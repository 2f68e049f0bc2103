"""API keys end to end: self-service endpoints, authentication, revocation."""

import logging
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import ApiKey, Role
from tests.cache_helpers import cache_entries
from tests.conftest import bearer
from tests.factories import api_key_for, login_tokens

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.accounts.scoped_urls")]

KEYS = "/api/keys"
ME = "/auth/me"
ON_REDIS = settings.CACHES["default"]["BACKEND"].endswith("RedisCache")


def as_key(secret: str) -> dict:
    return {"HTTP_X_API_KEY": secret}


def user_auth(user) -> dict:
    return bearer(login_tokens(user)["access_token"])


# --- Creating, listing, revoking ----------------------------------------------------


def test_create_returns_the_secret_once_and_stores_only_a_hash(api_client, developer):
    response = api_client.post(
        KEYS,
        {"name": "ci", "scopes": ["mcp:search:code", "index:write"], "expires_in_days": 30},
        **user_auth(developer),
    )
    assert response.status_code == 201, response.content
    body = response.json()
    secret = body["key"]
    assert secret.startswith("mcp_") and body["identifier"] == secret[:12]
    assert body["scopes"] == [
        "mcp:search:code",
        "mcp:index:create",
        "mcp:index:update",
        "mcp:index:delete",
    ]
    assert body["state"] == "active" and body["owner"] == developer.username
    assert response["Cache-Control"] == "no-store"

    row = ApiKey.objects.values().get()
    assert secret not in str(row)
    assert secret[12:] not in str(row)

    listed = api_client.get(KEYS, **user_auth(developer)).json()["results"]
    assert [key["id"] for key in listed] == [body["id"]]
    assert "key" not in listed[0] and secret not in str(listed)


@pytest.mark.parametrize(
    ("payload", "status", "fragment"),
    [
        ({"name": "x", "scopes": ["mcp:user:manage"]}, 400, "not granted to the key's owner"),
        ({"name": "x", "scopes": ["mcp:everything"]}, 400, "Unknown scope: mcp:everything"),
        ({"name": "x", "scopes": []}, 400, "at least one scope"),
        ({"name": "x", "scopes": "mcp:search:code", "expires_in_days": 0}, 400, "expires_in_days"),
        ({"scopes": ["mcp:search:code"]}, 400, "name"),
        ({"name": "x" * 101, "scopes": ["mcp:search:code"]}, 400, "name"),
        (
            {"name": "x", "scopes": ["mcp:search:code"], "expires_at": "2001-01-01T00:00:00Z"},
            400,
            "future",
        ),
        ({"name": "x", "scopes": ["mcp:search:code"], "expires_at": "tomorrow"}, 400, "expires_at"),
        ({"name": "x", "scopes": [{"a": 1}]}, 400, "scopes"),
    ],
)
def test_create_refuses_bad_input(api_client, developer, payload, status, fragment):
    response = api_client.post(KEYS, payload, **user_auth(developer))
    assert response.status_code == status
    assert fragment in response.content.decode()
    assert not ApiKey.objects.exists()


def test_scopes_may_be_a_space_separated_string(api_client, viewer):
    response = api_client.post(
        KEYS, {"name": "bot", "scopes": "mcp:search:code search:read"}, **user_auth(viewer)
    )
    assert response.status_code == 201
    assert response.json()["scopes"] == ["mcp:search:code", "mcp:search:semantic"]


def test_managing_keys_needs_a_user_token_not_a_key(api_client, developer):
    secret = api_key_for(developer)
    for method, path in [("get", KEYS), ("post", KEYS), ("delete", f"{KEYS}/1")]:
        response = getattr(api_client, method)(path, **as_key(secret))
        assert response.status_code == 403, (method, path)
        assert "access token" in response.json()["detail"]
    assert api_client.post("/auth/logout", **as_key(secret)).status_code == 403
    assert api_client.post("/auth/logout-all", **as_key(secret)).status_code == 403


def test_key_endpoints_need_authentication(api_client):
    assert api_client.get(KEYS).status_code == 401
    assert api_client.post(KEYS, {"name": "x", "scopes": ["index:read"]}).status_code == 401
    assert api_client.delete(f"{KEYS}/1").status_code == 401


def test_revoking_takes_effect_at_once_even_with_a_warm_cache(api_client, developer):
    secret = api_key_for(developer)
    assert api_client.get(ME, **as_key(secret)).status_code == 200  # now cached
    key_id = ApiKey.objects.get().pk
    assert api_client.delete(f"{KEYS}/{key_id}", **user_auth(developer)).status_code == 204
    response = api_client.get(ME, **as_key(secret))
    assert response.status_code == 401
    assert ApiKey.objects.get().state == "revoked"
    listed = api_client.get(KEYS, **user_auth(developer)).json()["results"]
    assert listed[0]["state"] == "revoked"


def test_others_keys_are_not_found_for_ordinary_users(api_client, viewer, developer):
    api_key_for(developer)
    key_id = ApiKey.objects.get().pk
    assert api_client.get(f"{KEYS}/{key_id}", **user_auth(viewer)).status_code == 404
    assert api_client.delete(f"{KEYS}/{key_id}", **user_auth(viewer)).status_code == 404
    assert ApiKey.objects.get().revoked_at is None
    response = api_client.get(KEYS, {"owner": developer.username}, **user_auth(viewer))
    assert response.status_code == 403
    assert response.json()["detail"] == "Permission required: mcp:user:manage"
    assert api_client.get(KEYS, {"owner": "*"}, **user_auth(viewer)).status_code == 403


def test_user_managers_list_and_revoke_anyones_keys(api_client, viewer, developer, admin_user):
    api_key_for(developer)
    api_key_for(viewer)
    auth = user_auth(admin_user)
    everyone = api_client.get(KEYS, {"owner": "*"}, **auth).json()["results"]
    assert {key["owner"] for key in everyone} == {viewer.username, developer.username}
    theirs = api_client.get(KEYS, {"owner": developer.username}, **auth).json()["results"]
    assert [key["owner"] for key in theirs] == [developer.username]
    assert api_client.delete(f"{KEYS}/{theirs[0]['id']}", **auth).status_code == 204
    assert ApiKey.objects.get(user=developer).state == "revoked"


# --- Authenticating with a key ------------------------------------------------------


@pytest.mark.parametrize("header", ["x-api-key", "bearer"])
def test_key_is_accepted_as_x_api_key_and_as_bearer(api_client, developer, header):
    secret = api_key_for(developer, scopes=["mcp:search:code"])
    credentials = as_key(secret) if header == "x-api-key" else bearer(secret)
    body = api_client.get(ME, **credentials).json()
    assert body["auth_method"] == "api_key"
    assert body["api_key"] == secret[:12]
    assert body["scopes"] == ["mcp:search:code"]
    assert body["username"] == developer.username


def test_key_scopes_gate_endpoints(api_client, developer):
    narrow = api_key_for(developer, scopes=["mcp:search:code"])
    wide = api_key_for(developer, scopes=["mcp:index:create"])
    response = api_client.get("/index-create", **as_key(narrow))
    assert response.status_code == 403
    assert (
        response["WWW-Authenticate"]
        == 'Bearer error="insufficient_scope", scope="mcp:index:create"'
    )
    assert api_client.get("/index-create", **as_key(wide)).status_code == 200


def test_effective_scopes_follow_the_owners_current_role(api_client, developer):
    secret = api_key_for(developer, scopes=["mcp:index:create", "mcp:search:code"])
    assert api_client.get("/index-create", **as_key(secret)).status_code == 200  # cached
    developer.role = Role.objects.get(name="viewer")
    developer.save()
    assert api_client.get("/index-create", **as_key(secret)).status_code == 403
    assert api_client.get(ME, **as_key(secret)).json()["scopes"] == ["mcp:search:code"]


def test_narrowing_the_owners_role_narrows_the_key(api_client, developer):
    secret = api_key_for(developer, scopes=["mcp:index:create"])
    assert api_client.get("/index-create", **as_key(secret)).status_code == 200
    role = Role.objects.get(name="developer")
    role.scopes = ["mcp:search:code"]
    role.save()
    assert api_client.get("/index-create", **as_key(secret)).status_code == 403


def test_owner_deactivation_stops_the_key_at_once(api_client, developer):
    secret = api_key_for(developer)
    assert api_client.get(ME, **as_key(secret)).status_code == 200
    developer.is_active = False
    developer.save()
    assert api_client.get(ME, **as_key(secret)).status_code == 401


def test_owner_deletion_stops_the_key_at_once(api_client, developer):
    secret = api_key_for(developer)
    assert api_client.get(ME, **as_key(secret)).status_code == 200
    developer.delete()
    assert api_client.get(ME, **as_key(secret)).status_code == 401


def test_expiry(api_client, developer):
    secret = api_key_for(developer, expires_at=timezone.now() + timedelta(seconds=2))
    assert api_client.get(ME, **as_key(secret)).status_code == 200
    time.sleep(2.2)
    assert api_client.get(ME, **as_key(secret)).status_code == 401


def test_a_password_change_leaves_keys_alone(api_client, developer):
    secret = api_key_for(developer)
    developer.set_password("new passphrase 123")
    developer.save()
    assert api_client.get(ME, **as_key(secret)).status_code == 200


def test_unknown_revoked_and_expired_keys_look_the_same(api_client, developer):
    from accounts import apikeys, services

    unknown = apikeys.generate().secret
    revoked = api_key_for(developer)
    services.api_key_revoke(api_key=ApiKey.objects.get())
    expired = api_key_for(developer, expires_at=timezone.now() + timedelta(seconds=1))
    time.sleep(1.2)
    bodies = set()
    for secret in (unknown, revoked, expired, "mcp_not-even-close"):
        response = api_client.get(ME, **as_key(secret))
        assert response.status_code == 401
        assert 'error="invalid_token"' in response["WWW-Authenticate"]
        bodies.add(response.content)
    assert bodies == {b'{"detail":"Invalid API key"}'}


def test_a_malformed_key_is_refused_without_any_query(api_client):
    """No SQL at all, on either database: not even the database cache is asked."""
    with CaptureQueriesContext(connections["default"]) as queries:
        response = api_client.get(ME, **as_key("mcp_" + "A" * 49))
    assert response.status_code == 401
    assert queries.captured_queries == []


def test_a_warm_key_is_checked_without_touching_the_key_table(api_client, developer):
    secret = api_key_for(developer)
    api_client.get(ME, **as_key(secret))
    from rest_framework.test import APIRequestFactory

    from accounts.key_authentication import ApiKeyAuthentication

    request = APIRequestFactory().get(ME, **as_key(secret))
    with CaptureQueriesContext(connections["default"]) as queries:
        principal, _grant = ApiKeyAuthentication().authenticate(request)
    assert principal.id == str(developer.pk)
    assert not [q for q in queries.captured_queries if "accounts_apikey" in q["sql"]]


def test_last_used_is_written_at_most_once_a_minute(api_client, developer):
    secret = api_key_for(developer)
    assert ApiKey.objects.get().last_used_at is None
    api_client.get(ME, **as_key(secret))
    first = ApiKey.objects.get().last_used_at
    assert first is not None
    with CaptureQueriesContext(connections["default"]) as queries:
        api_client.get(ME, **as_key(secret))
    assert not [q for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    assert ApiKey.objects.get().last_used_at == first


def test_keys_in_the_query_string_are_ignored(api_client, developer):
    secret = api_key_for(developer)
    for name in ("api_key", "key", "access_token", "X-API-Key"):
        response = api_client.get(f"{ME}?{name}={secret}")
        assert response.status_code == 401
        assert response["WWW-Authenticate"] == 'Bearer realm="mcp"'


def test_two_credentials_at_once_are_refused(api_client, developer):
    secret = api_key_for(developer)
    jwt_auth = user_auth(developer)
    response = api_client.get(ME, **as_key(secret), **jwt_auth)
    assert response.status_code == 401
    assert "one credential" in response.json()["detail"]


def test_failed_key_attempts_from_one_address_are_throttled(api_client, developer, settings):
    settings.MCP_AUTH = {**settings.MCP_AUTH, "API_KEY_FAILURE_LIMIT": 3}
    from accounts import apikeys

    good = api_key_for(developer)
    for _ in range(3):
        assert api_client.get(ME, **as_key(apikeys.generate().secret)).status_code == 401
    blocked = api_client.get(ME, **as_key(apikeys.generate().secret))
    assert blocked.status_code == 429
    assert int(blocked["Retry-After"]) >= 1
    assert "Too many invalid API keys" in blocked.json()["detail"]
    before = cache_entries()
    for _ in range(50):
        assert api_client.get(ME, **as_key(apikeys.generate().secret)).status_code == 429
    assert cache_entries() == before  # a locked address writes nothing more
    assert api_client.get(ME, **as_key(good), REMOTE_ADDR="10.7.7.7").status_code == 200


def test_a_valid_key_is_never_refused_because_other_keys_failed(api_client, developer, settings):
    """The review's finding: 20 bad keys from an office's address locked out its good ones."""
    settings.MCP_AUTH = {**settings.MCP_AUTH, "API_KEY_FAILURE_LIMIT": 3}
    from accounts import apikeys

    good = api_key_for(developer)
    for _ in range(5):
        api_client.get(ME, **as_key(apikeys.generate().secret))
    assert api_client.get(ME, **as_key(apikeys.generate().secret)).status_code == 429
    # Cached or not: the first use reads the database, the second the cache.
    assert api_client.get(ME, **as_key(good)).status_code == 200
    assert api_client.get(ME, **as_key(good)).status_code == 200


def test_logs_show_only_the_identifier(api_client, developer, caplog):
    secret = api_key_for(developer)
    from accounts import services

    services.api_key_revoke(api_key=ApiKey.objects.get())
    with caplog.at_level(logging.DEBUG):
        api_client.get(ME, **as_key(secret))
    assert secret[:12] in caplog.text
    assert secret not in caplog.text and secret[12:30] not in caplog.text


def test_revocation_store_down_fails_closed(api_client, developer, settings):
    secret = api_key_for(developer)
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
        }
    }
    assert api_client.get(ME, **as_key(secret)).status_code == 503


def test_a_grant_cached_by_a_request_that_raced_the_revocation_is_not_used(api_client, developer):
    """A request read the key from the database, then the key was revoked, then
    that request wrote its (now stale) grant into the cache."""
    from dataclasses import asdict

    from accounts import apikeys, services

    secret = api_key_for(developer)
    row = ApiKey.objects.select_related("user__role").get()
    stale = apikeys.grant_from_row(row)
    services.api_key_revoke(api_key=row)
    apikeys.shared_cache().set(apikeys.grant_cache_key(row.key_hash), asdict(stale), 300)
    assert api_client.get(ME, **as_key(secret)).status_code == 401


def test_admin_lists_creates_and_revokes_keys(client, admin_user, developer, api_client):
    from django.urls import reverse

    client.force_login(admin_user)
    add = client.post(
        reverse("admin:accounts_apikey_add"),
        {"user": developer.pk, "name": "deploy bot", "scopes": ["mcp:index:update"]},
        follow=True,
    )
    assert add.status_code == 200
    assert "no-store" in add["Cache-Control"]
    page = add.content.decode()
    secret = page.split('id="api-key-secret"')[1].split(">")[1].split("<")[0]
    assert secret.startswith("mcp_")
    assert secret not in str(add.cookies)  # not in a messages cookie
    assert api_client.get(ME, **as_key(secret)).json()["scopes"] == ["mcp:index:update"]
    key = ApiKey.objects.get()
    page = client.get(reverse("admin:accounts_apikey_changelist"), {"state": "active"})
    assert key.identifier in page.content.decode()
    assert (
        secret
        not in client.get(reverse("admin:accounts_apikey_change", args=[key.pk])).content.decode()
    )

    refused = client.post(
        reverse("admin:accounts_apikey_add"),
        {"user": developer.pk, "name": "too much", "scopes": ["mcp:user:manage"]},
    )
    assert refused.status_code == 200
    assert "not granted to the key&#x27;s owner" in refused.content.decode()
    assert ApiKey.objects.count() == 1

    client.post(
        reverse("admin:accounts_apikey_changelist"),
        {"action": "revoke", "_selected_action": [key.pk]},
    )
    assert api_client.get(ME, **as_key(secret)).status_code == 401


def test_a_narrowed_login_cannot_make_a_broader_key(api_client, developer):
    narrowed = login_tokens(developer, scopes=frozenset({"mcp:search:code"}))
    response = api_client.post(
        KEYS,
        {"name": "wider", "scopes": ["mcp:index:create"]},
        **bearer(narrowed["access_token"]),
    )
    assert response.status_code == 400
    assert "not in the token making the key" in response.json()["detail"]
    assert not ApiKey.objects.exists()


def test_revoking_with_the_cache_down_fails_whole(api_client, developer, settings):
    """A 503, and the key is not half-revoked (database yes, cache no)."""
    from accounts import services
    from accounts.exceptions import RevocationStoreUnavailable

    api_key_for(developer)
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
        }
    }
    with pytest.raises(RevocationStoreUnavailable):
        services.api_key_revoke(api_key=ApiKey.objects.get())
    assert ApiKey.objects.get().revoked_at is None


def test_key_lists_page_in_a_stable_order(api_client, developer):
    for _ in range(3):
        api_key_for(developer)
    listed = api_client.get(KEYS, **user_auth(developer)).json()["results"]
    ids = [key["id"] for key in listed]
    assert ids == sorted(ids, reverse=True)


def test_a_grant_cached_by_the_previous_release_is_not_read(api_client, developer):
    """During a rolling deploy the previous release caches grants without the owner's
    name and role: this release keeps its grants under another key and never builds
    one from theirs (which would be a 500)."""
    from accounts import apikeys

    secret = api_key_for(developer)
    row = ApiKey.objects.get()
    previous_shape = {
        "key_id": row.pk, "identifier": row.identifier, "user_id": developer.pk,
        "scopes": ["mcp:search:code"], "expires_at": None,
    }  # fmt: skip
    apikeys.shared_cache().set(f"auth:api-key:{row.key_hash}", previous_shape, 300)
    response = api_client.get(ME, **as_key(secret))
    assert response.status_code == 200, response.content
    assert response.json()["username"] == developer.username
