"""The HTTP edge of MCP: /mcp (Streamable HTTP, JSON responses) and RFC 9728 metadata.

Order of checks on /mcp, each failing closed: Origin (403, against DNS rebinding),
Bearer authentication with a JWT or an API key (401 with a challenge that points
at the protected-resource metadata), then size (413), media type (415) and JSON
(400), then the protocol (mcpserver/mcp/protocol.py), where a tool the caller's
scopes do not cover is a 403 insufficient_scope.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import scopes
from accounts.conf import auth_settings
from accounts.exceptions import RevocationStoreUnavailable
from mcpserver.exceptions import REALM, quoted
from mcpserver.mcp.protocol import INVALID_REQUEST, PARSE_ERROR, Exchange, error_body
from mcpserver.mcp.tools import TOOLS

METADATA_PATH = "/.well-known/oauth-protected-resource/mcp"
# The scope a client should ask for first: enough to list and use the search tools.
BASELINE_SCOPES = (scopes.SEARCH_CODE,)


def public_base(request) -> str:
    return settings.MCP_PUBLIC_URL or request.build_absolute_uri("/").rstrip("/")


def resource_url(request) -> str:
    return settings.MCP_RESOURCE_URL or f"{public_base(request)}/mcp"


def challenge(
    request, *, error: str | None = None, description: str = "", scope=BASELINE_SCOPES
) -> str:
    """WWW-Authenticate for /mcp (RFC 6750 section 3, RFC 9728 section 5.1)."""
    parts = [
        f'Bearer realm="{REALM}"',
        f'resource_metadata="{quoted(public_base(request) + METADATA_PATH)}"',
        f'scope="{quoted(" ".join(scope))}"',
    ]
    if error:
        parts.append(f'error="{error}"')
        if description:
            parts.append(f'error_description="{quoted(description)}"')
    return ", ".join(parts)


class OriginRefused(exceptions.PermissionDenied):
    default_detail = "Origin not allowed."


def origin_allowed(request) -> bool:
    """Browsers send Origin; a page on another site must not reach a local server
    through DNS rebinding. Same origin, CORS_ALLOWED_ORIGINS and MCP_PUBLIC_URL pass."""
    origin = request.META.get("HTTP_ORIGIN")
    if origin is None:
        return True  # not a browser
    if settings.CORS_ALLOW_ALL_ORIGINS or origin in settings.CORS_ALLOWED_ORIGINS:
        return True
    try:
        netloc = urlsplit(origin).netloc
    except ValueError:
        return False
    if not netloc:
        return False  # "null" and other opaque origins
    allowed = {request.get_host()}
    if settings.MCP_PUBLIC_URL:
        allowed.add(urlsplit(settings.MCP_PUBLIC_URL).netloc)
    return netloc in allowed


class McpView(APIView):
    """POST one JSON-RPC message; the answer is one JSON object (or 202 for notifications)."""

    permission_classes = []  # checked in initial(), to answer with the MCP challenge
    parser_classes = []  # the body is read raw, so bad JSON is a JSON-RPC parse error
    http_method_names = ["post", "get", "delete", "options"]

    @property
    def allowed_methods(self) -> list[str]:
        return ["POST"]  # DRF sends this as Allow; GET and DELETE answer 405

    def initial(self, request, *args, **kwargs):
        if not origin_allowed(request):
            raise OriginRefused()
        super().initial(request, *args, **kwargs)
        if not (request.user and request.user.is_authenticated):
            raise exceptions.NotAuthenticated()

    @extend_schema(exclude=True)
    def post(self, request):
        length = request.META.get("CONTENT_LENGTH") or "0"
        if not length.isdigit() or int(length) > settings.MCP_MAX_REQUEST_BYTES:
            return _jsonrpc_error(
                413,
                INVALID_REQUEST,
                f"The message is larger than {settings.MCP_MAX_REQUEST_BYTES} bytes.",
            )
        media_type = request.content_type.split(";")[0].strip().lower()
        if media_type != "application/json":
            return _jsonrpc_error(415, INVALID_REQUEST, "Send the message as application/json.")
        try:
            message = json.loads(request.body, parse_constant=_no_constants)
        except (ValueError, RecursionError):
            return _jsonrpc_error(400, PARSE_ERROR, "Parse error: the body is not valid JSON.")
        headers = {name.lower(): value for name, value in request.headers.items()}
        answer = Exchange(principal=request.user, headers=headers, message=message).handle()
        if answer.body is None:
            return HttpResponse(status=answer.status)
        response = JsonResponse(answer.body, status=answer.status)
        if answer.status == status.HTTP_403_FORBIDDEN:
            response["WWW-Authenticate"] = challenge(
                request,
                error="insufficient_scope",
                description=answer.body["error"]["message"],
                scope=answer.missing_scopes,
            )
        return response

    @extend_schema(exclude=True)
    def get(self, request):
        # No server-sent event stream: every answer comes back on its POST.
        return _method_not_allowed()

    @extend_schema(exclude=True)
    def delete(self, request):
        return _method_not_allowed()  # no sessions to end

    def handle_exception(self, exc):
        if not isinstance(exc, exceptions.APIException):
            return super().handle_exception(exc)
        code = exc.status_code
        response = _jsonrpc_error(code, INVALID_REQUEST, _detail(exc))
        if code == status.HTTP_401_UNAUTHORIZED:
            sent = not isinstance(exc, exceptions.NotAuthenticated)
            response["WWW-Authenticate"] = challenge(
                self.request, error="invalid_token" if sent else None, description=_detail(exc)
            )
        elif isinstance(exc, RevocationStoreUnavailable):
            response["Retry-After"] = str(auth_settings.UNAVAILABLE_RETRY_AFTER)
        elif isinstance(exc, exceptions.MethodNotAllowed):
            response["Allow"] = "POST"
        elif getattr(exc, "wait", None):
            response["Retry-After"] = str(int(exc.wait))
        return response


def _detail(exc: exceptions.APIException) -> str:
    detail = exc.detail
    return str(detail if not isinstance(detail, (list, dict)) else exc.default_detail)


def _no_constants(name: str):
    raise ValueError(f"{name} is not JSON")


def _jsonrpc_error(http_status: int, code: int, message: str) -> JsonResponse:
    return JsonResponse(error_body(None, code, message), status=http_status)


def _method_not_allowed() -> JsonResponse:
    response = _jsonrpc_error(
        405, INVALID_REQUEST, "Use POST: this server does not open event streams."
    )
    response["Allow"] = "POST"
    return response


class ProtectedResourceMetadataView(APIView):
    """RFC 9728 metadata for /mcp, at the root and the path-suffixed well-known URLs."""

    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(exclude=True)
    def get(self, request):
        used = sorted({scope for tool in TOOLS for scope in (*tool.scopes, *tool.any_scopes)})
        response = Response(
            {
                "resource": resource_url(request),
                "authorization_servers": settings.MCP_AUTHORIZATION_SERVERS
                or [public_base(request)],
                "scopes_supported": used,
                "bearer_methods_supported": ["header"],
                "resource_name": "Code search MCP server",
                "resource_documentation": f"{public_base(request)}/api/docs/",
            }
        )
        response["Access-Control-Allow-Origin"] = "*"  # public metadata, for browser clients
        response["Cache-Control"] = "public, max-age=3600"
        return response
