import pytest

from tests.conftest import bearer
from tests.factories import login_tokens

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.accounts.scoped_urls")]


def test_required_scope_present(api_client, developer):
    response = api_client.get("/index-create", **bearer(login_tokens(developer)["access_token"]))
    assert response.status_code == 200


def test_missing_scope_is_403_insufficient_scope(api_client, viewer):
    response = api_client.get("/index-create", **bearer(login_tokens(viewer)["access_token"]))
    assert response.status_code == 403
    assert response.json() == {"detail": "Permission required: mcp:index:create"}
    assert (
        response["WWW-Authenticate"]
        == 'Bearer error="insufficient_scope", scope="mcp:index:create"'
    )


def test_all_required_scopes_must_be_held(api_client, developer, admin_user):
    response = api_client.get("/both", **bearer(login_tokens(developer)["access_token"]))
    assert response.status_code == 403
    assert response.json()["detail"] == "Permission required: mcp:user:manage"
    assert (
        api_client.get("/both", **bearer(login_tokens(admin_user)["access_token"])).status_code
        == 200
    )


def test_any_scope_is_enough(api_client, viewer):
    narrowed = login_tokens(viewer, scopes=frozenset({"mcp:search:semantic"}))
    response = api_client.get("/any", **bearer(narrowed["access_token"]))
    assert response.status_code == 403
    assert response.json()["detail"] == "Permission required: mcp:search:code or mcp:index:create"
    assert api_client.get("/any", **bearer(login_tokens(viewer)["access_token"])).status_code == 200


def test_a_narrowed_token_loses_the_scopes_it_did_not_ask_for(api_client, developer):
    narrowed = login_tokens(developer, scopes=frozenset({"mcp:search:code"}))
    assert api_client.get("/index-create", **bearer(narrowed["access_token"])).status_code == 403


def test_no_token_is_401_not_403(api_client):
    response = api_client.get("/index-create")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="mcp"'
