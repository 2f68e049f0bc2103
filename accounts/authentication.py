"""Bearer authentication: the principal comes from the token, not the database.

The path for every protected request is: parse the header, verify the JWT
(signature by `kid`, claims), one cache round trip for revocation, build a
TokenPrincipal from the claims. No SQL query.
"""

from __future__ import annotations

from rest_framework_simplejwt.authentication import JWTStatelessUserAuthentication
from rest_framework_simplejwt.exceptions import ExpiredTokenError, TokenError
from rest_framework_simplejwt.models import TokenUser

from accounts import apikeys, revocation
from accounts.exceptions import InvalidToken, TokenExpired
from accounts.scopes import MCP_SCOPES
from accounts.tokens import AccessToken

BEARER = b"bearer"


class TokenPrincipal(TokenUser):
    """The caller as its access token describes it."""

    auth_method = "jwt"

    @property
    def scopes(self) -> frozenset[str]:
        claimed = self.token.get("scope", "")
        if not isinstance(claimed, str):
            return frozenset()
        return frozenset(claimed.split()) & frozenset(MCP_SCOPES)

    @property
    def session_id(self) -> str | None:
        return self.token.get("sid")

    @property
    def username(self) -> str:
        # TokenUser's own reads SIMPLE_JWT's USERNAME_CLAIM; ours is "username".
        return self.token.get("username", "")

    @property
    def role_name(self) -> str:
        """The role the token was issued under; "" for a token from before it was carried."""
        return self.token.get("role", "")

    @property
    def expires_at(self) -> float | None:
        return self.token.get("exp")


class BearerTokenAuthentication(JWTStatelessUserAuthentication):
    www_authenticate_realm = "mcp"

    def authenticate(self, request):
        raw_token = self.get_raw_token(self.get_header(request) or b"")
        if raw_token is None:
            return None
        token = self.get_validated_token(raw_token)
        revocation.ensure_not_revoked(token.payload)
        return TokenPrincipal(token), token

    def get_raw_token(self, header: bytes) -> bytes | None:
        # RFC 7235: the scheme is case-insensitive ("bearer", "BEARER").
        scheme, _, credentials = header.strip().partition(b" ")
        if scheme.lower() != BEARER:
            return None
        credentials = credentials.strip()
        if apikeys.looks_like_key(credentials.decode("latin-1")):
            return None  # an API key: ApiKeyAuthentication's business
        if not credentials or b" " in credentials:
            raise InvalidToken("Authorization header must be 'Bearer <token>'")
        return credentials

    def get_validated_token(self, raw_token: bytes) -> AccessToken:
        try:
            return AccessToken(raw_token)
        except ExpiredTokenError:
            raise TokenExpired() from None
        except TokenError:
            raise InvalidToken() from None

    def authenticate_header(self, request) -> str:
        return f'Bearer realm="{self.www_authenticate_realm}"'
