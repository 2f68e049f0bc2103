import statistics
import time

import jwt
import pytest
from django.conf import settings
from django.test import override_settings

from tests.conftest import post_form
from tests.factories import PASSWORD, SIGNING_KID, SIGNING_SECRET, UserFactory

pytestmark = pytest.mark.django_db

LOGIN = "/auth/login"
EXPECTED_CLAIMS = {
    "type", "exp", "iat", "jti", "sub", "sid", "scope", "iss", "aud", "username", "role"
}  # fmt: skip


@pytest.fixture
def developer_with_password():
    return UserFactory(role__name="developer", username="dev", with_password=True)


def decode(token: str) -> dict:
    return jwt.decode(
        token,
        SIGNING_SECRET,
        algorithms=["HS256"],
        audience=settings.SIMPLE_JWT["AUDIENCE"],
        issuer=settings.SIMPLE_JWT["ISSUER"],
    )


def test_json_login_returns_oauth_style_tokens(api_client, developer_with_password):
    response = api_client.post(LOGIN, {"username": "dev", "password": PASSWORD}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert 1790 <= body["expires_in"] <= 1800
    assert body["scope"].split() == [
        "mcp:search:code",
        "mcp:search:semantic",
        "mcp:index:create",
        "mcp:index:update",
        "mcp:index:delete",
    ]
    assert response["Cache-Control"] == "no-store"

    claims = decode(body["access_token"])
    assert set(claims) == EXPECTED_CLAIMS
    assert claims["sub"] == str(developer_with_password.pk)
    assert claims["type"] == "access"
    assert claims["scope"] == body["scope"]
    assert (claims["username"], claims["role"]) == ("dev", "developer")
    header = jwt.get_unverified_header(body["access_token"])
    assert header == {"alg": "HS256", "typ": "JWT", "kid": SIGNING_KID}

    refresh = decode(body["refresh_token"])
    assert refresh["type"] == "refresh" and "scope" not in refresh
    assert refresh["sid"] == claims["sid"]
    assert PASSWORD not in str(claims) and "dev" not in refresh.values()


def test_form_login_is_the_oauth2_password_form(api_client, developer_with_password):
    response = post_form(
        api_client, LOGIN, {"grant_type": "password", "username": "dev", "password": PASSWORD}
    )
    assert response.status_code == 200, response.content
    assert response.json()["access_token"]


@pytest.mark.parametrize(
    ("requested", "granted"),
    [
        ("mcp:search:code", "mcp:search:code"),
        ("index:read", "mcp:search:code"),
        ("mcp:index:create  mcp:search:code", "mcp:search:code mcp:index:create"),
        ("", None),
    ],
)
def test_scope_parameter_narrows_the_token(api_client, developer_with_password, requested, granted):
    response = post_form(
        api_client, LOGIN, {"username": "dev", "password": PASSWORD, "scope": requested}
    )
    assert response.status_code == 200
    expected = granted or response.json()["scope"]
    assert response.json()["scope"] == expected
    assert decode(response.json()["access_token"])["scope"] == expected


@pytest.mark.parametrize(
    ("requested", "message"),
    [
        ("mcp:user:manage", "Scope not granted to this account: mcp:user:manage"),
        ("admin", "Scope not granted to this account"),
        ("mcp:search:code mcp:root", "Unknown scope: mcp:root"),
    ],
)
def test_scope_the_role_lacks_is_invalid_scope(
    api_client, developer_with_password, requested, message
):
    response = post_form(
        api_client, LOGIN, {"username": "dev", "password": PASSWORD, "scope": requested}
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"
    assert message in response.json()["detail"]


def _failed_login(api_client, username, password):
    started = time.perf_counter()
    response = post_form(api_client, LOGIN, {"username": username, "password": password})
    return response, time.perf_counter() - started


@override_settings(MCP_AUTH={**settings.MCP_AUTH, "LOGIN_FAILURE_LIMIT": 100})
def test_unknown_user_wrong_password_and_inactive_user_look_the_same(api_client):
    UserFactory(username="alice", with_password=True)
    UserFactory(username="sleepy", with_password=True, is_active=False)
    cases = {
        "unknown": ("nobody", PASSWORD),
        "wrong password": ("alice", "not the password"),
        "inactive": ("sleepy", PASSWORD),
    }
    timings = {}
    for label, (username, password) in cases.items():
        runs = [_failed_login(api_client, username, password) for _ in range(3)]
        for response, _ in runs:
            assert response.status_code == 401, label
            assert response.json() == {"detail": "Incorrect username or password"}
            assert response["WWW-Authenticate"] == 'Bearer realm="mcp"'
        timings[label] = statistics.median(elapsed for _, elapsed in runs)
    # Each path runs one Argon2 hash; without that, "unknown" would be ~100x faster.
    assert max(timings.values()) / min(timings.values()) < 3, timings


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"password": PASSWORD}, "username"),
        ({"username": "dev"}, "password"),
        ({"username": "dev", "password": "x" * 2000}, "password"),
        ({"username": "d" * 200, "password": PASSWORD}, "username"),
        (
            {"username": "dev", "password": PASSWORD, "grant_type": "client_credentials"},
            "grant_type",
        ),
    ],
)
def test_bad_input_is_a_400_naming_the_field(api_client, payload, field):
    response = api_client.post(LOGIN, payload, format="json")
    assert response.status_code == 400
    assert field in response.json()


def test_non_object_json_is_a_400(api_client):
    response = api_client.post(LOGIN, "[1, 2]", content_type="application/json")
    assert response.status_code == 400


def test_a_stale_authorization_header_does_not_block_login(api_client, developer_with_password):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    response = post_form(api_client, LOGIN, {"username": "dev", "password": PASSWORD})
    assert response.status_code == 200


def test_login_records_the_session(api_client, developer_with_password):
    response = post_form(
        api_client, LOGIN, {"username": "dev", "password": PASSWORD}, REMOTE_ADDR="10.1.2.3"
    )
    session = developer_with_password.login_sessions.get()
    assert str(session.id) == decode(response.json()["access_token"])["sid"]
    assert session.client_ip == "10.1.2.3"
    assert session.refresh_jti == decode(response.json()["refresh_token"])["jti"]
