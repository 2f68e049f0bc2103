"""Hostile JWT headers: the header is read once to pick the key (accounts/tokens.py
_unverified_header), then PyJWT checks the whole token as it verifies it. Every one
of these is a 401 invalid_token, never a 500."""

from __future__ import annotations

import base64
import json

import pytest

from tests.conftest import bearer
from tests.factories import SIGNING_KID, login_tokens

pytestmark = pytest.mark.django_db


def segment(value) -> str:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def with_header(token: str, header: str) -> str:
    _head, payload, signature = token.split(".")
    return f"{header}.{payload}.{signature}"


HEADERS = {
    "not base64url": "!!!!",
    "padded": segment({"alg": "HS256", "typ": "JWT", "kid": SIGNING_KID}) + "==",
    "one character too many": "A" * 5,
    "not JSON": segment(b"not json"),
    "a list": segment(["alg", "HS256"]),
    "a string": segment("HS256"),
    "empty": "",
    "no kid": segment({"alg": "HS256", "typ": "JWT"}),
    "a kid that is a number": segment({"alg": "HS256", "typ": "JWT", "kid": 1}),
    "an unknown kid": segment({"alg": "HS256", "typ": "JWT", "kid": "nope"}),
    "alg none": segment({"alg": "none", "typ": "JWT", "kid": SIGNING_KID}),
    "another algorithm": segment({"alg": "HS512", "typ": "JWT", "kid": SIGNING_KID}),
    "an embedded key": segment({"alg": "HS256", "kid": SIGNING_KID, "jwk": {"k": "x"}}),
    "a header the signature does not cover": segment(
        {"alg": "HS256", "kid": SIGNING_KID, "typ": "JWT", "x": 1}
    ),
    "non-ASCII": "é" + segment({"alg": "HS256"}),
}


@pytest.mark.parametrize("header", HEADERS.values(), ids=HEADERS.keys())
def test_a_hostile_header_is_a_401(api_client, viewer, header):
    token = with_header(login_tokens(viewer)["access_token"], header)
    response = api_client.get("/auth/me", **bearer(token))
    assert response.status_code == 401, response.content
    assert 'error="invalid_token"' in response["WWW-Authenticate"]


@pytest.mark.parametrize("token", ["abc", "a.b", "a.b.c.d", "..", "." * 5000])
def test_not_a_jwt_at_all_is_a_401(api_client, token):
    response = api_client.get("/auth/me", **bearer(token))
    assert response.status_code == 401, response.content


def test_the_same_header_re_encoded_still_verifies(api_client, viewer):
    """The header is parsed the way PyJWT parses it: an equivalent one is accepted only
    if it is byte for byte what was signed."""
    token = login_tokens(viewer)["access_token"]
    head = token.split(".")[0]
    assert api_client.get("/auth/me", **bearer(with_header(token, head))).status_code == 200
