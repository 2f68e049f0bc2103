import threading
from datetime import timedelta

import jwt
import pytest
import requests
from django.conf import settings
from django.test import override_settings
from django.utils import timezone

from accounts.models import LoginSession, Role
from tests.conftest import bearer, post_form
from tests.factories import UserFactory, login_tokens

REFRESH = "/auth/refresh"
ME = "/auth/me"


def claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


@pytest.mark.django_db
def test_refresh_returns_a_new_pair_and_consumes_the_old_token(api_client, viewer):
    first = login_tokens(viewer)
    response = api_client.post(REFRESH, {"refresh_token": first["refresh_token"]}, format="json")
    assert response.status_code == 200
    second = response.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert claims(second["refresh_token"])["sid"] == claims(first["refresh_token"])["sid"]
    assert api_client.get(ME, **bearer(second["access_token"])).status_code == 200
    assert response["Cache-Control"] == "no-store"


@pytest.mark.django_db
def test_refresh_accepts_a_form(api_client, viewer):
    tokens = login_tokens(viewer)
    response = post_form(api_client, REFRESH, {"refresh_token": tokens["refresh_token"]})
    assert response.status_code == 200


@pytest.mark.django_db
def test_reusing_a_consumed_refresh_token_revokes_the_whole_login(api_client, viewer):
    first = login_tokens(viewer)
    second = api_client.post(REFRESH, {"refresh_token": first["refresh_token"]}).json()

    replay = api_client.post(REFRESH, {"refresh_token": first["refresh_token"]})
    assert replay.status_code == 401
    assert "already used" in replay.json()["detail"]
    assert 'error="invalid_token"' in replay["WWW-Authenticate"]

    # Everything descended from that login is dead: the newer refresh token,
    # and the access tokens of the login.
    assert api_client.post(REFRESH, {"refresh_token": second["refresh_token"]}).status_code == 401
    assert api_client.get(ME, **bearer(second["access_token"])).status_code == 401
    assert api_client.get(ME, **bearer(first["access_token"])).status_code == 401
    session = LoginSession.objects.get()
    assert session.revoked_reason == LoginSession.RevokeReason.REUSE


@pytest.mark.django_db
def test_other_logins_survive_a_reuse(api_client, viewer):
    stolen = login_tokens(viewer)
    other = login_tokens(viewer)
    api_client.post(REFRESH, {"refresh_token": stolen["refresh_token"]})
    api_client.post(REFRESH, {"refresh_token": stolen["refresh_token"]})
    assert api_client.get(ME, **bearer(other["access_token"])).status_code == 200


@pytest.mark.django_db
def test_scopes_are_recomputed_from_the_current_role(api_client, viewer):
    tokens = login_tokens(viewer)
    assert tokens["scope"] == "mcp:search:code mcp:search:semantic"
    viewer.role = Role.objects.get(name="developer")
    viewer.save()
    refreshed = api_client.post(REFRESH, {"refresh_token": tokens["refresh_token"]}).json()
    assert "mcp:index:create" in refreshed["scope"].split()
    assert claims(refreshed["access_token"])["scope"] == refreshed["scope"]


@pytest.mark.django_db
def test_a_narrowed_login_stays_narrow_and_loses_what_the_role_loses(api_client, developer):
    tokens = login_tokens(developer, scopes=frozenset({"mcp:search:code", "mcp:index:create"}))
    role = developer.role
    role.scopes = ["mcp:search:code", "mcp:search:semantic"]
    role.save()
    refreshed = api_client.post(REFRESH, {"refresh_token": tokens["refresh_token"]}).json()
    assert refreshed["scope"] == "mcp:search:code"


@pytest.mark.django_db
def test_refresh_fails_after_the_session_maximum_age(api_client, viewer):
    tokens = login_tokens(viewer)
    LoginSession.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = api_client.post(REFRESH, {"refresh_token": tokens["refresh_token"]})
    assert response.status_code == 401
    assert "maximum age" in response.json()["detail"]


@pytest.mark.django_db
@override_settings(MCP_AUTH={**settings.MCP_AUTH, "SESSION_MAX_AGE": timedelta(days=2)})
def test_refresh_token_never_outlives_the_session(viewer):
    tokens = login_tokens(viewer)
    session = LoginSession.objects.get()
    assert claims(tokens["refresh_token"])["exp"] <= session.expires_at.timestamp()


@pytest.mark.django_db
def test_refresh_for_a_deleted_user_is_401_not_500(api_client, viewer):
    tokens = login_tokens(viewer)
    viewer.delete()
    response = api_client.post(REFRESH, {"refresh_token": tokens["refresh_token"]})
    assert response.status_code == 401


@pytest.mark.django_db
def test_refresh_for_a_deactivated_user_fails(api_client, viewer):
    tokens = login_tokens(viewer)
    viewer.is_active = False
    viewer.save()
    assert api_client.post(REFRESH, {"refresh_token": tokens["refresh_token"]}).status_code == 401


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("value", "status"),
    [("", 400), ("x" * 5000, 400), ("garbage", 401), ("a.b.c", 401)],
    ids=["empty", "oversized", "garbage", "three-dots"],
)
def test_bad_refresh_tokens(api_client, value, status):
    response = api_client.post(REFRESH, {"refresh_token": value}, format="json")
    assert response.status_code == status


@pytest.mark.django_db
def test_missing_refresh_token_is_a_400(api_client):
    response = api_client.post(REFRESH, {}, format="json")
    assert response.status_code == 400
    assert "refresh_token" in response.json()


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_refreshes_with_one_token_exactly_one_succeeds(live_server):
    user = UserFactory(role__name="viewer")
    for _round in range(5):
        tokens = login_tokens(user)
        barrier = threading.Barrier(2)
        statuses = []

        def refresh(token=tokens["refresh_token"], barrier=barrier, statuses=statuses):
            barrier.wait()
            response = requests.post(
                f"{live_server.url}{REFRESH}", json={"refresh_token": token}, timeout=30
            )
            statuses.append(response.status_code)

        threads = [threading.Thread(target=refresh) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(statuses) == [200, 401]
