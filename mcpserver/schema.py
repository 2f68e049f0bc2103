"""OpenAPI: the error answers every endpoint may give, so clients (and the schemathesis
run in tests/mcpserver/test_fuzz.py) know their shape."""

from __future__ import annotations

ERROR = {
    "type": "object",
    "description": "Why the request was refused.",
    "properties": {"detail": {"type": "string"}},
}
# A 400 from a serializer names the fields: {"field": ["message", ...], ...}.
BAD_REQUEST = {"type": "object", "description": "What was wrong with the input, per field."}

COMMON = {
    "400": ("Bad input", BAD_REQUEST),
    "401": ("No credentials, or invalid ones (WWW-Authenticate says which)", ERROR),
    "403": ("The credentials lack a scope (WWW-Authenticate names it)", ERROR),
    "404": ("Not found", ERROR),
    "405": ("Method not allowed", ERROR),
    "415": ("Unsupported media type", ERROR),
    "429": ("Too many attempts (Retry-After says when to try again)", ERROR),
    "503": ("The database or the revocation store is unavailable (Retry-After)", ERROR),
}


def add_error_responses(result, generator, request, public):
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            responses = operation.setdefault("responses", {})
            # Whatever a view declared for 400, serializer errors are keyed by field.
            responses["400"] = {
                "description": "Bad input",
                "content": {"application/json": {"schema": BAD_REQUEST}},
            }
            for code, (description, schema) in COMMON.items():
                responses.setdefault(
                    code,
                    {
                        "description": description,
                        "content": {"application/json": {"schema": schema}},
                    },
                )
    return result
