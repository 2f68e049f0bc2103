"""expires_in and refresh_expires_in say the configured lifetimes, to the second.

The bug: they were int(exp - now), and `exp` counts from the whole second a token was made
in, so a login answered "expires_in": 1799 where the README (and the configuration) say
1800.
"""

from __future__ import annotations

import time
from datetime import timedelta

import jwt
import pytest
from django.utils import timezone

from accounts import tokens
from accounts.models import LoginSession
from tests.factories import PASSWORD, UserFactory

LOGIN = "/auth/login"
REFRESH = "/auth/refresh"


@pytest.fixture
def alice(db):
    return UserFactory(username="alice", role__name="developer", with_password=True)


def log_in(client) -> dict:
    response = client.post(LOGIN, {"username": "alice", "password": PASSWORD})
    assert response.status_code == 200, response.content
    return response.json()


def refresh(client, token: str) -> dict:
    response = client.post(REFRESH, {"refresh_token": token})
    assert response.status_code == 200, response.content
    return response.json()


def test_a_login_reports_the_default_lifetimes_exactly(api_client, alice):
    body = log_in(api_client)
    assert body["expires_in"] == 1800
    assert body["refresh_expires_in"] == 7 * 24 * 3600


def test_a_refresh_reports_the_access_lifetime_exactly(api_client, alice):
    body = refresh(api_client, log_in(api_client)["refresh_token"])
    assert body["expires_in"] == 1800
    # The session's end (30 days after the login) is still far: the full refresh lifetime.
    assert body["refresh_expires_in"] == 7 * 24 * 3600


def test_configured_lifetimes_are_reported(api_client, alice, monkeypatch):
    # What JWT_ACCESS_TOKEN_EXPIRE_MINUTES=5 and JWT_REFRESH_TOKEN_EXPIRE_DAYS=1 configure
    # (SimpleJWT's settings object, which the tokens read, is built once per process).
    monkeypatch.setattr(tokens.api_settings, "ACCESS_TOKEN_LIFETIME", timedelta(minutes=5))
    monkeypatch.setattr(tokens.api_settings, "REFRESH_TOKEN_LIFETIME", timedelta(days=1))
    body = log_in(api_client)
    assert (body["expires_in"], body["refresh_expires_in"]) == (300, 86400)
    body = refresh(api_client, body["refresh_token"])
    assert (body["expires_in"], body["refresh_expires_in"]) == (300, 86400)


def test_the_lifetimes_match_the_tokens_claims(api_client, alice):
    body = log_in(api_client)
    for name, seconds in (("access_token", 1800), ("refresh_token", 7 * 24 * 3600)):
        claims = jwt.decode(body[name], options={"verify_signature": False})
        # exp is the issue second plus the lifetime: within one second of iat + lifetime.
        assert 0 <= claims["iat"] + seconds - claims["exp"] < 1
        assert body["expires_in" if name == "access_token" else "refresh_expires_in"] == seconds


def test_a_session_near_its_end_reports_what_is_left(api_client, alice):
    first = log_in(api_client)
    LoginSession.objects.update(expires_at=timezone.now() + timedelta(seconds=600))
    body = refresh(api_client, first["refresh_token"])
    # Both tokens end with the session, in at most 600 seconds (a second or two has passed).
    assert 590 <= body["expires_in"] <= 600
    assert 590 <= body["refresh_expires_in"] <= 600
    assert body["expires_in"] == body["refresh_expires_in"]
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert abs(claims["exp"] - time.time() - body["expires_in"]) <= 2
