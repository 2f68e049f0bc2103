"""Language plugins: one module per language, behind this small registry.

A plugin maps file extensions to a tree-sitter grammar that ships in its own
PyPI wheel (no grammar is ever downloaded at run time) and a query that
captures definitions as `@definition.<kind>` with an inner `@name`. Plugins
can be switched off (PluginSetting rows, seen by every process); files of a
disabled or unknown language are still indexed for text search, without
symbols.
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass, field
from functools import cached_property

import tree_sitter

MODULES = ["python", "javascript", "typescript", "go", "rust", "java", "c", "cpp"]
SIGNATURE_MAX = 300
MAX_SYMBOLS_PER_FILE = 5000


@dataclass(frozen=True)
class Symbol:
    name: str
    kind: str
    start_line: int  # 1-based, inclusive
    end_line: int
    signature: str
    parent: str


@dataclass
class LanguagePlugin:
    name: str
    language: str
    extensions: tuple[str, ...]
    load_language: object  # () -> capsule from the grammar wheel
    query_source: str
    # A function nested in one of these kinds is a method.
    method_parents: frozenset[str] = field(default_factory=lambda: frozenset({"class"}))

    @cached_property
    def _language(self) -> tree_sitter.Language:
        return tree_sitter.Language(self.load_language())

    @cached_property
    def _query(self) -> tree_sitter.Query:
        return tree_sitter.Query(self._language, self.query_source)

    def symbols(self, source: bytes) -> list[Symbol]:
        tree = tree_sitter.Parser(self._language).parse(source)
        found: dict[tuple[int, int], tuple] = {}
        for pattern, captures in tree_sitter.QueryCursor(self._query).matches(tree.root_node):
            names = captures.get("name")
            definition = next(
                (
                    (key, nodes[0])
                    for key, nodes in captures.items()
                    if key.startswith("definition.")
                ),
                None,
            )
            if not names or definition is None:
                continue
            key, node = definition
            # The earliest pattern that matches a node wins: queries list specific kinds first.
            span = (node.start_byte, node.end_byte)
            if span not in found or pattern < found[span][0]:
                found[span] = (pattern, key[11:], node, names[0])
        symbols: list[Symbol] = []
        stack: list[tuple[int, str, str]] = []  # (end_byte, name, kind) of enclosing definitions
        for (start, end), (_pattern, kind, node, name_node) in sorted(found.items()):
            while stack and stack[-1][0] <= start:
                stack.pop()
            parent_name, parent_kind = (stack[-1][1], stack[-1][2]) if stack else ("", "")
            if kind == "function" and parent_kind in self.method_parents:
                kind = "method"
            name = name_node.text[:255].decode("utf-8", "replace")
            # A slice of the source, not node.text: copying whole bodies of
            # nested definitions would cost quadratic time on hostile files.
            head = source[node.start_byte : min(node.end_byte, node.start_byte + 4 * SIGNATURE_MAX)]
            first_line = head.split(b"\n", 1)[0].decode("utf-8", "replace").strip()
            symbols.append(
                Symbol(
                    name=name,
                    kind=kind,
                    start_line=node.start_point.row + 1,
                    end_line=node.end_point.row + 1,
                    signature=first_line[:SIGNATURE_MAX],
                    parent=parent_name,
                )
            )
            stack.append((end, name, kind))
            if len(symbols) >= MAX_SYMBOLS_PER_FILE:
                break
        return symbols


def all_plugins() -> dict[str, LanguagePlugin]:
    return {
        plugin.name: plugin
        for plugin in (importlib.import_module(f"indexing.plugins.{m}").PLUGIN for m in MODULES)
    }


_PLUGINS: dict[str, LanguagePlugin] | None = None


def registry() -> dict[str, LanguagePlugin]:
    global _PLUGINS
    if _PLUGINS is None:
        _PLUGINS = all_plugins()
    return _PLUGINS


# Names people use for a language besides its own, its plugin's and its extensions.
LANGUAGE_ALIASES = {
    "python3": "Python", "node": "JavaScript", "golang": "Go", "c++": "C++",
}  # fmt: skip


def language_named(value: str) -> str | None:
    """The language a name, plugin name, usual short name or file extension means, in
    any case ("py", ".py", "python", "Python" are Python); None if none does."""
    return _language_names().get(value.strip().lower())


@functools.cache
def _language_names() -> dict[str, str]:
    # Built once: every search with lang asks, and the plugins never change in a process.
    names = dict(LANGUAGE_ALIASES)
    for plugin in registry().values():
        names[plugin.language.lower()] = plugin.language
        names[plugin.name] = plugin.language
        for extension in plugin.extensions:
            names[extension] = names[extension[1:]] = plugin.language
    return names


def language_names() -> list[str]:
    return sorted({plugin.language for plugin in registry().values()})


def by_extension(enabled: set[str]) -> dict[str, LanguagePlugin]:
    """Extension (".py") -> plugin, for the enabled plugins."""
    return {
        extension: plugin
        for plugin in registry().values()
        if plugin.name in enabled
        for extension in plugin.extensions
    }
