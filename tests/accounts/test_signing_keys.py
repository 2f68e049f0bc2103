"""Signing keys: encryption at rest, rotation, retirement, import, the key ring."""

import base64
import hashlib
import hmac
import io
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.core.management import CommandError, call_command
from django.db import connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts import services, signing
from accounts.models import SigningKey
from tests.conftest import bearer
from tests.factories import SIGNING_KID, SIGNING_SECRET, login_tokens

pytestmark = pytest.mark.django_db

ME = "/auth/me"


def header(token: str) -> dict:
    return jwt.get_unverified_header(token)


# --- Encryption at rest ---------------------------------------------------------------


def test_secrets_are_encrypted_and_bound_to_their_kid(settings):
    context = signing.key_context(kid="kid-a", algorithm="ES256", public_pem="PEM A")
    sealed = signing.encrypt(b"top secret material", context=context)
    assert b"top secret" not in sealed.encode()
    assert signing.decrypt(sealed, context=context) == b"top secret material"
    for other in [
        signing.key_context(kid="kid-b", algorithm="ES256", public_pem="PEM A"),  # other row
        signing.key_context(kid="kid-a", algorithm="HS256", public_pem="PEM A"),  # alg changed
        signing.key_context(kid="kid-a", algorithm="ES256", public_pem="PEM B"),  # key swapped
    ]:
        with pytest.raises(signing.KeyDecryptionError):
            signing.decrypt(sealed, context=other)
    settings.JWT_KEY_ENCRYPTION_KEY = "another key-encryption key, 32+ bytes long"
    with pytest.raises(signing.KeyDecryptionError):
        signing.decrypt(sealed, context=context)


def test_a_previous_kek_still_decrypts(settings):
    old = settings.JWT_KEY_ENCRYPTION_KEY
    context = signing.key_context(kid="k", algorithm="HS256")
    sealed = signing.encrypt(b"material", context=context)
    settings.JWT_KEY_ENCRYPTION_KEY = "the new key-encryption key, 32+ bytes long"
    settings.JWT_KEY_ENCRYPTION_KEY_FALLBACKS = [old]
    assert signing.decrypt(sealed, context=context) == b"material"


def test_reencrypt_moves_every_key_to_the_new_kek(settings, api_client, viewer):
    services.signing_key_rotate(algorithm="ES256")
    old = settings.JWT_KEY_ENCRYPTION_KEY
    settings.JWT_KEY_ENCRYPTION_KEY = "the new key-encryption key, 32+ bytes long"
    with pytest.raises(CommandError, match="FALLBACKS"):
        call_command("reencrypt_signing_keys", stdout=io.StringIO())
    settings.JWT_KEY_ENCRYPTION_KEY_FALLBACKS = [old]
    out = io.StringIO()
    call_command("reencrypt_signing_keys", stdout=out)
    assert "Re-encrypted 2" in out.getvalue()
    settings.JWT_KEY_ENCRYPTION_KEY_FALLBACKS = []
    signing.key_ring.clear()
    assert api_client.get(ME, **bearer(login_tokens(viewer)["access_token"])).status_code == 200


def test_a_public_key_changed_in_the_database_is_neither_trusted_nor_published(api_client):
    genuine = services.signing_key_rotate(algorithm="ES256")
    attacker = signing.generate("ES256")
    SigningKey.objects.filter(pk=genuine.pk).update(public_key=attacker.public_pem)
    signing.key_ring.clear()
    kids = [key["kid"] for key in api_client.get("/.well-known/jwks.json").json()["keys"]]
    assert genuine.kid not in kids


def test_rotation_refuses_when_other_processes_cannot_be_told(settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
        }
    }
    with pytest.raises(CommandError, match="revocation store is unavailable"):
        call_command("rotate_signing_key", stdout=io.StringIO())
    assert SigningKey.objects.get(state="active").kid == SIGNING_KID


def test_a_wrong_kek_stops_the_server_at_start(settings):
    from django.core.management.base import SystemCheckError

    from mcpserver.startup import run_startup_checks

    settings.JWT_KEY_ENCRYPTION_KEY = "not the key that sealed these keys, 32+ bytes"
    signing.key_ring.clear()
    with pytest.raises(SystemCheckError, match="cannot open it"):
        run_startup_checks()


@pytest.mark.parametrize("algorithm", signing.ALGORITHMS)
def test_a_database_dump_reveals_no_signing_secret(algorithm):
    key = services.signing_key_rotate(algorithm=algorithm)
    ring_key = signing.key_ring.signing_key()
    assert ring_key.kid == key.kid
    if algorithm == "HS256":
        secret = ring_key.signing_key
    else:
        secret = ring_key.signing_key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    dump = str(list(SigningKey.objects.values()))
    assert secret.decode("latin-1")[:40] not in dump
    assert "PRIVATE KEY" not in dump
    if algorithm == "HS256":
        assert SIGNING_SECRET not in dump


# --- Rotation -------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", signing.ALGORITHMS)
def test_rotation_signs_with_the_new_key_and_old_tokens_keep_working(api_client, viewer, algorithm):
    before = login_tokens(viewer)
    assert header(before["access_token"])["kid"] == SIGNING_KID

    out = io.StringIO()
    call_command("rotate_signing_key", "--algorithm", algorithm, stdout=out)
    new_key = SigningKey.objects.get(state="active")
    assert new_key.algorithm == algorithm and new_key.kid in out.getvalue()
    old_key = SigningKey.objects.get(kid=SIGNING_KID)
    assert old_key.state == "verify-only" and old_key.demoted_at is not None

    after = login_tokens(viewer)
    assert header(after["access_token"]) == {"alg": algorithm, "kid": new_key.kid, "typ": "JWT"}
    assert api_client.get(ME, **bearer(after["access_token"])).status_code == 200
    assert api_client.get(ME, **bearer(before["access_token"])).status_code == 200
    refreshed = api_client.post("/auth/refresh", {"refresh_token": before["refresh_token"]})
    assert refreshed.status_code == 200
    assert header(refreshed.json()["access_token"])["kid"] == new_key.kid


def test_exactly_one_key_is_active():
    for _ in range(3):
        services.signing_key_rotate(algorithm="ES256")
    assert SigningKey.objects.filter(state="active").count() == 1
    assert SigningKey.objects.filter(state="verify-only").count() == 3


def test_each_key_is_used_with_its_own_algorithm_only(api_client, viewer):
    services.signing_key_rotate(algorithm="RS256")
    key = SigningKey.objects.get(state="active")
    token = login_tokens(viewer)["access_token"]
    claims = jwt.decode(token, options={"verify_signature": False})

    # The classic confusion: HS256 keyed with the RSA public key, under the RSA
    # key's kid. PyJWT refuses to make such a token, so it is built by hand.
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = (
        b64(json.dumps({"alg": "HS256", "kid": key.kid, "typ": "JWT"}).encode())
        + "."
        + b64(json.dumps(claims).encode())
    )
    signature = hmac.new(key.public_key.encode(), signing_input.encode(), hashlib.sha256).digest()
    response = api_client.get(ME, **bearer(f"{signing_input}.{b64(signature)}"))
    assert response.status_code == 401


# --- Retirement -----------------------------------------------------------------------


def test_retire_refuses_while_tokens_may_be_alive_then_force(api_client, viewer):
    old_tokens = login_tokens(viewer)
    services.signing_key_rotate(algorithm="ES256")
    with pytest.raises(CommandError, match="may still be valid"):
        call_command("retire_signing_key", SIGNING_KID, stdout=io.StringIO())
    assert api_client.get(ME, **bearer(old_tokens["access_token"])).status_code == 200

    call_command("retire_signing_key", SIGNING_KID, "--force", stdout=io.StringIO())
    retired = SigningKey.objects.get(kid=SIGNING_KID)
    assert retired.state == "retired" and retired.encrypted_private_key == ""
    response = api_client.get(ME, **bearer(old_tokens["access_token"]))
    assert response.status_code == 401
    assert 'error="invalid_token"' in response["WWW-Authenticate"]


def test_retire_is_allowed_once_the_refresh_lifetime_has_passed(settings):
    services.signing_key_rotate(algorithm="ES256")
    old = SigningKey.objects.get(kid=SIGNING_KID)
    lifetime = settings.SIMPLE_JWT["REFRESH_TOKEN_LIFETIME"]
    SigningKey.objects.filter(pk=old.pk).update(
        demoted_at=timezone.now() - lifetime - timezone.timedelta(minutes=5)
    )
    call_command("retire_signing_key", SIGNING_KID, stdout=io.StringIO())
    assert SigningKey.objects.get(pk=old.pk).state == "retired"


def test_the_active_key_cannot_be_retired():
    with pytest.raises(CommandError, match="rotate first"):
        call_command("retire_signing_key", SIGNING_KID, "--force", stdout=io.StringIO())


def test_retiring_an_unknown_kid_says_so():
    with pytest.raises(CommandError, match="No signing key"):
        call_command("retire_signing_key", "nope", stdout=io.StringIO())


def test_list_shows_keys_and_no_secret():
    services.signing_key_rotate(algorithm="EdDSA")
    out = io.StringIO()
    call_command("list_signing_keys", stdout=out)
    text = out.getvalue()
    assert SIGNING_KID in text and "verify-only" in text and "may be alive" in text
    assert SIGNING_SECRET not in text and "PRIVATE" not in text


# --- Import and first start -----------------------------------------------------------


def test_import_from_env_keeps_the_kid_so_old_tokens_stay_valid(api_client, viewer, settings):
    env_secret = "a deployment secret from the environment, 32+ bytes"
    settings.JWT_SECRET_KEY = env_secret
    kid = signing.kid_for_secret(env_secret)
    # A token that deployment signed before it had database keys.
    now = int(time.time())
    legacy = jwt.encode(
        {
            "type": "access",
            "sub": str(viewer.pk),
            "scope": "mcp:search:code",
            "jti": "0" * 32,
            "iat": now,
            "exp": now + 600,
            "iss": settings.SIMPLE_JWT["ISSUER"],
            "aud": settings.SIMPLE_JWT["AUDIENCE"],
        },
        env_secret,
        algorithm="HS256",
        headers={"kid": kid},
    )
    assert api_client.get(ME, **bearer(legacy)).status_code == 401
    out = io.StringIO()
    call_command("import_signing_key", "--from-env", stdout=out)
    assert kid in out.getvalue() and env_secret not in out.getvalue()
    assert api_client.get(ME, **bearer(legacy)).status_code == 200
    with pytest.raises(CommandError, match="imported already"):
        call_command("import_signing_key", "--from-env", stdout=io.StringIO())


def test_import_from_a_pem_file(tmp_path, api_client, viewer):
    private_key = ec.generate_private_key(ec.SECP256R1())
    pem = tmp_path / "key.pem"
    pem.write_bytes(
        private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    call_command("import_signing_key", "--pem", str(pem), stdout=io.StringIO())
    key = SigningKey.objects.get(state="active")
    assert key.algorithm == "ES256" and key.source == "pem-file"
    token = login_tokens(viewer)["access_token"]
    claims = jwt.decode(
        token, private_key.public_key(), algorithms=["ES256"], audience="mcp-code-server"
    )
    assert claims["sub"] == str(viewer.pk)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not a pem", "Could not deserialize|Unable to load|valid"),
        (
            rsa.generate_private_key(public_exponent=65537, key_size=1024).private_bytes(  # noqa: S505
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
            "at least 2048",
        ),
        (
            ec.generate_private_key(ec.SECP256R1()).private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.BestAvailableEncryption(b"pw"),
            ),
            "Encrypted PEM",
        ),
    ],
    ids=["garbage", "weak-rsa", "encrypted"],
)
def test_import_refuses_bad_pem_files(tmp_path, content, message):
    pem = tmp_path / "key.pem"
    pem.write_bytes(content)
    with pytest.raises(CommandError, match=message):
        call_command("import_signing_key", "--pem", str(pem), stdout=io.StringIO())
    assert SigningKey.objects.filter(state="active").get().kid == SIGNING_KID


def test_first_start_imports_jwt_secret_key_when_set(settings):
    SigningKey.objects.all().delete()
    signing.key_ring.clear()
    settings.JWT_SECRET_KEY = "first start secret, at least thirty-two bytes"
    assert signing.key_ring.signing_key().kid == signing.kid_for_secret(settings.JWT_SECRET_KEY)
    assert SigningKey.objects.get().source == "environment"


def test_first_start_generates_a_key_with_jwt_algorithm(settings):
    SigningKey.objects.all().delete()
    signing.key_ring.clear()
    settings.JWT_SECRET_KEY = ""
    settings.JWT_ALGORITHM = "EdDSA"
    assert signing.key_ring.signing_key().algorithm == "EdDSA"
    assert SigningKey.objects.get().source == "generated"


# --- Several processes ----------------------------------------------------------------


def test_another_process_signs_with_the_new_key_within_the_refresh_interval(settings):
    settings.MCP_AUTH = {**settings.MCP_AUTH, "SIGNING_KEY_REFRESH": 1}
    other_process = signing.KeyRing()
    assert other_process.signing_key().kid == SIGNING_KID
    new_key = services.signing_key_rotate(algorithm="ES256")
    signing.publish_new_version()  # on_commit does this outside a test transaction
    # It accepts the new kid at once...
    assert other_process.verification_key(new_key.kid) is not None
    assert other_process.signing_key().kid == new_key.kid


def test_signing_switches_after_the_interval_even_without_unknown_kids(settings):
    settings.MCP_AUTH = {**settings.MCP_AUTH, "SIGNING_KEY_REFRESH": 1}
    other_process = signing.KeyRing()
    assert other_process.signing_key().kid == SIGNING_KID
    new_key = services.signing_key_rotate(algorithm="ES256")
    signing.publish_new_version()
    assert other_process.signing_key().kid == SIGNING_KID  # still within the interval
    time.sleep(1.1)
    assert other_process.signing_key().kid == new_key.kid


def test_garbage_kids_cause_no_reload_storm():
    other_process = signing.KeyRing()
    other_process.signing_key()
    with CaptureQueriesContext(connections["default"]) as queries:
        for n in range(200):
            assert other_process.verification_key(f"garbage-{n}") is None
    reloads = [q for q in queries.captured_queries if "accounts_signingkey" in q["sql"]]
    assert reloads == []


def test_without_the_cache_reloads_are_rate_limited(settings):
    other_process = signing.KeyRing()
    other_process.signing_key()
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
        }
    }
    with CaptureQueriesContext(connections["default"]) as queries:
        for n in range(20):
            assert other_process.verification_key(f"garbage-{n}") is None
    reloads = [q for q in queries.captured_queries if "accounts_signingkey" in q["sql"]]
    assert len(reloads) <= 1
