"""The errors of the token layer, each with its HTTP status.

mcpserver.exceptions.api_exception_handler turns them into RFC 6750 responses
(the WWW-Authenticate header is built there, in one place).
"""

from __future__ import annotations

from rest_framework import exceptions, status


class InvalidToken(exceptions.AuthenticationFailed):
    """Missing-signature, malformed, expired or revoked bearer token: 401 invalid_token."""

    default_detail = "Token is invalid"
    default_code = "invalid_token"


class TokenExpired(InvalidToken):
    default_detail = "Token has expired"


class TokenRevoked(InvalidToken):
    default_detail = "Token has been revoked"


class InvalidApiKey(InvalidToken):
    """One body for malformed, unknown, revoked and expired keys."""

    default_detail = "Invalid API key"


class BadCredentials(exceptions.AuthenticationFailed):
    """Login failure: one body for unknown user, wrong password and inactive user."""

    default_detail = "Incorrect username or password"
    default_code = "invalid_grant"


class InsufficientScope(exceptions.PermissionDenied):
    default_code = "insufficient_scope"

    def __init__(self, scopes: list[str], *, any_of: bool = False):
        self.scopes = scopes
        joined = (" or " if any_of else " and ").join(scopes)
        super().__init__(detail=f"Permission required: {joined}")


class InvalidScope(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "invalid_scope"


class LoginLocked(exceptions.Throttled):
    default_detail = "Too many failed logins from this address. Try again later."


class LoginDelayed(LoginLocked):
    """The name is under a spread-out attack: addresses it has not signed in from wait."""

    default_detail = (
        "Too many failed logins for this account from many addresses: from an address it "
        "has not signed in from before, wait before trying again."
    )


class RevocationStoreUnavailable(exceptions.APIException):
    """The shared cache did not answer: fail closed."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = (
        "The token revocation store is unavailable, so credentials cannot be checked. "
        "Try again shortly."
    )
    default_code = "revocation_store_unavailable"
