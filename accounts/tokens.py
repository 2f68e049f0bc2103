"""JWTs: SimpleJWT's token classes with a backend that signs with a `kid`.

SimpleJWT signs with one key and ignores `kid`. `KeyedTokenBackend` signs with
the active signing key (accounts.signing.key_ring), puts its `kid` in every
header, and verifies by looking the `kid` up among the active and verify-only
keys, using that key's own algorithm only. The `kid` is only ever a
dictionary key: never a path, a query or a URL.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import time
from datetime import datetime

import jwt
from rest_framework_simplejwt.backends import TokenBackend
from rest_framework_simplejwt.exceptions import TokenBackendError, TokenBackendExpiredToken
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import AccessToken as SimpleAccessToken
from rest_framework_simplejwt.tokens import Token

from accounts.conf import auth_settings
from accounts.signing import key_ring

# Anything else in a header (jwk, jku, x5u, x5c, crit, b64, ...) asks the
# verifier to trust material from the token itself: refuse it outright.
ALLOWED_HEADER_FIELDS = frozenset({"alg", "typ", "kid"})
REQUIRED_CLAIMS = ["exp", "iat", "jti", "sub", "type", "iss", "aud"]
MAX_KID_LENGTH = 64


class KeyedTokenBackend(TokenBackend):
    """Reads SIMPLE_JWT when used, so rotating keys needs no restart of this object."""

    def __init__(self) -> None:
        # Nothing to hold: keys and settings are read on every call.
        pass

    @property
    def leeway(self):
        return api_settings.LEEWAY

    def encode(self, payload: dict) -> str:
        key = key_ring.signing_key()
        claims = {**payload, "iss": api_settings.ISSUER, "aud": api_settings.AUDIENCE}
        return jwt.encode(
            claims,
            key.signing_key,
            algorithm=key.algorithm,
            headers={"kid": key.kid, "typ": "JWT"},
        )

    def decode(self, token, verify: bool = True) -> dict:
        if not verify:
            # Nothing in this project reads an unverified payload.
            raise TokenBackendError("Token is invalid")
        if isinstance(token, bytes):
            try:
                token = token.decode("ascii")
            except UnicodeDecodeError:
                raise TokenBackendError("Token is invalid") from None
        if not isinstance(token, str) or len(token) > auth_settings.MAX_TOKEN_LENGTH:
            raise TokenBackendError("Token is invalid")
        header = _unverified_header(token)
        if not ALLOWED_HEADER_FIELDS.issuperset(header):
            raise TokenBackendError("Token is invalid")
        kid = header.get("kid")
        if not isinstance(kid, str) or not 0 < len(kid) <= MAX_KID_LENGTH:
            raise TokenBackendError("Token is invalid")
        key = key_ring.verification_key(kid)
        if key is None or header.get("alg") != key.algorithm:
            raise TokenBackendError("Token is invalid")
        try:
            payload = jwt.decode(
                token,
                key.verifying_key,
                algorithms=[key.algorithm],
                audience=api_settings.AUDIENCE,
                issuer=api_settings.ISSUER,
                leeway=leeway_seconds(),
                options={"require": REQUIRED_CLAIMS, "strict_aud": True},
            )
        except jwt.ExpiredSignatureError:
            raise TokenBackendExpiredToken("Token has expired") from None
        except (jwt.InvalidTokenError, ValueError, TypeError):
            raise TokenBackendError("Token is invalid") from None
        # PyJWT accepts anything int() accepts ("123", 10**20); SimpleJWT then
        # turns it into a datetime and would crash.
        for claim in ("exp", "iat", "nbf"):
            if claim in payload and not _is_numeric_date(payload[claim]):
                raise TokenBackendError("Token is invalid")
        return payload


_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")


def _unverified_header(token: str) -> dict:
    """The header, to choose the key by its `kid`; jwt.decode then parses and checks the
    whole token, header included, as it verifies it. PyJWT's get_unverified_header would
    parse every segment too, testing each character in Python: half of a decode's cost."""
    head, dot, _rest = token.partition(".")
    if not dot or not _BASE64URL.fullmatch(head) or len(head) % 4 == 1:
        raise TokenBackendError("Token is invalid")
    try:
        header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    except (ValueError, binascii.Error, RecursionError):  # nested deeper than json follows
        raise TokenBackendError("Token is invalid") from None
    if not isinstance(header, dict):
        raise TokenBackendError("Token is invalid")
    return header


# 9999-12-31T23:59:59Z, the last moment a datetime can hold.
MAX_NUMERIC_DATE = 253_402_300_799


def _is_numeric_date(value) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and 0 <= value <= MAX_NUMERIC_DATE
    )


def leeway_seconds() -> float:
    return token_backend.get_leeway().total_seconds()


token_backend = KeyedTokenBackend()


class KeyedToken(Token):
    _token_backend = token_backend

    def set_iat(self, claim: str = "iat", at_time: datetime | None = None) -> None:
        # Millisecond precision: "reject tokens issued before T" (logout-all,
        # password change) must not spare a token from the same second, nor
        # reject a login made just after.
        moment = at_time.timestamp() if at_time is not None else time.time()
        # Rounded down, never up: a token must not look younger than it is.
        self.payload[claim] = math.floor(moment * 1000) / 1000


class AccessToken(KeyedToken, SimpleAccessToken):
    token_type = "access"

    @property
    def lifetime(self):
        return api_settings.ACCESS_TOKEN_LIFETIME


class RefreshToken(KeyedToken):
    """Deliberately not SimpleJWT's RefreshToken: its blacklist app and claim
    copying are replaced by LoginSession (see accounts.services)."""

    token_type = "refresh"

    @property
    def lifetime(self):
        return api_settings.REFRESH_TOKEN_LIFETIME
