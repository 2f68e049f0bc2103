"""Error responses: RFC 6750 challenges for tokens, JSON everywhere, never a trace."""

from __future__ import annotations

import logging

from django.http import JsonResponse
from rest_framework import status
from rest_framework.views import exception_handler as drf_exception_handler

from accounts.conf import auth_settings
from accounts.exceptions import InsufficientScope, InvalidScope, RevocationStoreUnavailable

logger = logging.getLogger(__name__)

REALM = "mcp"


def quoted(text: str) -> str:
    # Header parameter values are quoted-strings: no quotes, backslashes or newlines.
    return "".join(ch for ch in str(text) if ch.isprintable() and ch not in '"\\')


def bearer_challenge(exc: Exception) -> str:
    """The WWW-Authenticate value for a 401 or 403 (RFC 6750 section 3)."""
    if isinstance(exc, InsufficientScope):
        return f'Bearer error="insufficient_scope", scope="{quoted(" ".join(exc.scopes))}"'
    if getattr(exc, "default_code", None) == "invalid_token":
        return (
            f'Bearer realm="{REALM}", error="invalid_token", '
            f'error_description="{quoted(exc.detail)}"'
        )
    # No credentials at all: RFC 6750 section 3.1 says no error code.
    return f'Bearer realm="{REALM}"'


def api_exception_handler(exc, context):
    response = drf_exception_handler(exc, context)
    if response is None:
        # A database outage is turned into a 503 by DatabaseUnavailableMiddleware;
        # anything else, Django's handler500 answers, in JSON, without details.
        return None
    if response.status_code == status.HTTP_401_UNAUTHORIZED or isinstance(exc, InsufficientScope):
        response["WWW-Authenticate"] = bearer_challenge(exc)
    if isinstance(exc, InvalidScope):
        response.data = {"error": "invalid_scope", "detail": str(exc.detail)}
    if getattr(exc, "extra", None):
        response.data = {"detail": str(exc.detail), **exc.extra}
    if isinstance(exc, RevocationStoreUnavailable):
        response["Retry-After"] = str(auth_settings.UNAVAILABLE_RETRY_AFTER)
    return response


def server_error(request, *args, **kwargs):
    return JsonResponse(
        {"detail": "Internal server error"}, status=status.HTTP_500_INTERNAL_SERVER_ERROR
    )


def bad_request(request, exception, *args, **kwargs):
    return JsonResponse({"detail": "Bad request"}, status=status.HTTP_400_BAD_REQUEST)


def permission_denied(request, exception, *args, **kwargs):
    return JsonResponse({"detail": "Forbidden"}, status=status.HTTP_403_FORBIDDEN)


def not_found(request, exception, *args, **kwargs):
    return JsonResponse({"detail": "Not found"}, status=status.HTTP_404_NOT_FOUND)
