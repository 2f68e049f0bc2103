"""JSON-RPC 2.0 for MCP: protocol versions, methods and errors, independent of HTTP.

Two eras are served side by side:
- handshake era (2025-03-26, 2025-06-18, 2025-11-25): `initialize`, then requests
  that carry the negotiated version in the MCP-Protocol-Version header;
- the stateless revision (2026-07-28): no handshake, every request carries its
  version and client capabilities in `params._meta`, mirrored by the
  MCP-Protocol-Version, Mcp-Method and Mcp-Name headers; `server/discover`
  says what the server supports.
No sessions are kept: every request stands alone and is authenticated on its own.

`handle()` returns an `Answer`: the HTTP status and the JSON body (None for 202).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.db import DatabaseError

from accounts.exceptions import RevocationStoreUnavailable
from mcpserver.mcp.tools import BY_NAME, TOOLS, InvalidArguments, Tool, ToolError

logger = logging.getLogger(__name__)

HANDSHAKE_VERSIONS = ("2025-03-26", "2025-06-18", "2025-11-25")
MODERN_VERSIONS = ("2026-07-28",)
LATEST_HANDSHAKE = HANDSHAKE_VERSIONS[-1]
# Before 2025-11-25, invalid tool arguments were a protocol error, not an isError result.
ARGUMENT_ERRORS_AS_RESULTS = ("2025-11-25", *MODERN_VERSIONS)

PROTOCOL_VERSION_META = "io.modelcontextprotocol/protocolVersion"
CLIENT_CAPABILITIES_META = "io.modelcontextprotocol/clientCapabilities"
SERVER_INFO_META = "io.modelcontextprotocol/serverInfo"

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
FORBIDDEN = -32001  # server-defined: the token lacks a scope (HTTP 403)
RATE_LIMITED = -32002  # server-defined: too many tool calls (HTTP 429)
HEADER_MISMATCH = -32020
UNSUPPORTED_PROTOCOL_VERSION = -32022

# The 2026-07-28 transport maps these codes to HTTP statuses; the handshake era
# answers JSON-RPC errors to well-formed requests with 200.
MODERN_STATUS = {
    PARSE_ERROR: 400,
    INVALID_REQUEST: 400,
    INVALID_PARAMS: 400,
    HEADER_MISMATCH: 400,
    UNSUPPORTED_PROTOCOL_VERSION: 400,
    METHOD_NOT_FOUND: 404,
}
TOOLS_PAGE = 20
TOOLS_TTL_MS = 60_000

SERVER_INFO = {
    "name": "mcp-code-search",
    "title": "Code search",
    "version": "0.1.0",
}
INSTRUCTIONS = (
    "Search the code of the repositories indexed on this server: search_code for text and "
    "regular expressions, search_symbols for definitions by name, get_file to read a file. "
    "Indexing tools appear only to callers allowed to index."
)


@dataclass
class Answer:
    status: int
    body: dict | None = None
    # The scopes a 403 asks for (the HTTP layer adds the WWW-Authenticate challenge).
    missing_scopes: tuple[str, ...] = ()
    retry_after: int | None = None  # seconds, for a 429


class ProtocolError(Exception):
    def __init__(self, code: int, message: str, *, data=None, status: int | None = None):
        super().__init__(message)
        self.code, self.message, self.data, self.status = code, message, data, status


def error_body(request_id, code: int, message: str, data=None) -> dict:
    error = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "id": request_id, "error": error}


@dataclass
class Exchange:
    """One HTTP request's JSON-RPC message, and who sent it."""

    principal: object
    headers: dict  # lower-case names
    message: object
    # Runs before each permitted tool call; may raise ProtocolError (the rate limit).
    before_tool_call: Callable[[Tool], None] = lambda tool: None

    def handle(self) -> Answer:
        message = self.message
        if isinstance(message, list):
            # JSON-RPC batches left MCP in 2025-06-18; one message per POST.
            return self._refuse(
                None, INVALID_REQUEST, "Batches are not supported: send one message per request."
            )
        if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
            return self._refuse(
                None,
                INVALID_REQUEST,
                'The body must be one JSON-RPC 2.0 object ("jsonrpc": "2.0").',
            )
        if "method" not in message and ("result" in message or "error" in message):
            return Answer(202)  # a response to a request we never send: accepted, ignored
        method = message.get("method")
        if not isinstance(method, str) or not method:
            return self._refuse(None, INVALID_REQUEST, "method must be a non-empty string.")
        params = message.get("params", {})
        if params is not None and not isinstance(params, dict):
            return self._refuse(None, INVALID_REQUEST, "params must be an object.")
        params = params or {}
        if "id" not in message:
            return self._notification(method, params)
        request_id = message["id"]
        if isinstance(request_id, bool) or not isinstance(request_id, (str, int)):
            return self._refuse(None, INVALID_REQUEST, "id must be a string or an integer.")
        modern = self._is_modern(method, params)
        try:
            version = (
                self._modern_version(method, params) if modern else self._handshake_version(method)
            )
            result = self._dispatch(method, params, version, modern)
        except ProtocolError as exc:
            status = exc.status or (MODERN_STATUS.get(exc.code, 200) if modern else 200)
            answer = Answer(status, error_body(request_id, exc.code, exc.message, exc.data))
            if exc.code == FORBIDDEN:
                answer.missing_scopes = tuple(exc.data["required_scopes"])
            if exc.code == RATE_LIMITED:
                answer.retry_after = exc.data["retry_after"]
            return answer
        if modern:
            result = {**result, "resultType": "complete"}
            result["_meta"] = {**result.get("_meta", {}), SERVER_INFO_META: dict(SERVER_INFO)}
        return Answer(200, {"jsonrpc": "2.0", "id": request_id, "result": result})

    # --- Versions -----------------------------------------------------------------------

    def _is_modern(self, method: str, params: dict) -> bool:
        if method == "initialize":
            return False
        meta = params.get("_meta")
        return (
            method == "server/discover"
            or self.headers.get("mcp-protocol-version") in MODERN_VERSIONS
            or (isinstance(meta, dict) and PROTOCOL_VERSION_META in meta)
        )

    def _handshake_version(self, method: str) -> str:
        header = self.headers.get("mcp-protocol-version")
        if method == "initialize" or header is None:
            # Without the header a client is taken to speak 2025-03-26 (transport spec).
            return LATEST_HANDSHAKE if method == "initialize" else "2025-03-26"
        if header not in HANDSHAKE_VERSIONS:
            raise ProtocolError(
                UNSUPPORTED_PROTOCOL_VERSION,
                f"Unsupported MCP-Protocol-Version {header[:40]!r}.",
                data={
                    "supported": [*HANDSHAKE_VERSIONS, *MODERN_VERSIONS],
                    "requested": header[:40],
                },
                status=400,
            )
        return header

    def _modern_version(self, method: str, params: dict) -> str:
        meta = params.get("_meta")
        if (
            not isinstance(meta, dict)
            or PROTOCOL_VERSION_META not in meta
            or CLIENT_CAPABILITIES_META not in meta
        ):
            raise ProtocolError(
                INVALID_PARAMS,
                f"params._meta must carry {PROTOCOL_VERSION_META!r} "
                f"and {CLIENT_CAPABILITIES_META!r}.",
            )
        version = meta[PROTOCOL_VERSION_META]
        if self.headers.get("mcp-protocol-version") != version:
            raise ProtocolError(
                HEADER_MISMATCH, "The MCP-Protocol-Version header does not match params._meta."
            )
        if self.headers.get("mcp-method") != method:
            raise ProtocolError(HEADER_MISMATCH, "The Mcp-Method header does not match the method.")
        if (
            method == "tools/call"
            and "name" in params
            and self.headers.get("mcp-name") != params["name"]
        ):
            raise ProtocolError(HEADER_MISMATCH, "The Mcp-Name header does not match params.name.")
        if not isinstance(version, str):
            raise ProtocolError(INVALID_PARAMS, "The protocol version must be a string.")
        if version not in MODERN_VERSIONS:
            raise ProtocolError(
                UNSUPPORTED_PROTOCOL_VERSION,
                "Unsupported protocol version.",
                data={
                    "supported": [*HANDSHAKE_VERSIONS, *MODERN_VERSIONS],
                    "requested": version[:40],
                },
            )
        return version

    # --- Methods ------------------------------------------------------------------------

    def _dispatch(self, method: str, params: dict, version: str, modern: bool) -> dict:
        if method == "initialize":
            return self._initialize(params)
        if method == "ping" and not modern:
            return {}
        if method == "server/discover" and modern:
            return {
                "supportedVersions": [*HANDSHAKE_VERSIONS, *MODERN_VERSIONS],
                "capabilities": {"tools": {"listChanged": False}},
                "serverInfo": dict(SERVER_INFO),
                "instructions": INSTRUCTIONS,
                "ttlMs": TOOLS_TTL_MS,
                "cacheScope": "public",
            }
        if method == "tools/list":
            return self._tools_list(params, modern)
        if method == "tools/call":
            return self._tools_call(params, version)
        raise ProtocolError(METHOD_NOT_FOUND, f"Method not found: {method[:100]}")

    def _initialize(self, params: dict) -> dict:
        requested = params.get("protocolVersion")
        if not isinstance(requested, str):
            raise ProtocolError(
                INVALID_PARAMS, "initialize needs params.protocolVersion (a string)."
            )
        negotiated = requested if requested in HANDSHAKE_VERSIONS else LATEST_HANDSHAKE
        return {
            "protocolVersion": negotiated,
            "capabilities": {"tools": {"listChanged": False}},
            "serverInfo": dict(SERVER_INFO),
            "instructions": INSTRUCTIONS,
        }

    def _granted(self) -> frozenset[str]:
        return frozenset(getattr(self.principal, "scopes", frozenset()))

    def _tools_list(self, params: dict, modern: bool) -> dict:
        visible = [tool for tool in TOOLS if tool.allowed(self._granted())]
        start = _decode_cursor(params.get("cursor"))
        page = visible[start : start + TOOLS_PAGE]
        result = {"tools": [tool.definition() for tool in page]}
        if start + TOOLS_PAGE < len(visible):
            result["nextCursor"] = _encode_cursor(start + TOOLS_PAGE)
        if modern:
            # The list depends on the caller's scopes: a shared cache must not reuse it.
            result.update(ttlMs=TOOLS_TTL_MS, cacheScope="private")
        return result

    def _tools_call(self, params: dict, version: str) -> dict:
        name = params.get("name")
        if not isinstance(name, str):
            raise ProtocolError(INVALID_PARAMS, "tools/call needs params.name (a string).")
        tool: Tool | None = BY_NAME.get(name)
        if tool is None:
            raise ProtocolError(INVALID_PARAMS, f"Unknown tool: {name[:100]}")
        arguments = params.get("arguments", {})
        if arguments is None:
            arguments = {}
        if not isinstance(arguments, dict):
            raise ProtocolError(INVALID_PARAMS, "params.arguments must be an object.")
        missing = tool.missing_scopes(self._granted())
        if missing:
            raise ProtocolError(
                FORBIDDEN,
                f"Permission required for {tool.name}: {' '.join(missing)}",
                data={"required_scopes": missing},
                status=403,
            )
        self.before_tool_call(tool)
        try:
            structured = tool.call(self.principal, arguments)
        except InvalidArguments as exc:
            if version not in ARGUMENT_ERRORS_AS_RESULTS:
                raise ProtocolError(
                    INVALID_PARAMS, f"Invalid arguments for {tool.name}: {exc}"
                ) from None
            return _tool_error(f"Invalid arguments: {exc}")
        except ToolError as exc:
            return _tool_error(str(exc))
        except RevocationStoreUnavailable:
            raise
        except DatabaseError:
            logger.exception("MCP tool %s: database error", tool.name)
            raise ProtocolError(INTERNAL_ERROR, "The database is unavailable; try again.") from None
        except Exception:
            logger.exception("MCP tool %s failed", tool.name)
            raise ProtocolError(
                INTERNAL_ERROR, "The tool failed unexpectedly; the error was logged."
            ) from None
        text = json.dumps(structured, ensure_ascii=False, default=str)
        return {
            "content": [{"type": "text", "text": text}],
            "structuredContent": json.loads(text),
            "isError": False,
        }

    # --- Notifications and refusals -----------------------------------------------------

    def _notification(self, method: str, params: dict) -> Answer:
        header = self.headers.get("mcp-protocol-version")
        if header is not None and header not in (*HANDSHAKE_VERSIONS, *MODERN_VERSIONS):
            return self._refuse(
                None,
                UNSUPPORTED_PROTOCOL_VERSION,
                f"Unsupported MCP-Protocol-Version {header[:40]!r}.",
            )
        # notifications/initialized, notifications/cancelled and the like: nothing to do
        # for a server without sessions or long-running requests.
        return Answer(202)

    @staticmethod
    def _refuse(request_id, code: int, message: str) -> Answer:
        # The id stays null: these messages are refused before their id could be trusted.
        return Answer(400, error_body(request_id, code, message))


def _tool_error(message: str) -> dict:
    return {"content": [{"type": "text", "text": message}], "isError": True}


def _encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset}).encode()).decode().rstrip("=")


def _decode_cursor(cursor) -> int:
    if cursor is None:
        return 0
    try:
        if not isinstance(cursor, str) or len(cursor) > 100:
            raise ValueError
        offset = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))["o"]
        if type(offset) is not int or not 0 <= offset <= len(TOOLS):
            raise ValueError
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise ProtocolError(
            INVALID_PARAMS, "Invalid cursor: pass the nextCursor of a previous page."
        ) from None
    return offset
