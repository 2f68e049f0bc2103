"""The tool input schemas tools/list publishes stay within what the strictest clients
accept: one type per schema (alternatives with anyOf), a small set of keywords, and
valid JSON Schema 2020-12. And a value of each alternative is accepted by the tool."""

from __future__ import annotations

import json

import pytest
from jsonschema import Draft202012Validator

from mcpserver.mcp.tools import PORTABLE_SCHEMA_KEYWORDS
from tests.conftest import bearer
from tests.factories import login_tokens

pytestmark = pytest.mark.django_db

SINGLE_TYPES = {"string", "integer", "number", "boolean", "array", "object"}


def published_tools(client, user) -> list[dict]:
    response = client.post(
        "/mcp",
        json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
        content_type="application/json",
        HTTP_ACCEPT="application/json, text/event-stream",
        HTTP_MCP_PROTOCOL_VERSION="2025-11-25",
        **bearer(login_tokens(user)["access_token"]),
    )
    assert response.status_code == 200, response.content
    return response.json()["result"]["tools"]


def portability_problems(schema: dict, where: str) -> list[str]:
    problems = []
    unknown = set(schema) - PORTABLE_SCHEMA_KEYWORDS
    if unknown:
        problems.append(f"{where}: keywords outside the portable subset: {sorted(unknown)}")
    if "anyOf" in schema:
        if "type" in schema:
            problems.append(f"{where}: both type and anyOf")
        for index, branch in enumerate(schema["anyOf"]):
            problems += portability_problems(branch, f"{where}.anyOf[{index}]")
        return problems
    kind = schema.get("type")
    if not isinstance(kind, str) or kind not in SINGLE_TYPES:
        problems.append(f"{where}: type must be one of {sorted(SINGLE_TYPES)}, not {kind!r}")
    if kind == "array":
        if "items" not in schema:
            problems.append(f"{where}: an array without items")
        else:
            problems += portability_problems(schema["items"], f"{where}.items")
    if kind == "object":
        properties = schema.get("properties", {})
        for name, sub in properties.items():
            problems += portability_problems(sub, f"{where}.{name}")
        if not set(schema.get("required", [])) <= set(properties):
            problems.append(f"{where}: required names a property it does not declare")
        if schema.get("additionalProperties", False) is not False:
            problems.append(f"{where}: additionalProperties may only be false")
    return problems


def test_every_published_schema_is_portable(api_client, admin_user):
    tools = published_tools(api_client, admin_user)
    assert {"search_code", "get_file", "index_repository", "reindex_repository"} <= {
        tool["name"] for tool in tools
    }
    problems = []
    for tool in tools:
        schema = tool["inputSchema"]
        Draft202012Validator.check_schema(schema)
        assert schema["type"] == "object"
        problems += portability_problems(schema, tool["name"])
    assert problems == []


def test_the_checker_refuses_a_list_of_types():
    """The check above would catch the schema that broke Gemini and inspector --strict."""
    old = {"type": "object", "properties": {"repository": {"type": ["string", "integer"]}}}
    assert portability_problems(old, "get_file") == [
        "get_file.repository: type must be one of "
        "['array', 'boolean', 'integer', 'number', 'object', 'string'], "
        "not ['string', 'integer']"
    ]


@pytest.mark.parametrize("repository", ["shop", 1])
def test_a_repository_by_name_or_id_fits_the_schema(repository):
    from mcpserver.mcp.tools import BY_NAME

    BY_NAME["get_file"].validate({"repository": repository, "path": "a.py"})
    BY_NAME["search_code"].validate({"query": "x", "repositories": [repository]})
