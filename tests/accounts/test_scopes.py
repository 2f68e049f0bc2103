import pytest

from accounts import scopes
from accounts.scopes import UnknownScopeError, expand_scopes, parse_scope_string


def test_vocabulary_has_the_eight_mcp_scopes():
    assert set(scopes.MCP_SCOPES) == {
        "mcp:index:create",
        "mcp:index:update",
        "mcp:index:delete",
        "mcp:search:code",
        "mcp:search:semantic",
        "mcp:plugin:manage",
        "mcp:system:config",
        "mcp:user:manage",
    }
    assert set(scopes.SCOPE_DESCRIPTIONS) == set(scopes.MCP_SCOPES)


@pytest.mark.parametrize(
    ("alias", "expected"),
    [
        ("index:read", {"mcp:search:code"}),
        ("index:write", {"mcp:index:create", "mcp:index:update", "mcp:index:delete"}),
        ("search:read", {"mcp:search:code", "mcp:search:semantic"}),
        ("admin", set(scopes.MCP_SCOPES)),
    ],
)
def test_aliases_expand_to_mcp_scopes(alias, expected):
    assert expand_scopes([alias]) == expected


def test_aliases_and_scopes_mix():
    assert expand_scopes(["index:read", "mcp:index:delete"]) == {
        "mcp:search:code",
        "mcp:index:delete",
    }


@pytest.mark.parametrize(
    "name", ["mcp:index:*", "MCP:SEARCH:CODE", "openid", "mcp:search", "", "admin "]
)
def test_unknown_scope_is_refused(name):
    with pytest.raises(UnknownScopeError) as excinfo:
        expand_scopes(["mcp:search:code", name])
    assert name in excinfo.value.names


def test_scope_string_is_split_on_whitespace_and_bounded():
    assert parse_scope_string(" mcp:search:code\tindex:read ") == ["mcp:search:code", "index:read"]
    with pytest.raises(UnknownScopeError):
        parse_scope_string("a " * 1000)


def test_scope_string_is_in_vocabulary_order():
    assert scopes.scope_string({"mcp:user:manage", "mcp:search:code"}) == (
        "mcp:search:code mcp:user:manage"
    )
