"""A database that stopped answering is a 503 the client can retry, not a 500."""

from __future__ import annotations

import logging

from django.db import InterfaceError, OperationalError
from django.http import JsonResponse

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5


class DatabaseUnavailableMiddleware:
    """Connection-level database errors (the server restarting, the network gone) reach
    views as OperationalError or InterfaceError. Django would answer 500; the request
    was fine, so say 503 with Retry-After. Django's connection health checks
    (CONN_HEALTH_CHECKS) reconnect on the next request once the database is back."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        # With the traceback: an OperationalError may also be a bug (SQLite's "no such
        # table"), which must not hide behind the 503.
        logger.error("database error answered with 503: %s", exception, exc_info=exception)
        response = JsonResponse(
            {"detail": "The database is unavailable. Try again shortly."}, status=503
        )
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response


class NoStoreMiddleware:
    """API answers carry code, tokens, keys and audit records: no cache (a browser's, a
    proxy's) may keep them. Every answer under /api/, /auth/ and /mcp that does not set
    its own Cache-Control (the JWKS and the metadata are public and do) gets no-store."""

    PREFIXES = ("/api/", "/auth/", "/mcp")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.path.startswith(self.PREFIXES) and not response.has_header("Cache-Control"):
            response["Cache-Control"] = "no-store"
        return response
