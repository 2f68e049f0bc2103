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
from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse, JsonResponse
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import scopes, throttling
from accounts.conf import auth_settings
from accounts.exceptions import RevocationStoreUnavailable
from mcpserver.exceptions import REALM, quoted
from mcpserver.mcp.protocol import (
    INVALID_REQUEST,
    PARSE_ERROR,
    RATE_LIMITED,
    Exchange,
    ProtocolError,
    error_body,
)
from mcpserver.mcp.tools import TOOLS

METADATA_PATH = "/.well-known/oauth-protected-resource/mcp"
# The scope a client should ask for first: enough to list and use the search tools.
BASELINE_SCOPES = (scopes.SEARCH_CODE,)


def public_base(request) -> str:
    return settings.MCP_PUBLIC_URL or request.build_absolute_uri("/").rstrip("/")


def resource_url(request) -> str:
    return f"{public_base(request)}/mcp"


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


def _origin_of(url: str) -> str | None:
    """scheme://host[:port], lower case, default ports dropped; None if not an origin."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    default = {"http": 80, "https": 443}[parts.scheme]
    host = parts.hostname.rstrip(".").lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")


def origin_allowed(request) -> bool:
    """Browsers send Origin; a page on another site must not reach a local server
    through DNS rebinding. Allowed: CORS_ALLOWED_ORIGINS, and this server's own origin,
    which is MCP_PUBLIC_URL's when set (in a rebinding attack the Host header is the
    attacker's name, so only a configured origin is proof), else the request's own
    scheme and host (development: ALLOWED_HOSTS is loopback only)."""
    origin = request.META.get("HTTP_ORIGIN")
    if origin is None:
        return True  # not a browser
    if settings.CORS_ALLOW_ALL_ORIGINS:
        return True
    normalized = _origin_of(origin)
    if normalized is None:
        return False  # "null" and other opaque origins
    allowed = {_origin_of(item) for item in settings.CORS_ALLOWED_ORIGINS}
    if settings.MCP_PUBLIC_URL:
        allowed.add(_origin_of(settings.MCP_PUBLIC_URL))
    else:
        allowed.add(_origin_of(f"{request.scheme}://{request.get_host()}"))
    return normalized in allowed


def tool_call_limit(request):
    """Each tool call takes one call of the caller's budget, shared with the REST search
    and file endpoints (accounts.throttling.call_budget_take)."""

    def check(tool) -> None:
        try:
            throttling.call_budget_take(principal=request.user)
        except throttling.CallRateExceeded as exc:
            raise ProtocolError(
                RATE_LIMITED,
                f"{exc.detail} Try again shortly.",
                data={"retry_after": exc.wait},
                status=429,
            ) from None

    return check


class McpView(APIView):
    """POST one JSON-RPC message; the answer is one JSON object (or 202 for notifications)."""

    permission_classes = []  # checked in initial(), to answer with the MCP challenge
    parser_classes = []  # the body is read raw, so bad JSON is a JSON-RPC parse error
    http_method_names = ["post", "get", "delete", "options"]

    @property
    def allowed_methods(self) -> list[str]:
        return ["POST"]  # DRF sends this as Allow; GET and DELETE answer 405

    def perform_content_negotiation(self, request, force=False):
        # Every answer here is JSON built by the view, whatever Accept says; negotiating
        # would answer a client's GET with Accept: text/event-stream 406 instead of 405.
        return super().perform_content_negotiation(request, force=True)

    def initial(self, request, *args, **kwargs):
        if not origin_allowed(request):
            raise OriginRefused()
        super().initial(request, *args, **kwargs)
        if not (request.user and request.user.is_authenticated):
            raise exceptions.NotAuthenticated()

    @extend_schema(exclude=True)
    def post(self, request):
        length = request.META.get("CONTENT_LENGTH") or "0"
        if (
            not (length.isascii() and length.isdigit())
            or int(length) > settings.MCP_MAX_REQUEST_BYTES
        ):
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
        except RequestDataTooBig:  # Django's own cap (DATA_UPLOAD_MAX_MEMORY_SIZE) is lower
            return _jsonrpc_error(413, INVALID_REQUEST, "The message is too large.")
        except (ValueError, RecursionError):
            return _jsonrpc_error(400, PARSE_ERROR, "Parse error: the body is not valid JSON.")
        headers = {name.lower(): value for name, value in request.headers.items()}
        answer = Exchange(
            principal=request.user,
            headers=headers,
            message=message,
            before_tool_call=tool_call_limit(request),
        ).handle()
        if answer.body is None:
            return HttpResponse(status=answer.status)
        response = JsonResponse(answer.body, status=answer.status)
        if answer.retry_after is not None:
            response["Retry-After"] = str(answer.retry_after)
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
        # Built from the Host header unless MCP_PUBLIC_URL is set: then not for shared caches.
        response["Cache-Control"] = (
            "public, max-age=3600" if settings.MCP_PUBLIC_URL else "private, max-age=300"
        )
        return response
