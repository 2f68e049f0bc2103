"""Code search: a trigram index finds candidate chunks, exact matching confirms lines.

SQLite uses an FTS5 table with the trigram tokenizer over chunk text, PostgreSQL
a pg_trgm GIN index (search/migrations). Either way the index only narrows the
chunks down; every reported line is matched again here, literally or with RE2,
a linear-time engine, so a hostile pattern cannot tie up a worker. A regex
contributes the longest literal it requires to the index lookup; a pattern
with none (or a query shorter than three characters) is scanned chunk by chunk
within a time budget, and says so when the budget runs out.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import json
import re
import re._parser as sre_parse
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import re2
from django.db import connection
from django.db.models import F

from indexing.models import Chunk, Repository, visible_at

MAX_QUERY_LENGTH = 1000
CONTEXT_LINES = 2
BATCH = 200
CANDIDATE_BATCH = 500
SCAN_BUDGET_SECONDS = 2.0
MIN_INDEXED_LITERAL = 3
MAX_LITERALS = 4
MAX_ID = 2**62
MAX_LINE_CHARS = 1000
LIKE_SPECIAL = "%_\\"


class SearchError(ValueError):
    """A query that cannot run: the message says why (it becomes a 400)."""


@dataclass
class Hit:
    repository_id: int
    repository: str
    path: str
    language: str
    line: int
    text: str
    before: list[str]
    after: list[str]


@dataclass
class SearchResult:
    hits: list[Hit] = field(default_factory=list)
    truncated: bool = False
    next_cursor: str | None = None
    message: str = ""
    used_index: bool = True

    @property
    def files_matched(self) -> int:
        return len({(hit.repository_id, hit.path) for hit in self.hits})


# --- Matching ---------------------------------------------------------------------------


def _re2_options(case: bool):
    options = re2.Options()
    options.case_sensitive = case
    options.log_errors = False
    options.max_mem = 32 << 20
    return options


def matcher(q: str, *, regex: bool, case: bool) -> Callable[[str], bool]:
    if regex:
        try:
            compiled = re2.compile(q, _re2_options(case))
        except re2.error as exc:
            raise SearchError(f"Invalid regular expression: {_re2_message(exc)}") from None
        return lambda line: compiled.search(line) is not None
    if case:
        return lambda line: q in line
    folded = q.casefold()
    return lambda line: folded in line.casefold()


def _re2_message(exc: Exception) -> str:
    text = str(exc.args[0] if exc.args else exc)
    if text.startswith("b'") or text.startswith('b"'):
        text = text[2:-1]
    return text[:200]


def required_literals(q: str, *, regex: bool, case: bool = True) -> list[str]:
    """Literals every match must contain, usable by the trigram index (3+ characters,
    no LIKE wildcards), longest first; empty when there is none.

    For a case-insensitive search only ASCII runs are used: SQLite's LIKE folds
    ASCII case only, so "école" would miss "École" in the index."""
    if not regex:
        runs = [q]
    else:
        try:
            parsed = sre_parse.parse(q)
        except Exception:  # RE2 syntax Python's parser does not know: no prefilter
            return []
        if any(op is sre_parse.BRANCH for op, _value in parsed):
            return []  # a top-level alternation: no single literal is required
        runs, current = [], []
        for op, value in parsed:
            if op is sre_parse.LITERAL:
                current.append(chr(value))
            else:
                runs.append("".join(current))
                current = []
        runs.append("".join(current))
    separators = r"[%_\\\n\x00]" if case else r"[%_\\\n\x00]|[^\x00-\x7f]"
    pieces = {piece for run in runs for piece in re.split(separators, run)}
    usable = sorted(
        (p for p in pieces if len(p) >= MIN_INDEXED_LITERAL), key=lambda p: (-len(p), p)
    )
    return usable[:MAX_LITERALS]


# --- Cursors ----------------------------------------------------------------------------


def encode_cursor(chunk_id: int, line: int) -> str:
    raw = json.dumps({"c": chunk_id, "l": line}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> tuple[int, int]:
    if not cursor:
        return 0, 0
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        chunk_id, line = data["c"], data["l"]
    except (ValueError, KeyError, TypeError, binascii.Error, json.JSONDecodeError):
        raise SearchError("Invalid cursor: pass the next_cursor of a previous page.") from None
    if not all(type(n) is int and 0 <= n < MAX_ID for n in (chunk_id, line)):
        raise SearchError("Invalid cursor: pass the next_cursor of a previous page.")
    return chunk_id, line


# --- Candidates -------------------------------------------------------------------------


def visible_chunks():
    """Chunks of the files each repository's live generation shows."""
    return Chunk.objects.filter(visible_at(F("file__repository__generation"), "file__"))


def _like_pattern(literal: str) -> str:
    return "%" + "".join("\\" + ch if ch in LIKE_SPECIAL else ch for ch in literal) + "%"


def _candidate_ids(literals: list[str], after: int, limit: int) -> list[int]:
    """Chunk ids whose text may contain every literal, in id order, from the index."""
    if connection.vendor == "sqlite":
        # FTS5 accelerates LIKE on the trigram table; the literals hold no % or _.
        where = " AND ".join(["text LIKE %s"] * len(literals))
        # Only placeholders are formatted in; the literals travel as parameters.
        sql = (
            f"SELECT rowid FROM search_chunk_fts WHERE {where} AND rowid > %s "  # noqa: S608
            "ORDER BY rowid LIMIT %s"
        )
        params = ["%" + literal + "%" for literal in literals] + [after, limit]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return [row[0] for row in cursor.fetchall()]
    return _postgres_candidate_ids(literals, after, limit)


def _postgres_candidate_ids(literals: list[str], after: int, limit: int) -> list[int]:
    # The GIN index yields a bitmap of candidate rows; PostgreSQL rechecks them and sorts.
    # (Windows of ids were tried: the planner then scans the id range row by row, 4x slower.)
    where = " AND ".join(["text ILIKE %s"] * len(literals))
    sql = (
        f"SELECT id FROM indexing_chunk WHERE {where} AND id > %s "  # noqa: S608
        "ORDER BY id LIMIT %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*(_like_pattern(literal) for literal in literals), after, limit])
        return [row[0] for row in cursor.fetchall()]


def resolve_repositories(values: list[str]) -> list[int]:
    ids = []
    for value in values:
        numeric = value.isascii() and value.isdigit() and len(value) <= 18
        found = (
            Repository.objects.filter(pk=int(value)) if numeric else Repository.objects.none()
        ) | Repository.objects.filter(name=value)
        matched = list(found.values_list("pk", flat=True))
        if not matched:
            raise SearchError(f"No repository {value!r}.")
        ids.extend(matched)
    return ids


@dataclass
class Query:
    q: str
    regex: bool = False
    case: bool = False
    repositories: list[int] = field(default_factory=list)
    language: str | None = None
    path_glob: str | None = None
    limit: int = 50
    cursor: str | None = None


def search(query: Query, *, budget: float = SCAN_BUDGET_SECONDS) -> SearchResult:
    if not query.q:
        raise SearchError("Give a query in q.")
    if len(query.q) > MAX_QUERY_LENGTH:
        raise SearchError(f"The query is longer than {MAX_QUERY_LENGTH} characters.")
    matches = matcher(query.q, regex=query.regex, case=query.case)
    # Compiled here, not through fnmatch's cache: distinct globs would pile up in it.
    path_matches = re.compile(fnmatch.translate(query.path_glob)).match if query.path_glob else None
    start_chunk, start_line = decode_cursor(query.cursor)

    chunks = visible_chunks()
    if query.repositories:
        chunks = chunks.filter(file__repository_id__in=query.repositories)
    if query.language:
        chunks = chunks.filter(file__language__iexact=query.language)
    literals = required_literals(query.q, regex=query.regex, case=query.case)
    result = SearchResult(used_index=bool(literals))
    chunks = chunks.order_by("pk")
    fields = (
        "pk",
        "start_line",
        "text",
        "file__path",
        "file__language",
        "file__repository_id",
        "file__repository__name",
    )
    deadline = time.monotonic() + budget
    last_seen = start_chunk - 1
    while True:
        if time.monotonic() > deadline:
            result.truncated = True
            result.next_cursor = (
                encode_cursor(start_chunk, start_line)  # no progress: resume where asked
                if last_seen < start_chunk
                else encode_cursor(last_seen + 1, 0)
            )
            result.message = _budget_message(bool(literals))
            return result
        if not literals:
            batch = list(chunks.filter(pk__gt=last_seen).values_list(*fields)[:BATCH])
            if not batch:
                return result
            last_seen = batch[-1][0]
        else:
            # The index yields candidates in id order; the join keeps the visible ones.
            ids = _candidate_ids(literals, last_seen, CANDIDATE_BATCH)
            if not ids:
                return result
            last_seen = ids[-1]
            batch = list(chunks.filter(pk__in=ids).values_list(*fields))
        for chunk_id, first_line, text, path, language, repo_id, repo_name in batch:
            if path_matches is not None and not path_matches(path):
                continue
            lines = text.splitlines()
            for offset, line in enumerate(lines):
                number = first_line + offset
                if chunk_id == start_chunk and number <= start_line:
                    continue
                if not matches(line):
                    continue
                if len(result.hits) == query.limit:
                    result.truncated = True
                    result.next_cursor = encode_cursor(chunk_id, number - 1)
                    return result
                result.hits.append(
                    Hit(
                        repository_id=repo_id,
                        repository=repo_name,
                        path=path,
                        language=language,
                        line=number,
                        text=_trim(line),
                        before=[_trim(x) for x in lines[max(0, offset - CONTEXT_LINES) : offset]],
                        after=[_trim(x) for x in lines[offset + 1 : offset + 1 + CONTEXT_LINES]],
                    )
                )
            if time.monotonic() > deadline:
                result.truncated = True
                result.next_cursor = encode_cursor(chunk_id, first_line + len(lines))
                result.message = _budget_message(bool(literals))
                return result


def _budget_message(used_index: bool) -> str:
    return (
        "The search took too long and stopped early: "
        + (
            ""
            if used_index
            else "add a literal of three or more characters to the pattern so the index can "
            "narrow it down, or "
        )
        + "continue with next_cursor, or narrow it with repo, lang or path."
    )


def _trim(line: str) -> str:
    """Minified files have megabyte lines: a hit shows at most MAX_LINE_CHARS of one."""
    return line if len(line) <= MAX_LINE_CHARS else line[:MAX_LINE_CHARS] + "…"
