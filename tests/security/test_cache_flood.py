"""A flood of junk logins must not make the shared cache forget or refuse security state.

The review's findings: each login with a new name wrote keys that lived 15 minutes, even
from a locked address. On Redis capped with `noeviction` (the documented setup) 60,000
attempts filled it, and logout, key revocation and good logins then got 503; on the
database cache Django culled a third of the live keys past its entry limit, among them
a lockout and the markers that keep a revoked key from being cached again.

Each test floods one backend with junk logins from a few addresses (most of them
refused as locked, so cheap for the attacker), then checks that a logout still revokes,
a revoked key stays revoked, a locked address stays locked and a good login works.
"""

from __future__ import annotations

import pytest
import redis
from django.conf import settings
from django.core.cache import caches
from django.core.management import call_command
from django.test import override_settings

from accounts import apikeys, revocation, services
from accounts.models import ApiKey
from tests.cache_helpers import cache_entries
from tests.conftest import bearer, post_form
from tests.factories import PASSWORD, UserFactory, api_key_for, login_tokens
from tests.processes import RedisServer

pytestmark = pytest.mark.django_db

LIMIT = settings.MCP_AUTH["LOGIN_FAILURE_LIMIT"]
FLOOD = 4000
FLOOD_ADDRESSES = 10
LOCKED = "198.51.100.9"


def login(client, username, password, address):
    return post_form(
        client, "/auth/login", {"username": username, "password": password}, REMOTE_ADDR=address
    )


def security_state_then_flood(client):
    """Revoke a token and a key and lock an address; then the flood. Returns what to check."""
    alice = UserFactory(username="alice", with_password=True, role__name="developer")
    revocation.mark_store_complete()
    logged_out = login_tokens(alice)["access_token"]
    assert client.post("/auth/logout", **bearer(logged_out)).status_code == 204
    revoked_key = api_key_for(alice)
    assert client.get("/auth/me", HTTP_X_API_KEY=revoked_key).status_code == 200
    services.api_key_revoke(api_key=ApiKey.objects.get())
    for attempt in range(LIMIT):
        assert login(client, f"typo{attempt}", "wrong", LOCKED).status_code == 401
    assert login(client, "alice", PASSWORD, LOCKED).status_code == 429

    for attempt in range(FLOOD):
        address = f"203.0.113.{attempt % FLOOD_ADDRESSES + 1}"
        response = login(client, f"junk-{attempt}-{'x' * 100}", "junk", address)
        assert response.status_code in (401, 429), response.content
    return alice, logged_out, revoked_key


def assert_security_state_held(client, alice, logged_out, revoked_key):
    assert client.get("/auth/me", **bearer(logged_out)).status_code == 401
    assert client.get("/auth/me", HTTP_X_API_KEY=revoked_key).status_code == 401
    digest = apikeys.digest_of(revoked_key)
    assert caches["default"].get(apikeys.fresh_only_cache_key(digest)) is True
    assert login(client, "alice", PASSWORD, LOCKED).status_code == 429
    # And the server still works for everyone else: a login, a logout, a key revocation.
    fresh = login(client, "alice", PASSWORD, "192.0.2.200")
    assert fresh.status_code == 200, fresh.content
    access = fresh.json()["access_token"]
    key = ApiKey.objects.get(pk=services.api_key_create(user=alice, name="k", scopes=["mcp:search:code"])[0].pk)
    assert client.delete(f"/api/keys/{key.pk}", **bearer(access)).status_code == 204
    assert client.post("/auth/logout", **bearer(access)).status_code == 204
    assert client.get("/auth/me", **bearer(access)).status_code == 401


def test_a_flood_cannot_cull_security_state_from_the_database_cache(api_client):
    # The embedded default's backend, with a small entry limit so that the flood passes it
    # (Django's own DatabaseCache, here, fails: it culls the fresh-only marker).
    cache_settings = {
        "default": {
            "BACKEND": "mcpserver.cache.SecurityStateDatabaseCache",
            "LOCATION": "mcp_flood_cache",
            "KEY_PREFIX": "flood",
            "OPTIONS": {"MAX_ENTRIES": 60},
        }
    }
    with override_settings(CACHES=cache_settings):
        call_command("createcachetable", verbosity=0)
        state = security_state_then_flood(api_client)
        # What the flood could write is bounded by its addresses, not its requests.
        assert cache_entries() < 60 + FLOOD_ADDRESSES * (3 * LIMIT + 4)
        assert_security_state_held(api_client, *state)


def test_a_flood_cannot_fill_a_capped_redis(api_client, tmp_path):
    server = RedisServer(tmp_path, "--maxmemory-policy", "noeviction")
    server.start()
    try:
        control = redis.Redis.from_url(server.url)
        # Room for the real state, connections and some more; the old code's flood wrote
        # four keys per junk login, about 2 MB for this one.
        control.config_set("maxmemory", control.info("memory")["used_memory"] + 1024 * 1024)
        cache_settings = {
            "default": {
                "BACKEND": "django_redis.cache.RedisCache",
                "LOCATION": server.url,
                "KEY_PREFIX": "flood",
                "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 1, "SOCKET_TIMEOUT": 1},
            }
        }
        with override_settings(CACHES=cache_settings):
            state = security_state_then_flood(api_client)
            assert control.dbsize() < FLOOD_ADDRESSES * (3 * LIMIT + 4) + 50
            assert_security_state_held(api_client, *state)
    finally:
        server.stop()
