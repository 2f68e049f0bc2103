"""/mcp: the JSON-RPC protocol, both eras, errors, scopes and hostile input. Never a 500."""

from __future__ import annotations

import json

import jwt
import pytest

from tests.conftest import bearer
from tests.factories import SIGNING_KID, SIGNING_SECRET, api_key_for, login_tokens

MODERN = "2026-07-28"
META = {
    "io.modelcontextprotocol/protocolVersion": MODERN,
    "io.modelcontextprotocol/clientCapabilities": {},
}
INDEX_TOOLS = {"index_repository", "reindex_repository"}


@pytest.fixture
def viewer_key(viewer):
    return {"HTTP_AUTHORIZATION": f"Bearer {api_key_for(viewer, scopes=('mcp:search:code',))}"}


@pytest.fixture
def developer_key(developer):
    scopes = ("mcp:search:code", "mcp:index:create", "mcp:index:update")
    return {"HTTP_AUTHORIZATION": f"Bearer {api_key_for(developer, scopes=scopes)}"}


def post(client, body, auth, *, version="2025-11-25", raw=False, **headers):
    extra = dict(auth)
    if version:
        extra["HTTP_MCP_PROTOCOL_VERSION"] = version
    extra.update({f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()})
    data = body if raw else json.dumps(body)
    return client.generic(
        "POST", "/mcp", data, content_type="application/json",
        HTTP_ACCEPT="application/json, text/event-stream", **extra,
    )  # fmt: skip


def rpc(method, params=None, request_id=1):
    message = {"jsonrpc": "2.0", "id": request_id, "method": method}
    if params is not None:
        message["params"] = params
    return message


def modern(client, method, params, auth, **headers):
    headers.setdefault("mcp-method", method)
    return post(client, rpc(method, {**params, "_meta": META}), auth, version=MODERN, **headers)


def tool_names(response) -> set[str]:
    assert response.status_code == 200, response.content
    return {tool["name"] for tool in response.json()["result"]["tools"]}


# --- Handshake era ----------------------------------------------------------------------


@pytest.mark.parametrize("requested", ["2025-06-18", "2025-11-25", "2025-03-26"])
def test_initialize_agrees_on_a_version_it_supports(api_client, viewer_key, requested):
    body = rpc(
        "initialize",
        {
            "protocolVersion": requested,
            "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"},
        },
    )
    response = post(api_client, body, viewer_key, version=None)
    result = response.json()["result"]
    assert response.status_code == 200
    assert result["protocolVersion"] == requested
    assert result["capabilities"] == {"tools": {"listChanged": False}}
    assert result["serverInfo"]["name"] == "mcp-code-search"
    assert "Mcp-Session-Id" not in response  # stateless


def test_initialize_with_an_unknown_version_offers_the_latest(api_client, viewer_key):
    response = post(
        api_client, rpc("initialize", {"protocolVersion": "1999-01-01"}), viewer_key, version=None
    )
    assert response.json()["result"]["protocolVersion"] == "2025-11-25"


def test_notifications_are_accepted_without_a_body(api_client, viewer_key):
    response = post(
        api_client, {"jsonrpc": "2.0", "method": "notifications/initialized"}, viewer_key
    )
    assert response.status_code == 202 and response.content == b""


def test_ping(api_client, viewer_key):
    assert post(api_client, rpc("ping"), viewer_key).json() == {
        "jsonrpc": "2.0",
        "id": 1,
        "result": {},
    }


def test_tools_are_listed_by_scope(api_client, viewer_key, developer_key):
    viewer_tools = tool_names(post(api_client, rpc("tools/list"), viewer_key))
    developer_tools = tool_names(post(api_client, rpc("tools/list"), developer_key))
    assert {
        "search_code",
        "search_symbols",
        "get_file",
        "list_repositories",
        "job_status",
    } <= viewer_tools
    assert not viewer_tools & INDEX_TOOLS
    assert INDEX_TOOLS <= developer_tools


def test_every_tool_has_an_object_input_schema(api_client, developer_key):
    from jsonschema import Draft202012Validator

    tools = post(api_client, rpc("tools/list"), developer_key).json()["result"]["tools"]
    for tool in tools:
        schema = tool["inputSchema"]
        Draft202012Validator.check_schema(schema)
        assert schema["type"] == "object" and schema["additionalProperties"] is False
        for name, prop in schema["properties"].items():
            assert "type" in prop or "anyOf" in prop, (tool["name"], name)
        assert tool["description"] and tool["annotations"]["readOnlyHint"] is (
            tool["name"] not in INDEX_TOOLS
        )


def test_tools_list_cursor(api_client, viewer_key):
    response = post(api_client, rpc("tools/list", {"cursor": "bogus!"}), viewer_key)
    assert response.json()["error"]["code"] == -32602
    assert "nextCursor" not in post(api_client, rpc("tools/list"), viewer_key).json()["result"]


def test_a_narrowed_token_lists_fewer_tools(api_client, developer):
    token = login_tokens(developer, scopes=frozenset({"mcp:index:create"}))["access_token"]
    names = tool_names(post(api_client, rpc("tools/list"), bearer(token)))
    assert "search_code" not in names and "index_repository" in names


def test_search_through_a_tool(api_client, viewer_key, indexed_repo):
    response = post(
        api_client,
        rpc("tools/call", {"name": "search_code", "arguments": {"query": "compute_total"}}),
        viewer_key,
    )
    result = response.json()["result"]
    assert result["isError"] is False
    paths = {hit["path"] for hit in result["structuredContent"]["hits"]}
    assert paths == {"src/billing/invoice.py", "docs/guide.md"}
    assert json.loads(result["content"][0]["text"]) == result["structuredContent"]


def test_symbols_and_files_through_tools(api_client, viewer_key, indexed_repo):
    def call(name, arguments):
        return post(
            api_client, rpc("tools/call", {"name": name, "arguments": arguments}), viewer_key
        ).json()["result"]

    symbols = call("search_symbols", {"name": "getCurUsr"})["structuredContent"]["symbols"]
    assert symbols[0]["name"] == "getCurrentUser"
    content = call(
        "get_file",
        {"repository": "shop", "path": "src/billing/invoice.py", "start_line": 4, "end_line": 5},
    )
    assert content["structuredContent"]["content"].startswith("class InvoiceTotal:")
    missing = call("get_file", {"repository": indexed_repo.pk, "path": "../../etc/passwd"})
    assert missing["isError"] is True and "No such file" in missing["content"][0]["text"]
    repos = call("list_repositories", {})["structuredContent"]["repositories"]
    assert [repo["name"] for repo in repos] == ["shop"]


def test_get_file_past_the_end_and_symbols_cut_short_say_so(api_client, indexed_repo, viewer_key):
    def call(name, arguments):
        body = post(
            api_client, rpc("tools/call", {"name": name, "arguments": arguments}), viewer_key
        )
        return body.json()["result"]

    past = call("get_file", {"repository": "shop", "path": "src/long.txt", "start_line": 9000})
    assert past["isError"] is True
    assert past["content"][0]["text"] == (
        "start_line: Line 9000 is past the end of src/long.txt, which has 131 lines."
    )
    symbols = call("search_symbols", {"name": "c", "limit": 1})["structuredContent"]
    assert len(symbols["symbols"]) == 1 and symbols["truncated"] is True


def test_a_tool_the_scopes_do_not_cover_is_a_403_challenge(api_client, viewer_key):
    response = post(
        api_client,
        rpc("tools/call", {"name": "index_repository", "arguments": {"path": "/srv/repo"}}),
        viewer_key,
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == -32001
    challenge = response["WWW-Authenticate"]
    assert 'error="insufficient_scope"' in challenge and 'scope="mcp:index:create"' in challenge
    assert (
        'resource_metadata="http://testserver/.well-known/oauth-protected-resource/mcp"'
        in challenge
    )


@pytest.mark.parametrize("era", ["handshake", "modern"])
def test_a_403_keeps_the_reason_in_the_body_and_points_at_the_metadata(api_client, viewer_key, era):
    """OAuth-capable clients start a step-up sign-in on insufficient_scope; until sign-in
    exists, what they can show is the JSON-RPC message, and the challenge must lead to
    the metadata as the 401's does."""
    params = {"name": "reindex_repository", "arguments": {"repository": 1}}
    if era == "modern":
        response = modern(api_client, "tools/call", params, viewer_key, mcp_name=params["name"])
    else:
        response = post(api_client, rpc("tools/call", params), viewer_key)
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["message"] == "Permission required for reindex_repository: mcp:index:update"
    assert error["data"] == {"required_scopes": ["mcp:index:update"]}
    unauthenticated = post(api_client, rpc("tools/list"), {})["WWW-Authenticate"]
    metadata = 'resource_metadata="http://testserver/.well-known/oauth-protected-resource/mcp"'
    assert metadata in unauthenticated
    assert response["WWW-Authenticate"] == (
        f'Bearer realm="mcp", {metadata}, scope="mcp:index:update", '
        'error="insufficient_scope", '
        'error_description="Permission required for reindex_repository: mcp:index:update"'
    )


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [
        ({"query": 5}, "query: 5 is not of type 'string'"),
        ({}, "'query' is a required property"),
        ({"query": "x", "limit": "ten"}, "limit: 'ten' is not of type 'integer'"),
        ({"query": "x", "limit": 0}, "limit: 0 is less than the minimum of 1"),
        ({"query": "x", "colour": "red"}, "Additional properties are not allowed"),
        ({"query": "x", "repositories": "shop"}, "repositories: 'shop' is not of type 'array'"),
        ({"query": "(", "regex": True}, "query: Invalid regular expression"),
        ({"query": "x", "repositories": ["nope"]}, "No repository 'nope'"),
        ({"query": "x", "cursor": "garbage"}, "cursor: Invalid cursor"),
    ],
)
def test_bad_arguments_are_error_results_the_model_can_read(
    api_client, viewer_key, arguments, fragment
):
    body = post(
        api_client, rpc("tools/call", {"name": "search_code", "arguments": arguments}), viewer_key
    ).json()
    result = body["result"]
    assert result["isError"] is True
    assert fragment in result["content"][0]["text"]


def test_before_2025_11_25_bad_arguments_are_protocol_errors(api_client, viewer_key):
    body = post(
        api_client,
        rpc("tools/call", {"name": "search_code", "arguments": {"query": 5}}),
        viewer_key,
        version="2025-06-18",
    ).json()
    assert body["error"]["code"] == -32602 and "not of type 'string'" in body["error"]["message"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ("{not json", 400, -32700),
        ('{"jsonrpc": "2.0", "id": 1, "method": "ping", "x": NaN}', 400, -32700),
        ("[" * 100_000 + "]" * 100_000, 400, -32700),
        ('[{"jsonrpc": "2.0", "id": 1, "method": "ping"}]', 400, -32600),
        ("[]", 400, -32600),
        ('"ping"', 400, -32600),
        ("null", 400, -32600),
        ('{"id": 1, "method": "ping"}', 400, -32600),
        ('{"jsonrpc": "1.0", "id": 1, "method": "ping"}', 400, -32600),
        ('{"jsonrpc": "2.0", "id": 1, "method": 7}', 400, -32600),
        ('{"jsonrpc": "2.0", "id": null, "method": "ping"}', 400, -32600),
        ('{"jsonrpc": "2.0", "id": true, "method": "ping"}', 400, -32600),
        ('{"jsonrpc": "2.0", "id": {"a": 1}, "method": "ping"}', 400, -32600),
        ('{"jsonrpc": "2.0", "id": 1, "method": "ping", "params": [1]}', 400, -32600),
        ('{"jsonrpc": "2.0", "id": 1, "method": "no/such"}', 200, -32601),
        (
            '{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "nope"}}',
            200,
            -32602,
        ),
        ('{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {}}', 200, -32602),
        (
            '{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "search_code", "arguments": [1]}}',
            200,
            -32602,
        ),
        ('{"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}', 200, -32602),
    ],
)
def test_malformed_messages_are_jsonrpc_errors(api_client, viewer_key, body, status, code):
    response = post(api_client, body, viewer_key, raw=True)
    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code


def test_a_client_response_is_accepted(api_client, viewer_key):
    response = post(api_client, {"jsonrpc": "2.0", "id": 9, "result": {}}, viewer_key)
    assert response.status_code == 202


def test_an_unsupported_version_header_is_a_400(api_client, viewer_key):
    response = post(api_client, rpc("ping"), viewer_key, version="2024-01-01")
    assert response.status_code == 400 and response.json()["error"]["code"] == -32022
    assert "2025-11-25" in response.json()["error"]["data"]["supported"]


def test_size_and_media_type_limits(api_client, viewer_key, settings):
    settings.MCP_MAX_REQUEST_BYTES = 2048
    big = rpc("tools/call", {"name": "search_code", "arguments": {"query": "x" * 5000}})
    assert post(api_client, big, viewer_key).status_code == 413
    response = api_client.generic(
        "POST", "/mcp", json.dumps(rpc("ping")), content_type="text/plain", **viewer_key
    )
    assert response.status_code == 415 and response.json()["error"]["code"] == -32600


@pytest.mark.parametrize("method", ["GET", "DELETE"])
@pytest.mark.parametrize(
    "accept", [None, "text/event-stream", "application/json, text/event-stream", "image/png"]
)
def test_get_and_delete_are_405_whatever_the_accept_header(api_client, viewer_key, method, accept):
    """What every 2025-era client sends to open its listening stream: 405, not 406."""
    headers = {"HTTP_ACCEPT": accept} if accept else {}
    response = api_client.generic(method, "/mcp", **viewer_key, **headers)
    assert response.status_code == 405, response.content
    assert response["Allow"] == "POST"
    assert response.json()["error"]["code"] == -32600


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_get_without_credentials_is_401_before_405(api_client, method):
    response = api_client.generic(method, "/mcp", HTTP_ACCEPT="text/event-stream")
    assert response.status_code == 401
    assert "resource_metadata=" in response["WWW-Authenticate"]


# --- Authentication and Origin ------------------------------------------------------------


def test_no_credentials_is_a_401_pointing_at_the_metadata(api_client):
    response = post(api_client, rpc("tools/list"), {})
    assert response.status_code == 401
    challenge = response["WWW-Authenticate"]
    assert challenge.startswith("Bearer ")
    assert (
        'resource_metadata="http://testserver/.well-known/oauth-protected-resource/mcp"'
        in challenge
    )
    assert 'scope="mcp:search:code"' in challenge and "error=" not in challenge
    assert response.json()["error"]["code"] == -32600


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer nonsense",
        "Bearer mcp_" + "A" * 49,
        "Bearer eyJhbGciOiJub25lIn0.e30.",
        "Basic dXNlcjpwYXNz",
    ],
)
def test_bad_credentials_are_a_401_invalid_token(api_client, authorization):
    response = post(api_client, rpc("tools/list"), {"HTTP_AUTHORIZATION": authorization})
    assert response.status_code == 401
    if authorization.startswith("Bearer"):
        assert 'error="invalid_token"' in response["WWW-Authenticate"]
    assert "resource_metadata=" in response["WWW-Authenticate"]


def test_a_token_for_another_audience_is_refused(api_client, viewer):
    payload = jwt.decode(login_tokens(viewer)["access_token"], options={"verify_signature": False})

    def signed(claims):
        return jwt.encode(claims, SIGNING_SECRET, algorithm="HS256", headers={"kid": SIGNING_KID})

    assert post(api_client, rpc("ping"), bearer(signed(payload))).status_code == 200
    elsewhere = signed({**payload, "aud": "https://elsewhere.example/mcp"})
    response = post(api_client, rpc("ping"), bearer(elsewhere))
    assert response.status_code == 401 and 'error="invalid_token"' in response["WWW-Authenticate"]


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        (None, True),
        ("http://testserver", True),
        ("https://evil.example", False),
        ("null", False),
        ("http://testserver.evil.example", False),
    ],
)
def test_origin_is_validated(api_client, viewer_key, origin, allowed):
    headers = {"origin": origin} if origin else {}
    response = post(api_client, rpc("ping"), viewer_key, **headers)
    assert response.status_code == (200 if allowed else 403)
    if not allowed:
        assert response.json()["error"]["message"] == "Origin not allowed."


def test_an_allowed_cors_origin_passes(api_client, viewer_key, settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://inspector.example"]
    assert (
        post(api_client, rpc("ping"), viewer_key, origin="https://inspector.example").status_code
        == 200
    )


def test_a_revoked_key_stops_at_once(api_client, viewer):
    from accounts import services
    from accounts.models import ApiKey

    secret = api_key_for(viewer)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    assert post(api_client, rpc("ping"), auth).status_code == 200
    services.api_key_revoke(api_key=ApiKey.objects.get(user=viewer))
    assert post(api_client, rpc("ping"), auth).status_code == 401


# --- The stateless revision (2026-07-28) ----------------------------------------------------


def test_server_discover(api_client, viewer_key):
    response = modern(api_client, "server/discover", {}, viewer_key)
    result = response.json()["result"]
    assert response.status_code == 200
    assert MODERN in result["supportedVersions"] and "2025-06-18" in result["supportedVersions"]
    assert result["resultType"] == "complete" and result["capabilities"]["tools"] == {
        "listChanged": False
    }
    assert result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"] == "mcp-code-search"


def test_modern_tools_list_and_call(api_client, viewer_key, indexed_repo):
    listed = modern(api_client, "tools/list", {}, viewer_key).json()["result"]
    assert listed["cacheScope"] == "private" and listed["ttlMs"] >= 0
    assert not {tool["name"] for tool in listed["tools"]} & INDEX_TOOLS
    called = modern(
        api_client,
        "tools/call",
        {"name": "search_code", "arguments": {"query": "needle"}},
        viewer_key,
        **{"mcp-name": "search_code"},
    )
    result = called.json()["result"]
    assert (
        result["resultType"] == "complete" and result["structuredContent"]["hits"][0]["line"] == 131
    )


@pytest.mark.parametrize(
    ("params", "headers", "status", "code"),
    [
        ({}, {"mcp-method": "tools/list"}, 400, -32602),  # no _meta
        ({"_meta": META}, {"mcp-method": "tools/call"}, 400, -32020),  # method header differs
        ({"_meta": META}, {}, 400, -32020),  # method header missing
        (
            {"_meta": {**META, "io.modelcontextprotocol/protocolVersion": "2099-01-01"}},
            {"mcp-method": "tools/list", "mcp-protocol-version": "2099-01-01"},
            400,
            -32022,
        ),
    ],
)
def test_modern_envelope_is_checked(api_client, viewer_key, params, headers, status, code):
    version = headers.pop("mcp-protocol-version", MODERN)
    response = post(api_client, rpc("tools/list", params), viewer_key, version=version, **headers)
    assert response.status_code == status and response.json()["error"]["code"] == code


def test_modern_unknown_method_is_404(api_client, viewer_key):
    response = modern(api_client, "ping", {}, viewer_key)  # removed in 2026-07-28
    assert response.status_code == 404 and response.json()["error"]["code"] == -32601


def test_modern_tool_name_header_must_match(api_client, viewer_key):
    params = {"name": "search_code", "arguments": {"query": "x"}}
    response = modern(api_client, "tools/call", params, viewer_key, **{"mcp-name": "get_file"})
    assert response.status_code == 400 and response.json()["error"]["code"] == -32020


# --- Protected resource metadata ------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp"]
)
def test_protected_resource_metadata(api_client, path, settings):
    body = api_client.get(path).json()
    assert body["resource"] == "http://testserver/mcp"
    assert body["authorization_servers"] == ["http://testserver"]
    assert body["bearer_methods_supported"] == ["header"]
    assert "mcp:search:code" in body["scopes_supported"]
    assert "mcp:user:manage" not in body["scopes_supported"]  # only what the tools use


def test_metadata_follows_the_configured_public_url(api_client, settings):
    settings.MCP_PUBLIC_URL = "https://code.example.com"
    body = api_client.get("/.well-known/oauth-protected-resource/mcp").json()
    assert body["resource"] == "https://code.example.com/mcp"
    assert body["authorization_servers"] == ["https://code.example.com"]


# --- From review: edges of scopes, headers, origins, limits ------------------------------------


def test_tools_list_pages_with_its_cursor(api_client, developer_key, monkeypatch):
    from mcpserver.mcp import protocol

    monkeypatch.setattr(protocol, "TOOLS_PAGE", 2)
    seen, cursor = [], None
    for _ in range(10):
        params = {"cursor": cursor} if cursor else {}
        result = post(api_client, rpc("tools/list", params), developer_key).json()["result"]
        assert len(result["tools"]) <= 2
        seen += [tool["name"] for tool in result["tools"]]
        cursor = result.get("nextCursor")
        if not cursor:
            break
    monkeypatch.setattr(protocol, "TOOLS_PAGE", 100)
    everything = tool_names(post(api_client, rpc("tools/list"), developer_key))
    assert len(seen) == len(set(seen)) and set(seen) == everything


def test_a_tool_needing_one_of_several_scopes_asks_for_the_least(api_client, admin_user):
    token = login_tokens(admin_user, scopes=frozenset({"mcp:plugin:manage"}))["access_token"]
    auth = bearer(token)
    assert tool_names(post(api_client, rpc("tools/list"), auth)) == set()
    response = post(api_client, rpc("tools/call", {"name": "list_repositories"}), auth)
    assert response.status_code == 403
    assert 'scope="mcp:search:code"' in response["WWW-Authenticate"]


def test_a_403_in_the_stateless_revision(api_client, viewer_key):
    params = {"name": "index_repository", "arguments": {"path": "/srv/repo"}}
    response = modern(
        api_client, "tools/call", params, viewer_key, **{"mcp-name": "index_repository"}
    )
    assert response.status_code == 403 and response.json()["error"]["code"] == -32001


def test_modern_tool_call_without_the_name_header(api_client, viewer_key):
    params = {"name": "search_code", "arguments": {"query": "x"}}
    response = modern(api_client, "tools/call", params, viewer_key)
    assert response.status_code == 400 and response.json()["error"]["code"] == -32020


def test_modern_notifications_are_accepted(api_client, viewer_key):
    message = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"_meta": META}}
    assert post(api_client, message, viewer_key, version=MODERN).status_code == 202
    refused = post(api_client, message, viewer_key, version="1999-01-01")
    assert refused.status_code == 400 and refused.json()["error"]["code"] == -32022


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [
        ({"query": "x", "repositories": [[[[[[[[[[[]]]]]]]]]]]}, "repositories.0:"),
        ({"query": "x", "cursor": {"a": {"b": {"c": [1] * 10}}}}, "cursor:"),
        (
            {"query": "x", "repositories": [None]},
            "repositories.0: None is not of type 'string' or 'integer'",
        ),
        ({"query": "x", "repositories": [0]}, "repositories.0: 0 is less than the minimum of 1"),
        ({"query": "x", "repositories": [""]}, "repositories.0: '' should be non-empty"),
        ({"query": "\udcff"}, "Surrogate characters are not allowed"),
    ],
)
def test_odd_arguments_are_error_results(api_client, viewer_key, arguments, fragment):
    body = json.dumps(rpc("tools/call", {"name": "search_code", "arguments": arguments}))
    response = post(api_client, body, viewer_key, raw=True)
    assert response.status_code == 200, response.content
    result = response.json()["result"]
    assert result["isError"] is True and fragment in result["content"][0]["text"]


def test_json_nested_deeper_than_the_parser_goes_is_a_parse_error(api_client, viewer_key):
    nested = "[" * 100_000 + "]" * 100_000
    body = (
        '{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "search_code", '
        f'"arguments": {{"query": "x", "repositories": {nested}}}}}}}'
    )
    response = post(api_client, body, viewer_key, raw=True)
    assert response.status_code == 400 and response.json()["error"]["code"] == -32700


def test_arguments_too_deep_for_the_schema_validator_are_invalid_not_a_crash():
    from mcpserver.mcp.tools import BY_NAME, InvalidArguments

    deep: list = []
    for _ in range(5000):  # parsed JSON can be this deep; jsonschema recurses on it
        deep = [deep]
    with pytest.raises(InvalidArguments, match="nested too deeply"):
        BY_NAME["search_code"].validate({"query": "x", "repositories": deep})


def test_a_strange_content_length_is_refused(api_client, viewer_key):
    for length in ("²", "-1", "1e9", "99999999999"):
        response = post(api_client, rpc("ping"), {**viewer_key, "CONTENT_LENGTH": length})
        assert response.status_code == 413, length


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("https://testserver", False),  # another scheme
        ("http://testserver:8080", False),  # another port
        ("http://TESTSERVER", True),  # case does not matter
        ("http://testserver:80", True),  # the default port spelled out
        ("http://testserver.", True),  # a trailing dot is the same name
        ("http://testserver@evil.example", False),  # userinfo: the host is evil.example
        ("http://evil.example#http://testserver", False),
    ],
)
def test_origins_are_compared_as_origins(api_client, viewer_key, origin, allowed):
    response = post(api_client, rpc("ping"), viewer_key, origin=origin)
    assert response.status_code == (200 if allowed else 403)


def test_with_a_public_url_only_its_origin_counts(api_client, viewer_key, settings):
    settings.MCP_PUBLIC_URL = "https://code.example.com"
    assert post(api_client, rpc("ping"), viewer_key, origin="http://testserver").status_code == 403
    allowed = post(api_client, rpc("ping"), viewer_key, origin="https://code.example.com")
    assert allowed.status_code == 200


def test_cors_preflight_allows_the_mcp_headers(api_client, settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://inspector.example"]
    response = api_client.options(
        "/mcp",
        HTTP_ORIGIN="https://inspector.example",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, content-type, mcp-protocol-version",
    )
    assert response.status_code == 200
    assert "mcp-protocol-version" in response["Access-Control-Allow-Headers"]


def test_tool_calls_are_rate_limited(api_client, viewer_key, settings):
    settings.MCP_TOOL_CALLS_PER_MINUTE = 2
    call = rpc("tools/call", {"name": "list_repositories"})
    statuses = [post(api_client, call, viewer_key).status_code for _ in range(3)]
    assert statuses[:2] == [200, 200]
    limited = post(api_client, call, viewer_key)
    assert limited.status_code == 429 and 1 <= int(limited["Retry-After"]) <= 60
    assert limited.json()["error"]["code"] == -32002
    assert post(api_client, rpc("tools/list"), viewer_key).status_code == 200  # only calls count


def test_metadata_names_configured_authorization_servers(api_client, settings):
    settings.MCP_AUTHORIZATION_SERVERS = ["https://login.example.com"]
    response = api_client.get("/.well-known/oauth-protected-resource/mcp")
    assert response.json()["authorization_servers"] == ["https://login.example.com"]
    assert response["Access-Control-Allow-Origin"] == "*"
    assert response["Cache-Control"] == "private, max-age=300"  # built from the Host header
