"""The scope vocabulary: the eight MCP scopes and the generic aliases.

Every place that accepts scope names (roles, token requests, later API keys)
goes through `expand_scopes`, so an unknown name is refused in one place.
"""

from __future__ import annotations

from collections.abc import Iterable

INDEX_CREATE = "mcp:index:create"
INDEX_UPDATE = "mcp:index:update"
INDEX_DELETE = "mcp:index:delete"
SEARCH_CODE = "mcp:search:code"
SEARCH_SEMANTIC = "mcp:search:semantic"
PLUGIN_MANAGE = "mcp:plugin:manage"
SYSTEM_CONFIG = "mcp:system:config"
USER_MANAGE = "mcp:user:manage"

# Ordered as they are shown to people (admin checkboxes, docs).
MCP_SCOPES: tuple[str, ...] = (
    SEARCH_CODE,
    SEARCH_SEMANTIC,
    INDEX_CREATE,
    INDEX_UPDATE,
    INDEX_DELETE,
    PLUGIN_MANAGE,
    SYSTEM_CONFIG,
    USER_MANAGE,
)

SCOPE_DESCRIPTIONS: dict[str, str] = {
    SEARCH_CODE: "Search code: literal, regex and symbol search, read indexed files",
    SEARCH_SEMANTIC: "Semantic search over embeddings of code",
    INDEX_CREATE: "Register and index new repositories",
    INDEX_UPDATE: "Re-index repositories",
    INDEX_DELETE: "Delete repositories and their index",
    PLUGIN_MANAGE: "Enable and disable language plugins",
    SYSTEM_CONFIG: "Read and change server configuration, read the audit trail",
    USER_MANAGE: "Manage users, roles and other users' API keys",
}

ALIASES: dict[str, frozenset[str]] = {
    "index:read": frozenset({SEARCH_CODE}),
    "index:write": frozenset({INDEX_CREATE, INDEX_UPDATE, INDEX_DELETE}),
    "search:read": frozenset({SEARCH_CODE, SEARCH_SEMANTIC}),
    "admin": frozenset(MCP_SCOPES),
}

# Longer than any sensible request; bounds the work done on hostile input.
MAX_SCOPE_STRING_LENGTH = 1024


class UnknownScopeError(ValueError):
    def __init__(self, names: Iterable[str]):
        self.names = sorted(set(names))
        super().__init__("Unknown scope: " + ", ".join(self.names))


def parse_scope_string(value: str) -> list[str]:
    """Split an OAuth-style space-separated scope string."""
    if len(value) > MAX_SCOPE_STRING_LENGTH:
        raise UnknownScopeError(["(scope string too long)"])
    return value.split()


def expand_scopes(names: Iterable[str]) -> frozenset[str]:
    """Expand aliases to MCP scopes; refuse any name that is neither."""
    expanded: set[str] = set()
    unknown: list[str] = []
    for name in names:
        if name in ALIASES:
            expanded |= ALIASES[name]
        elif name in MCP_SCOPES:
            expanded.add(name)
        else:
            unknown.append(name)
    if unknown:
        raise UnknownScopeError(unknown)
    return frozenset(expanded)


def ordered(scopes: Iterable[str]) -> list[str]:
    """Scopes in vocabulary order, for stable output."""
    wanted = set(scopes)
    return [scope for scope in MCP_SCOPES if scope in wanted]


def scope_string(scopes: Iterable[str]) -> str:
    return " ".join(ordered(scopes))
