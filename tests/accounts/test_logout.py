import pytest

from accounts.models import LoginSession
from tests.conftest import bearer
from tests.factories import login_tokens

pytestmark = pytest.mark.django_db

ME = "/auth/me"


def test_logout_revokes_the_access_token_and_its_login(api_client, viewer):
    tokens = login_tokens(viewer)
    assert api_client.get(ME, **bearer(tokens["access_token"])).status_code == 200

    response = api_client.post("/auth/logout", **bearer(tokens["access_token"]))
    assert response.status_code == 204

    after = api_client.get(ME, **bearer(tokens["access_token"]))
    assert after.status_code == 401
    assert after.json() == {"detail": "Token has been revoked"}
    assert 'error="invalid_token"' in after["WWW-Authenticate"]
    refresh = api_client.post("/auth/refresh", {"refresh_token": tokens["refresh_token"]})
    assert refresh.status_code == 401
    assert LoginSession.objects.get().revoked_reason == LoginSession.RevokeReason.LOGOUT


def test_logout_with_a_refresh_token_of_another_login_revokes_both(api_client, viewer):
    first = login_tokens(viewer)
    second = login_tokens(viewer)
    response = api_client.post(
        "/auth/logout", {"refresh_token": second["refresh_token"]}, **bearer(first["access_token"])
    )
    assert response.status_code == 204
    assert (
        api_client.post("/auth/refresh", {"refresh_token": second["refresh_token"]}).status_code
        == 401
    )
    assert api_client.get(ME, **bearer(second["access_token"])).status_code == 401


def test_logout_ignores_someone_elses_refresh_token(api_client, viewer, developer):
    mine = login_tokens(viewer)
    theirs = login_tokens(developer)
    response = api_client.post(
        "/auth/logout", {"refresh_token": theirs["refresh_token"]}, **bearer(mine["access_token"])
    )
    assert response.status_code == 204
    assert api_client.get(ME, **bearer(theirs["access_token"])).status_code == 200


def test_logout_with_an_unusable_refresh_token_still_logs_out(api_client, viewer):
    tokens = login_tokens(viewer)
    response = api_client.post(
        "/auth/logout", {"refresh_token": "garbage"}, **bearer(tokens["access_token"])
    )
    assert response.status_code == 204
    assert api_client.get(ME, **bearer(tokens["access_token"])).status_code == 401


def test_logout_needs_a_token(api_client):
    response = api_client.post("/auth/logout")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="mcp"'


def test_logout_all_rejects_every_token_issued_before(api_client, viewer, developer):
    first = login_tokens(viewer)
    second = login_tokens(viewer)
    bystander = login_tokens(developer)
    assert api_client.post("/auth/logout-all", **bearer(first["access_token"])).status_code == 204

    for tokens in (first, second):
        assert api_client.get(ME, **bearer(tokens["access_token"])).status_code == 401
        refresh = api_client.post("/auth/refresh", {"refresh_token": tokens["refresh_token"]})
        assert refresh.status_code == 401
    assert api_client.get(ME, **bearer(bystander["access_token"])).status_code == 200

    # A login made right after works: "before now" is precise to the millisecond.
    fresh = login_tokens(viewer)
    assert api_client.get(ME, **bearer(fresh["access_token"])).status_code == 200


def test_me_describes_the_principal(api_client, developer):
    tokens = login_tokens(developer, scopes=frozenset({"mcp:search:code"}))
    body = api_client.get(ME, **bearer(tokens["access_token"])).json()
    assert body["username"] == developer.username
    assert body["role"] == "developer"
    assert body["scopes"] == ["mcp:search:code"]
    assert body["auth_method"] == "jwt"
    assert body["expires_at"].endswith("Z")
    assert body["id"] == str(developer.pk)
