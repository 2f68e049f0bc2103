"""Forged and malformed bearer tokens against GET /auth/me.

Sources: RFC 8725 (JWT best current practices), the OWASP JWT cheat sheet and
WSTG-SESS-10, PortSwigger's "JWT attacks". Every attack token is built by hand
(base64url + HMAC/RSA/EC) so it is a real forgery, not a PyJWT round trip that
PyJWT itself would refuse to produce.

Expected answer to every attack (RFC 6750 section 3.1): 401 with
`WWW-Authenticate: Bearer ... error="invalid_token"`, never a 500. The control
tests show that the same hand-made construction with legitimate values is
accepted, so a refusal below is caused by the attacked field and nothing else.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import time
from datetime import UTC, datetime, timedelta
from functools import cache

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from django.conf import settings
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from accounts.conf import auth_settings
from accounts.scopes import MCP_SCOPES
from tests.factories import SIGNING_KID, SIGNING_SECRET, login_tokens

pytestmark = pytest.mark.django_db

ME = "/auth/me"
LOGIN = "/auth/login"
REFRESH = "/auth/refresh"

INVALID = "Token is invalid"
EXPIRED = "Token has expired"
MALFORMED_HEADER = "Authorization header must be 'Bearer <token>'"

ATTACKER_SECRET = hashlib.sha512(b"attacker-chosen secret").digest()  # 64 bytes
ATTACKER_PORT = 9  # discard: nothing listens there, and nothing may try to
ATTACKER_URL = f"http://127.0.0.1:{ATTACKER_PORT}/"

DROP = object()  # header field or claim to remove
OUR_SECRET = object()  # sign with SIGNING_SECRET

LEEWAY = settings.SIMPLE_JWT["LEEWAY"]
ISSUER = settings.SIMPLE_JWT["ISSUER"]
AUDIENCE = settings.SIMPLE_JWT["AUDIENCE"]

HMAC_HASHES = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}


# --- Forging -------------------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def segment(value) -> str:
    """A JWS segment: raw bytes as given, anything else as compact JSON."""
    if isinstance(value, bytes):
        return b64url(value)
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def sign(signing_input: bytes, key, alg: str | None) -> bytes:
    """Raw signature. HMAC is computed directly, so any bytes (a PEM, b"") can be the key."""
    if alg is None:
        return b""
    if key is OUR_SECRET:
        key = SIGNING_SECRET
    if alg in HMAC_HASHES:
        key = key.encode() if isinstance(key, str) else key
        return hmac.new(key, signing_input, HMAC_HASHES[alg]).digest()
    if alg == "RS256":
        return RSAAlgorithm(RSAAlgorithm.SHA256).sign(signing_input, key)
    if alg == "ES256":
        return ECAlgorithm(ECAlgorithm.SHA256).sign(signing_input, key)
    raise ValueError(alg)


def forge(header, payload, key=OUR_SECRET, alg: str | None = "HS256") -> str:
    """A compact JWS: `header` and `payload` are sent as given, signed with `key` and `alg`.

    `alg` is how the signature is really computed; the header may claim anything.
    """
    signing_input = f"{segment(header)}.{segment(payload)}"
    return f"{signing_input}.{b64url(sign(signing_input.encode(), key, alg))}"


def changed(base: dict, changes: dict) -> dict:
    result = {**base, **changes}
    return {name: value for name, value in result.items() if value is not DROP}


def jose_header(**changes) -> dict:
    """The header the server itself writes, with `changes` applied."""
    ours = {"alg": "HS256", "typ": "JWT", "kid": SIGNING_KID}
    return changed(ours, changes)


@cache
def attacker_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@cache
def attacker_ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def public_pem(kind: str) -> bytes:
    if kind == "rsa-spki":
        return (
            attacker_rsa_key()
            .public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
    if kind == "rsa-pkcs1":
        return (
            attacker_rsa_key()
            .public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1)
        )
    if kind == "ec-spki":
        return (
            attacker_ec_key()
            .public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
    raise ValueError(kind)


def attacker_certificate_der() -> bytes:
    key = attacker_rsa_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mcp-code-server")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.DER)


# --- Requests and assertions ---------------------------------------------------------


def get_me(client, authorization: str | None, path: str = ME):
    if authorization is None:
        return client.get(path)
    return client.get(path, HTTP_AUTHORIZATION=authorization)


def me_with(client, token: str):
    return get_me(client, f"Bearer {token}")


def assert_rejected(response, description: str | None = INVALID) -> None:
    """401 + RFC 6750 invalid_token challenge (+ the uniform description, if given)."""
    assert response.status_code == 401, (response.status_code, response.content[:300])
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer ")
    assert 'error="invalid_token"' in challenge
    if description is not None:
        assert f'error_description="{description}"' in challenge
        assert response.json() == {"detail": description}


def assert_accepted(response, user) -> None:
    assert response.status_code == 200, (response.status_code, response.content[:300])
    assert response.json()["username"] == user.username


def verified_claims(token: str) -> dict:
    return jwt.decode(
        token,
        SIGNING_SECRET,
        algorithms=["HS256"],
        audience=AUDIENCE,
        issuer=ISSUER,
    )


@pytest.fixture
def tokens(viewer) -> dict:
    return login_tokens(viewer)


@pytest.fixture
def claims(tokens) -> dict:
    """The verified claims of a real access token: the base of every forged payload."""
    return verified_claims(tokens["access_token"])


@pytest.fixture
def outbound_attempts(monkeypatch) -> list:
    """Records (and blocks) every connection attempt to the attacker's port."""
    attempts: list = []
    real_create_connection = socket.create_connection
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def to_attacker(address) -> bool:
        return isinstance(address, tuple) and len(address) >= 2 and address[1] == ATTACKER_PORT

    def create_connection(address, *args, **kwargs):
        if to_attacker(address):
            attempts.append(address)
            raise ConnectionRefusedError("test: outbound connection to the attacker")
        return real_create_connection(address, *args, **kwargs)

    def connect(self, address):
        if to_attacker(address):
            attempts.append(address)
            raise ConnectionRefusedError("test: outbound connection to the attacker")
        return real_connect(self, address)

    def connect_ex(self, address):
        if to_attacker(address):
            attempts.append(address)
            return 111
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket, "create_connection", create_connection)
    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    return attempts


# --- Controls: the constructions below work with legitimate values ----------------------


def test_control_hand_forged_token_with_legitimate_values_is_accepted(
    api_client, viewer, tokens, claims
):
    assert_accepted(me_with(api_client, tokens["access_token"]), viewer)
    assert_accepted(me_with(api_client, forge(jose_header(), claims)), viewer)
    # And the endpoint is protected: no credentials, no access.
    response = get_me(api_client, None)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="mcp"'


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
def test_bearer_scheme_is_case_insensitive(api_client, viewer, tokens, scheme):
    assert_accepted(get_me(api_client, f"{scheme} {tokens['access_token']}"), viewer)


# --- Signature: alg none, edited payload, stripped signature, wrong secret ------------


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
@pytest.mark.parametrize("signature", ["empty", "absent", "real-hs256"])
def test_alg_none_is_refused(api_client, claims, alg, signature):
    header = jose_header(alg=alg)
    if signature == "real-hs256":
        # A genuine HS256 signature, in case "none" only skips the check.
        token = forge(header, claims, OUR_SECRET, "HS256")
    else:
        token = forge(header, claims, alg=None)  # "header.payload."
        if signature == "absent":
            token = token.rstrip(".")  # "header.payload"
    assert_rejected(me_with(api_client, token))


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda admin: {"scope": " ".join(MCP_SCOPES)}, id="scope-elevated-to-all"),
        pytest.param(lambda admin: {"sub": str(admin.pk)}, id="sub-changed-to-admin"),
        pytest.param(lambda admin: {"exp": int(time.time()) + 86400 * 365}, id="exp-extended"),
        pytest.param(lambda admin: {"sid": DROP}, id="sid-removed"),
    ],
)
def test_edited_payload_with_the_original_signature_is_refused(
    api_client, tokens, claims, admin_user, tamper
):
    head, _, signature = tokens["access_token"].split(".")
    edited = changed(claims, tamper(admin_user))
    assert_rejected(me_with(api_client, f"{head}.{segment(edited)}.{signature}"))
    # The same claims signed with the real key pass: only the signature stopped them.
    assert me_with(api_client, forge(jose_header(), edited)).status_code == 200


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda h, p, s, other: f"{h}.{p}.", id="signature-stripped"),
        pytest.param(lambda h, p, s, other: f"{h}.{p}", id="signature-segment-absent"),
        pytest.param(lambda h, p, s, other: f"{h}.{p}.{s[:-4]}", id="signature-truncated"),
        pytest.param(
            lambda h, p, s, other: f"{h}.{p}.{s[:10]}{'B' if s[10] == 'A' else 'A'}{s[11:]}",
            id="signature-one-char-changed",
        ),
        pytest.param(
            lambda h, p, s, other: f"{h}.{p}.{other.split('.')[2]}",
            id="signature-of-another-token",
        ),
    ],
)
def test_real_token_with_a_broken_signature_is_refused(api_client, viewer, tokens, mangle):
    other = login_tokens(viewer)["access_token"]
    h, p, s = tokens["access_token"].split(".")
    assert_rejected(me_with(api_client, mangle(h, p, s, other)))


@pytest.mark.parametrize(
    "key",
    [
        pytest.param(ATTACKER_SECRET, id="attacker-64-byte-secret"),
        pytest.param(b"secret", id="guessable-secret"),
        pytest.param(b"", id="empty-key"),
        pytest.param(lambda: settings.SECRET_KEY.encode(), id="django-secret-key"),
    ],
)
def test_token_signed_with_another_secret_is_refused(api_client, claims, key):
    key = key() if callable(key) else key
    assert_rejected(me_with(api_client, forge(jose_header(), claims, key, "HS256")))


# --- Algorithm confusion ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header_alg", "pem_kind"),
    [
        pytest.param("RS256", "rsa-spki", id="RS256-header-spki-pem"),
        pytest.param("RS256", "rsa-pkcs1", id="RS256-header-pkcs1-pem"),
        pytest.param("ES256", "ec-spki", id="ES256-header-ec-pem"),
        pytest.param("HS256", "rsa-spki", id="HS256-header-spki-pem"),
    ],
)
def test_hmac_signed_with_a_public_key_pem_is_refused(api_client, claims, header_alg, pem_kind):
    token = forge(jose_header(alg=header_alg), claims, public_pem(pem_kind), "HS256")
    assert_rejected(me_with(api_client, token))


@pytest.mark.parametrize("alg", ["HS384", "HS512"])
def test_other_hmac_algorithm_with_the_real_secret_is_refused(api_client, claims, alg):
    assert_rejected(me_with(api_client, forge(jose_header(alg=alg), claims, OUR_SECRET, alg)))


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_asymmetric_token_signed_by_the_attacker_is_refused(api_client, claims, alg):
    key = attacker_rsa_key() if alg == "RS256" else attacker_ec_key()
    assert_rejected(me_with(api_client, forge(jose_header(alg=alg), claims, key, alg)))


# --- Header injection: keys and key URLs supplied by the token -----------------------------


def test_embedded_rsa_jwk_is_refused(api_client, claims):
    jwk = RSAAlgorithm.to_jwk(attacker_rsa_key().public_key(), as_dict=True)
    header = jose_header(alg="RS256", jwk=jwk)
    assert_rejected(me_with(api_client, forge(header, claims, attacker_rsa_key(), "RS256")))


def test_embedded_symmetric_jwk_is_refused(api_client, claims):
    header = jose_header(jwk={"kty": "oct", "k": b64url(ATTACKER_SECRET)})
    assert_rejected(me_with(api_client, forge(header, claims, ATTACKER_SECRET, "HS256")))


@pytest.mark.parametrize("field", ["jku", "x5u"])
@pytest.mark.parametrize("kid", ["ours", "attacker"])
def test_key_url_header_is_refused_without_fetching(
    api_client, claims, outbound_attempts, field, kid
):
    header = jose_header(alg="RS256", **{field: ATTACKER_URL + "jwks.json"})
    if kid == "attacker":
        header["kid"] = "attacker-key-1"
    token = forge(header, claims, attacker_rsa_key(), "RS256")
    started = time.monotonic()
    response = me_with(api_client, token)
    assert time.monotonic() - started < 2
    assert_rejected(response)
    assert outbound_attempts == []


def test_outbound_guard_does_see_connections_to_the_attacker(outbound_attempts):
    """Control for the test above: the guard records an attempt if one is made."""
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", ATTACKER_PORT), timeout=1)
    assert outbound_attempts == [("127.0.0.1", ATTACKER_PORT)]


def test_x5c_certificate_chain_header_is_refused(api_client, claims):
    header = jose_header(alg="RS256", x5c=[base64.b64encode(attacker_certificate_der()).decode()])
    assert_rejected(me_with(api_client, forge(header, claims, attacker_rsa_key(), "RS256")))


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param({"jwk": {"kty": "oct", "k": b64url(ATTACKER_SECRET)}}, id="jwk"),
        pytest.param({"jku": ATTACKER_URL}, id="jku"),
        pytest.param({"x5u": ATTACKER_URL}, id="x5u"),
        pytest.param({"x5c": ["MIIB"]}, id="x5c"),
        pytest.param({"x5t": "AAAA"}, id="x5t"),
        pytest.param({"crit": ["b64"]}, id="crit-b64-which-pyjwt-supports"),
        pytest.param({"cty": "JWT"}, id="cty"),
        pytest.param({"zip": "DEF"}, id="zip"),
    ],
)
def test_header_field_outside_the_allow_list_is_refused_even_with_the_real_key(
    api_client, claims, outbound_attempts, extra
):
    assert_rejected(me_with(api_client, forge(jose_header(**extra), claims)))
    assert outbound_attempts == []


@pytest.mark.parametrize(
    "kid",
    [
        pytest.param("../../../../dev/null", id="path-traversal-dev-null"),
        pytest.param("' OR '1'='1", id="sql-injection"),
        pytest.param("/etc/passwd", id="absolute-path"),
        pytest.param(ATTACKER_URL + "key", id="url"),
        pytest.param("", id="empty"),
        pytest.param("k" * 2500, id="long-2500-within-length-limit"),
        pytest.param("k" * 5000, id="long-5000"),
        pytest.param(123, id="number"),
        pytest.param(["kid"], id="list"),
        pytest.param(None, id="null"),
        pytest.param(DROP, id="missing"),
    ],
)
def test_kid_injection_with_the_real_secret_is_refused(api_client, claims, outbound_attempts, kid):
    assert_rejected(me_with(api_client, forge(jose_header(kid=kid), claims)))
    assert outbound_attempts == []


def test_unknown_critical_extension_is_refused(api_client, claims):
    token = forge(jose_header(crit=["exp"]), claims)
    assert_rejected(me_with(api_client, token))


@pytest.mark.parametrize("payload_segment", ["detached", "attached"])
def test_unencoded_payload_b64_false_is_refused(api_client, claims, payload_segment):
    """RFC 7797: the signature covers the raw payload, not its base64url form."""
    header = segment(jose_header(crit=["b64"], b64=False))
    raw_payload = json.dumps(claims, separators=(",", ":"))
    signature = b64url(sign(f"{header}.{raw_payload}".encode(), OUR_SECRET, "HS256"))
    sent = "" if payload_segment == "detached" else segment(claims)
    assert_rejected(me_with(api_client, f"{header}.{sent}.{signature}"))


# --- Claims (signed with the real secret and kid) -----------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param(lambda now: {"exp": DROP}, id="exp-missing"),
        pytest.param(lambda now: {"exp": "tomorrow"}, id="exp-non-numeric"),
        pytest.param(lambda now: {"nbf": now + LEEWAY + 3600}, id="nbf-future"),
        pytest.param(lambda now: {"iat": now + LEEWAY + 3600}, id="iat-future"),
        pytest.param(lambda now: {"iat": DROP}, id="iat-missing"),
        pytest.param(lambda now: {"iat": "yesterday"}, id="iat-non-numeric"),
        pytest.param(lambda now: {"jti": DROP}, id="jti-missing"),
        pytest.param(lambda now: {"sub": DROP}, id="sub-missing"),
        pytest.param(lambda now: {"type": DROP}, id="type-missing"),
        pytest.param(lambda now: {"type": "refresh"}, id="type-refresh"),
        pytest.param(lambda now: {"type": "Access"}, id="type-wrong-case"),
        pytest.param(lambda now: {"aud": "another-service"}, id="aud-wrong"),
        pytest.param(lambda now: {"aud": DROP}, id="aud-missing"),
        pytest.param(lambda now: {"aud": [AUDIENCE, "another-service"]}, id="aud-list"),
        pytest.param(lambda now: {"aud": [AUDIENCE]}, id="aud-list-of-ours-only"),
        pytest.param(lambda now: {"aud": AUDIENCE + ".evil"}, id="aud-superstring"),
        pytest.param(lambda now: {"iss": "https://attacker.example"}, id="iss-wrong"),
        pytest.param(lambda now: {"iss": DROP}, id="iss-missing"),
        pytest.param(lambda now: {"iss": ISSUER + "-evil"}, id="iss-superstring"),
        pytest.param(lambda now: {"iss": ISSUER[:-1]}, id="iss-substring"),
        pytest.param(lambda now: {"iss": [ISSUER]}, id="iss-list"),
    ],
)
def test_invalid_claims_are_refused(api_client, claims, changes):
    token = forge(jose_header(), changed(claims, changes(time.time())))
    assert_rejected(me_with(api_client, token))


def test_exp_in_the_past_beyond_leeway_says_token_has_expired(api_client, viewer, claims):
    now = time.time()
    within_leeway = changed(claims, {"exp": int(now) - LEEWAY // 2})
    assert_accepted(me_with(api_client, forge(jose_header(), within_leeway)), viewer)

    expired = changed(claims, {"iat": now - 3600, "exp": int(now) - LEEWAY - 60})
    assert_rejected(me_with(api_client, forge(jose_header(), expired)), description=EXPIRED)


@pytest.mark.parametrize(
    "exp",
    [
        pytest.param(lambda now: str(int(now) + 600), id="numeric-string"),
        pytest.param(lambda now: 253402300800, id="year-10000"),
        pytest.param(lambda now: 10**20, id="1e20"),
    ],
)
@pytest.mark.parametrize("endpoint", ["me", "refresh"])
def test_exp_that_pyjwt_accepts_but_is_no_timestamp_is_401_not_500(
    api_client, tokens, exp, endpoint
):
    """PyJWT only checks int(exp); SimpleJWT's Token.verify then builds a datetime from it."""
    kind = "access_token" if endpoint == "me" else "refresh_token"
    real = verified_claims(tokens[kind])
    token = forge(jose_header(), changed(real, {"exp": exp(time.time())}))
    if endpoint == "me":
        response = me_with(api_client, token)
    else:
        response = api_client.post(REFRESH, {"refresh_token": token}, format="json")
    assert_rejected(response, description=None)


# --- Cross-JWT confusion -------------------------------------------------------------------


def test_refresh_token_used_as_bearer_is_refused(api_client, viewer, tokens):
    assert_rejected(me_with(api_client, tokens["refresh_token"]))
    assert_accepted(me_with(api_client, tokens["access_token"]), viewer)


def test_access_token_posted_to_refresh_is_refused(api_client, tokens):
    response = api_client.post(REFRESH, {"refresh_token": tokens["access_token"]}, format="json")
    assert_rejected(response)
    # Control: the endpoint does accept the real refresh token.
    response = api_client.post(REFRESH, {"refresh_token": tokens["refresh_token"]}, format="json")
    assert response.status_code == 200
    assert "access_token" in response.json()


# --- Malformed input ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("authorization", "description"),
    [
        pytest.param("Bearer", MALFORMED_HEADER, id="bearer-alone"),
        pytest.param("Bearer   ", MALFORMED_HEADER, id="bearer-and-spaces"),
        pytest.param("Bearer a b", MALFORMED_HEADER, id="two-credentials"),
        pytest.param("Bearer ....", INVALID, id="only-dots"),
        pytest.param("Bearer " + "A" * 10000, INVALID, id="10000-chars"),
        pytest.param("Bearer \xe9\xe9", INVALID, id="non-ascii-latin1"),
        pytest.param("Bearer " + "\xe9" * 3 + ".e30.", INVALID, id="non-ascii-in-segments"),
        pytest.param("Bearer !!!!.@@@@.####", INVALID, id="base64-garbage"),
        pytest.param("Bearer e30", INVALID, id="one-segment"),
        pytest.param("Bearer e30.e30.e30.e30.e30", INVALID, id="jwe-shape-4-dots"),
        pytest.param("Bearer a.b.c.d.e.f.g", INVALID, id="6-dots"),
        pytest.param(
            'Bearer {"payload":"e30","signatures":[{"protected":"e30","signature":"AA"}]}',
            INVALID,
            id="jws-json-serialization",
        ),
    ],
)
def test_malformed_authorization_header_is_refused(api_client, authorization, description):
    assert_rejected(get_me(api_client, authorization), description=description)


@pytest.mark.parametrize(
    "extra_segments", [".e30.e30", ".e30.e30.e30.e30"], ids=["4-dots", "6-dots"]
)
def test_real_token_with_extra_segments_is_refused(api_client, tokens, extra_segments):
    token = tokens["access_token"] + extra_segments
    assert token.count(".") in (4, 6)
    assert_rejected(me_with(api_client, token))


@pytest.mark.parametrize(
    ("header", "payload"),
    [
        pytest.param(["HS256"], "CLAIMS", id="header-json-list"),
        pytest.param("HS256", "CLAIMS", id="header-json-string"),
        pytest.param(b"not json", "CLAIMS", id="header-not-json"),
        pytest.param("OURS", ["sub", "1"], id="payload-json-list"),
        pytest.param("OURS", "a string", id="payload-json-string"),
        pytest.param("OURS", b"\xff\xfe{}", id="payload-not-utf8"),
        pytest.param("OURS", b"[" * 100000, id="payload-nested-100000"),
    ],
)
def test_undecodable_segments_signed_with_the_real_secret_are_refused(
    api_client, claims, header, payload
):
    token = forge(
        jose_header() if header == "OURS" else header,
        claims if payload == "CLAIMS" else payload,
    )
    assert_rejected(me_with(api_client, token))


@pytest.mark.parametrize("part", ["header", "payload"])
def test_nested_json_within_the_length_limit_reaches_the_parser(api_client, claims, part):
    """2600 levels fit under MAX_TOKEN_LENGTH, so the JSON decoder itself must cope."""
    nested = b"[" * 2600
    token = forge(nested, claims) if part == "header" else forge(jose_header(), nested)
    assert len(token) <= auth_settings.MAX_TOKEN_LENGTH
    assert_rejected(me_with(api_client, token))


# --- Transport ------------------------------------------------------------------------------


def test_token_in_the_query_string_is_ignored(api_client, viewer, tokens):
    response = api_client.get(ME, {"access_token": tokens["access_token"]})
    assert response.status_code == 401
    # RFC 6750 section 3.1: no credentials were presented, so no error code.
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="mcp"'
    assert_accepted(me_with(api_client, tokens["access_token"]), viewer)


def test_deeply_nested_login_body_is_400_not_500(api_client):
    response = api_client.post(LOGIN, "[" * 100000, content_type="application/json")
    assert response.status_code == 400
    assert "WWW-Authenticate" not in response.headers
    assert response.json() == {"detail": "JSON parse error - nesting too deep"}
