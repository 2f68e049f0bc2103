from __future__ import annotations

from urllib.parse import urlencode

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from tests.factories import UserFactory, login_tokens


@pytest.fixture(autouse=True)
def _clean_shared_cache(db):
    """Each test starts with no revocations and no login counters."""
    if hasattr(cache, "delete_pattern"):
        cache.delete_pattern("*")  # django-redis: only this run's KEY_PREFIX
    else:
        cache.clear()  # the database cache lives in the test database
    yield


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
