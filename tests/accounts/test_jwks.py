"""The JWKS endpoint, and another service verifying our tokens with PyJWKClient."""

import jwt
import pytest

from accounts import services
from tests.factories import SIGNING_KID, login_tokens

JWKS = "/.well-known/jwks.json"


@pytest.mark.django_db
def test_jwks_publishes_asymmetric_keys_only_and_no_private_parts(api_client):
    rsa_key = services.signing_key_rotate(algorithm="RS256")
    ec_key = services.signing_key_rotate(algorithm="ES256")
    ed_key = services.signing_key_rotate(algorithm="EdDSA")
    response = api_client.get(JWKS)
    assert response.status_code == 200
    assert response["Cache-Control"] == "public, max-age=60"
    keys = {key["kid"]: key for key in response.json()["keys"]}
    assert set(keys) == {rsa_key.kid, ec_key.kid, ed_key.kid}  # not the HMAC key
    assert SIGNING_KID not in keys
    assert keys[rsa_key.kid]["kty"] == "RSA" and keys[rsa_key.kid]["alg"] == "RS256"
    assert keys[ec_key.kid]["kty"] == "EC" and keys[ec_key.kid]["crv"] == "P-256"
    assert keys[ed_key.kid]["kty"] == "OKP" and keys[ed_key.kid]["crv"] == "Ed25519"
    for key in keys.values():
        assert key["use"] == "sig"
        assert not {"d", "p", "q", "dp", "dq", "qi", "k"} & set(key), key


@pytest.mark.django_db
def test_retired_keys_leave_the_jwks(api_client):
    first = services.signing_key_rotate(algorithm="ES256")
    services.signing_key_rotate(algorithm="ES256")
    services.signing_key_retire(kid=first.kid, force=True)
    kids = [key["kid"] for key in api_client.get(JWKS).json()["keys"]]
    assert first.kid not in kids and len(kids) == 1


@pytest.mark.django_db
def test_jwks_needs_no_credentials_and_ignores_bad_ones(api_client):
    response = api_client.get(JWKS, HTTP_AUTHORIZATION="Bearer garbage")
    assert response.status_code == 200
    assert response.json() == {"keys": []}  # only the HMAC test key exists


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("algorithm", ["RS256", "ES256", "EdDSA"])
def test_another_service_verifies_our_tokens_with_pyjwkclient(live_server, viewer, algorithm):
    """What docs/signing-keys.md tells other services to do, against a real server."""
    services.signing_key_rotate(algorithm=algorithm)
    token = login_tokens(viewer)["access_token"]

    client = jwt.PyJWKClient(f"{live_server.url}{JWKS}")
    signing_key = client.get_signing_key_from_jwt(token)
    claims = jwt.decode(
        token,
        signing_key.key,
        algorithms=["RS256", "ES256", "EdDSA"],
        audience="mcp-code-server",
        issuer="mcp-code-server",
        options={"require": ["exp", "iat", "sub", "aud", "iss"]},
    )
    assert claims["sub"] == str(viewer.pk) and claims["type"] == "access"
