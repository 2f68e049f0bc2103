"""Symbol lookup and reading indexed files (reads only)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.db import connection
from django.db.models import F

from indexing.indexer import search_name
from indexing.models import Chunk, IndexedFile, visible_at
from search import sql

SYMBOL_CANDIDATES = 200
_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")


def _visible(prefix: str):
    return visible_at(F(f"{prefix}repository__generation"), prefix)


def words(name: str) -> list[str]:
    """camelCase, PascalCase, snake_case and SCREAMING_CASE split into lower-case words."""
    return [w.lower() for part in name.split("_") for w in _WORDS.findall(part)]


def _rank(name: str, query: str) -> int | None:
    """0 exact, 1 exact ignoring case and _, 2 prefix, 3 word initials or word prefixes,
    4 substring, 5 letters in order; None: no match."""
    return _ranker(query)(name)


def _ranker(query: str):
    """_rank for one query over many names: what depends on the query only is worked out
    once, not for each of the up to 2 * SYMBOL_CANDIDATES names."""
    q = search_name(query)
    query_words = words(query) or [q]

    def rank(name: str) -> int | None:
        if name == query:
            return 0
        key = search_name(name)
        if key == q:
            return 1
        if key.startswith(q):
            return 2
        name_words = words(name)
        if "".join(w[0] for w in name_words).startswith(q) or _words_prefix(
            name_words, query_words
        ):
            return 3
        if q in key:
            return 4
        position = 0
        for char in q:
            position = key.find(char, position) + 1
            if position == 0:
                return None
        return 5

    return rank


def _words_prefix(name_words: list[str], query_words: list[str]) -> bool:
    """Each query word starts a name word, in order: "get_cur" ~ getCurrentUser."""
    index = 0
    for query_word in query_words:
        while index < len(name_words) and not name_words[index].startswith(query_word):
            index += 1
        if index == len(name_words):
            return False
        index += 1
    return True


SYMBOL_COLUMNS = ("id", "file_id", "name", "kind", "start_line", "end_line", "signature", "parent")
NAME, FILE_ID = SYMBOL_COLUMNS.index("name"), SYMBOL_COLUMNS.index("file_id")


@dataclass(frozen=True)
class SymbolMatch:
    """A symbol found by name, with where it is (plain values: building Symbol, file and
    repository models for each of up to 500 results cost more than finding them)."""

    name: str
    kind: str
    parent: str
    signature: str
    start_line: int
    end_line: int
    repository_id: int
    repository: str
    path: str
    language: str


def symbol_search(
    *,
    q: str,
    kinds: list[str],
    language: str | None,
    repositories: list[int],
    limit: int,
) -> list[tuple[int, SymbolMatch]]:
    # Symbols first, then their files, both by index: joining symbols to the visible
    # files in one query makes PostgreSQL hash every visible file for each lookup.
    # Plain SQL (search/sql.py): the ORM took longer to build these than to run them.
    conditions, params = [], []
    if kinds:
        where, more = sql.in_list("s.kind", kinds)
        conditions.append(where)
        params += more
    if language or repositories:
        file_where, more = sql.file_conditions(
            "f", "r", repositories=repositories, language=language
        )
        conditions.append(
            "s.file_id IN (SELECT f.id FROM indexing_indexedfile f "  # noqa: S608
            "JOIN indexing_repository r "
            f"ON r.id = f.repository_id WHERE {' AND '.join(file_where)})"
        )
        params += more
    key = search_name(q)
    # Cheap, indexed candidates first (shortest names first, so an exact match is never
    # cut off); the letters-in-order pattern only if needed. Candidates are ranked as
    # tuples: up to 2 * SYMBOL_CANDIDATES rows, no models.
    if connection.vendor == "sqlite":
        # SQLite cannot answer LIKE from the index of a column with the default
        # collation: it scanned every symbol. A range can (search names are compared
        # byte by byte, and no character sorts after U+10FFFF).
        prefix, prefix_params = (
            "s.search_name >= %s AND s.search_name < %s",
            [key, key + "\U0010ffff"],
        )
    else:  # LIKE 'key%' uses the varchar_pattern_ops index (search/migrations)
        prefix = "s.search_name LIKE %s"
        prefix_params = [connection.ops.prep_for_like_query(key) + "%"]
    # At least `limit` candidates from each query, so a large limit is honoured (a caller
    # that asks for one more than it shows learns whether the list was cut).
    candidates = max(SYMBOL_CANDIDATES, limit)
    found = _symbol_rows([prefix, *conditions], prefix_params + params, candidates)
    if len(found) < limit:
        seen = {row[0] for row in found}
        in_order = "%" + "%".join(char for char in key if char.isalnum()) + "%"
        # The prefix matches already found are dropped here rather than in SQL: a NOT IN
        # of up to SYMBOL_CANDIDATES ids cost more to build and plan than to skip.
        more_rows = _symbol_rows(
            ["s.search_name LIKE %s", *conditions], [in_order, *params],
            candidates + len(seen),
        )  # fmt: skip
        found += [row for row in more_rows if row[0] not in seen][:candidates]
    # Rows of a generation being built, or just replaced, are not shown.
    shown = sql.visible_files(
        {row[FILE_ID] for row in found}, repositories=repositories, language=language
    )
    ranked = []
    rank_of = _ranker(q)
    for row in found:
        name = row[NAME]
        if row[FILE_ID] in shown and (rank := rank_of(name)) is not None:
            ranked.append((rank, len(name), name, row[0], row))
    ranked.sort(key=lambda entry: entry[:4])
    results = []
    for rank, _length, _name, _pk, row in ranked[:limit]:
        _symbol_id, file_id, name, kind, start_line, end_line, signature, parent = row
        path, file_language, repository_id, repository_name = shown[file_id]
        match = SymbolMatch(
            name=name, kind=kind, parent=parent, signature=signature,
            start_line=start_line, end_line=end_line, repository_id=repository_id,
            repository=repository_name, path=path, language=file_language,
        )  # fmt: skip
        results.append((rank, match))
    return results


def _symbol_rows(conditions: list[str], params: list, limit: int) -> list[tuple]:
    """SYMBOL_COLUMNS of the symbols meeting every condition, shortest names first."""
    columns = ", ".join(f"s.{column}" for column in SYMBOL_COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {columns} FROM indexing_symbol s "  # noqa: S608
            f"WHERE {' AND '.join(conditions)} "
            "ORDER BY length(s.search_name), s.name, s.id LIMIT %s",
            [*params, limit],
        )
        return cursor.fetchall()


def file_get(*, repository_id: int, path: str) -> IndexedFile | None:
    return (
        IndexedFile.objects.filter(_visible(""), repository_id=repository_id, path=path)
        .select_related("repository")
        .first()
    )


def file_lines(*, indexed_file: IndexedFile, start: int, end: int) -> list[str]:
    chunks = Chunk.objects.filter(
        file=indexed_file, end_line__gte=start, start_line__lte=end
    ).order_by("start_line")
    lines: list[str] = []
    for chunk in chunks:
        for offset, line in enumerate(chunk.text.splitlines(keepends=True)):
            if start <= chunk.start_line + offset <= end:
                lines.append(line)
    return lines
