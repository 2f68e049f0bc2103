from __future__ import annotations

from urllib.parse import urlencode

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from accounts import revocation, services, signing
from search import results_cache
from tests.factories import SIGNING_KID, SIGNING_SECRET, UserFactory, login_tokens


@pytest.fixture(autouse=True)
def _clean_shared_cache(db):
    """Each test starts with no revocations and no login counters."""
    if hasattr(cache, "delete_pattern"):
        cache.delete_pattern("*")  # django-redis: only this run's KEY_PREFIX
    else:
        cache.clear()  # the database cache lives in the test database
    results_cache.forget_all()
    revocation.mark_store_complete()  # an empty store in a test is new, not wiped
    yield


@pytest.fixture(autouse=True)
def _semantic_off(settings):
    """Embedding is slow on a CPU: only tests that ask for it (`semantic_on`) embed."""
    settings.MCP_SEMANTIC_ENABLED = False


@pytest.fixture
def semantic_on(settings):
    settings.MCP_SEMANTIC_ENABLED = True


@pytest.fixture(autouse=True)
def _signing_key(_clean_shared_cache):
    """Each test starts with one active HS256 key whose secret the tests know."""
    signing.key_ring.clear()
    services.signing_key_rotate(
        material=signing.from_secret(SIGNING_SECRET), kid=SIGNING_KID, source="environment"
    )
    yield
    signing.key_ring.clear()


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def viewer(db):
    return UserFactory(role__name="viewer")


@pytest.fixture
def developer(db):
    return UserFactory(role__name="developer")


@pytest.fixture
def admin_user(db):
    return UserFactory(role__name="admin")


@pytest.fixture
def viewer_tokens(viewer):
    return login_tokens(viewer)


def bearer(access_token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {access_token}"}


def post_form(client, path: str, data: dict, **extra):
    """POST application/x-www-form-urlencoded, as curl -d and OAuth2 clients do."""
    return client.post(
        path, urlencode(data), content_type="application/x-www-form-urlencoded", **extra
    )
