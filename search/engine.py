"""Code search: a trigram index finds candidate chunks, exact matching confirms lines.

SQLite uses an FTS5 table with the trigram tokenizer over chunk text, PostgreSQL
a pg_trgm GIN index over the text with ASCII letters lowered (search/migrations).
Either way the index only narrows the chunks down; every reported line is matched
again here, literally or with RE2, a linear-time engine, so a hostile pattern
cannot tie up a worker. A query becomes one LIKE pattern of the literal runs a
match must hold, in order (like_pattern); a pattern with none (or a query shorter
than three characters) is scanned chunk by chunk within a time budget, and says
so when the budget runs out.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import json
import re
import re._parser as sre_parse
import string
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import re2
from django.db import connection
from django.db.models import F, Q

from indexing.models import Chunk, Repository, visible_at
from search import sql

MAX_QUERY_LENGTH = 1000
CONTEXT_LINES = 2
BATCH = 200
CANDIDATE_BATCH = 500
TEXT_BATCH = 50
TEXT_BATCH_GROWTH = 4
# The first candidates asked for and read: a page of 50 hits takes 51 matches (the 51st
# says it was cut short), and many chunks hold one match: 50 chunks often meant a second
# round of index query and reads for one more line.
FIRST_BATCH = 64
# PostgreSQL candidate windows, in chunk ids (see _postgres_candidate_ids).
PG_FIRST_WINDOW = 1024
PG_WINDOW_GROWTH = 4
PG_MIN_WINDOW = 256
SCAN_BUDGET_SECONDS = 2.0
MIN_INDEXED_LITERAL = 3
MAX_LITERALS = 4
MAX_ID = 2**62
MAX_LINE_CHARS = 1000


class SearchError(ValueError):
    """A query that cannot run: the message says why (it becomes a 400)."""

    field = "q"  # the parameter the message is about


class InvalidCursor(SearchError):
    field = "cursor"


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


def line_matcher(q: str, *, regex: bool, case: bool) -> Callable[[str, list[str]], list[int]]:
    """A function of a chunk's text and its lines (text.splitlines()) that gives the
    offsets of the lines that match.

    Ignoring case, the chunk is casefolded once and split, rather than each line: no
    character casefolds to a line break, so the lines stay aligned (checked anyway).
    A regex's lines must first hold its longest literal (a substring test), since a call
    into RE2 costs several microseconds and most lines of a candidate chunk lack it."""
    if regex:
        try:
            compiled = re2.compile(q, _re2_options(case))
        except re2.error as exc:
            raise SearchError(f"Invalid regular expression: {_re2_message(exc)}") from None
        needle, fold = _line_needle(q, case=case), _folds(q, regex=True, case=case)
    else:
        compiled, needle, fold = None, (q if case else q.casefold()), not case

    def matching(text: str, lines: list[str]) -> list[int]:
        if needle is None:
            return [i for i, line in enumerate(lines) if compiled.search(line) is not None]
        probes = lines
        if fold:
            probes = text.casefold().splitlines()
            if len(probes) != len(lines):
                probes = [line.casefold() for line in lines]
        found = [i for i, probe in enumerate(probes) if needle in probe]
        if compiled is None:
            return found
        return [i for i in found if compiled.search(lines[i]) is not None]

    return matching


def _re2_message(exc: Exception) -> str:
    text = str(exc.args[0] if exc.args else exc)
    if text.startswith("b'") or text.startswith('b"'):
        text = text[2:-1]
    return text[:200]


def _folds(q: str, *, regex: bool, case: bool) -> bool:
    """Whether matching ignores case: asked for, or a regex that starts with (?i)."""
    if not case:
        return True
    if not regex:
        return False
    try:
        return bool(sre_parse.parse(q).state.flags & sre_parse.SRE_FLAG_IGNORECASE)
    except Exception:  # RE2 syntax Python's parser does not know: no literal is used
        return False


def chunk_gate(q: str, *, case: bool) -> Callable[[str], bool] | None:
    """For a regex: a test of a whole chunk that fails only when no line of it can match,
    so its lines need not be split and matched one by one; None when the regex requires
    no literal. The literal runs must appear in order within one line: RE2 (linear time,
    like everything that runs a pattern of the user's) looks for them joined by [^\\n]*.
    Ignoring case, only ASCII runs are used, as in like_pattern."""
    fold, pieces = _literal_pieces(q, regex=True, case=case)
    pieces = [piece for piece in pieces if piece][:MAX_LITERALS]
    if not pieces:
        return None
    gate = re2.compile(
        "[^\\n]*".join(re2.escape(piece) for piece in pieces), _re2_options(not fold)
    )
    return lambda text: gate.search(text) is not None


def _line_needle(q: str, *, case: bool) -> str | None:
    """The longest literal every line a regex matches contains, casefolded when the match
    ignores case; None when there is none. Ignoring case, only ASCII pieces are used:
    every character RE2 folds to an ASCII letter (K, the Kelvin sign, k) casefolds to that
    letter, which does not hold for every non-ASCII one."""
    fold, pieces = _literal_pieces(q, regex=True, case=case)
    longest = max(pieces, key=len, default="")
    if not longest:
        return None
    return longest.casefold() if fold else longest


def _literal_pieces(q: str, *, regex: bool, case: bool) -> tuple[bool, list[str]]:
    """(whether the match ignores case, the required runs in order, split where a line
    cannot hold them: at a newline or NUL, and ignoring case at any non-ASCII character,
    which may be another case of something else). Pieces may be empty.

    A literal search that ignores case matches the casefolded query against casefolded
    lines, so its runs come from the casefolded query ("GRÜß" gives "gr", "ss"): each
    ASCII run of it is in the index's form of every matching line (index_form)."""
    fold = _folds(q, regex=regex, case=case)
    separators = r"[\n\x00]|[^\x00-\x7f]" if fold else r"[\n\x00]"
    runs = _required_runs(q.casefold() if fold and not regex else q, regex=regex)
    return fold, [piece for run in runs for piece in re.split(separators, run)]


# The characters whose full case folding holds an ASCII letter although they are not
# ASCII: "straße" casefolds to "strasse", the Kelvin sign to "k", "ﬁ" to "fi". Every
# other non-ASCII character folds to non-ASCII ones only. The trigram indexes hold the
# text with these replaced by their folding (search/migrations/0003), so that the ASCII
# runs of a casefolded query are in the indexed text of every line that matches it
# (and those of a regex, which RE2 folds the long s into "s" for). Checked against Python's
# tables by tests/search/test_unicode.py.
FOLDS_TO_ASCII = {
    "\u00df": "ss",  # latin small letter sharp s
    "\u0130": "i\u0307",  # latin capital letter i with dot above
    "\u0149": "\u02bcn",  # latin small letter n preceded by apostrophe
    "\u017f": "s",  # latin small letter long s
    "\u01f0": "j\u030c",  # latin small letter j with caron
    "\u1e96": "h\u0331",  # latin small letter h with line below
    "\u1e97": "t\u0308",  # latin small letter t with diaeresis
    "\u1e98": "w\u030a",  # latin small letter w with ring above
    "\u1e99": "y\u030a",  # latin small letter y with ring above
    "\u1e9a": "a\u02be",  # latin small letter a with right half ring
    "\u1e9e": "ss",  # latin capital letter sharp s
    "\u212a": "k",  # kelvin sign
    "\ufb00": "ff",  # latin small ligature ff
    "\ufb01": "fi",  # latin small ligature fi
    "\ufb02": "fl",  # latin small ligature fl
    "\ufb03": "ffi",  # latin small ligature ffi
    "\ufb04": "ffl",  # latin small ligature ffl
    "\ufb05": "st",  # latin small ligature long s t
    "\ufb06": "st",  # latin small ligature st
}
_EXPAND = str.maketrans(FOLDS_TO_ASCII)


def index_form(text: str) -> str:
    """Text (or a LIKE pattern) as the trigram indexes hold it: FOLDS_TO_ASCII applied."""
    return text.translate(_EXPAND)


def _required_runs(q: str, *, regex: bool) -> list[str]:
    """The literal runs every match contains, in the order a match contains them; empty
    when nothing is required (a top-level alternation, or syntax Python cannot parse)."""
    if not regex:
        return [q]
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
    return [run for run in runs if run]


def like_pattern(q: str, *, regex: bool, case: bool) -> str | None:
    """One LIKE pattern every matching chunk satisfies, for the trigram index (SQLite's
    FTS5 table, PostgreSQL's pg_trgm); None when it would hold no three characters free
    of wildcards (the index could not help).

    The required runs stay whole and in order, and `%` or `_` inside them stay as they
    are: each matches itself among other things, so the pattern is still satisfied by
    every match. That keeps "get_or_create" one term (the index checks the whole string)
    instead of "get" AND "create", which half of a Python tree contains. Without an
    ESCAPE clause a backslash is an ordinary character. A newline or NUL cannot be part
    of a matching line, and for a case-insensitive search a non-ASCII character could
    be another case (SQLite's LIKE and PostgreSQL's folded column fold ASCII only):
    both become `%`."""
    _fold, pieces = _literal_pieces(q, regex=regex, case=case)
    pieces = [piece for piece in pieces if len(piece) >= MIN_INDEXED_LITERAL][:MAX_LITERALS]
    if not any(
        len(part) >= MIN_INDEXED_LITERAL for piece in pieces for part in re.split(r"[%_]", piece)
    ):
        return None
    return "%" + "%".join(pieces) + "%"


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
        raise InvalidCursor("Invalid cursor: pass the next_cursor of a previous page.") from None
    if not all(type(n) is int and 0 <= n < MAX_ID for n in (chunk_id, line)):
        raise InvalidCursor("Invalid cursor: pass the next_cursor of a previous page.")
    return chunk_id, line


# --- Candidates -------------------------------------------------------------------------


def visible_chunks():
    """Chunks of the files each repository's live generation shows."""
    return Chunk.objects.filter(visible_at(F("file__repository__generation"), "file__"))


def _scanned_chunks(repositories: list[int], language: str | None):
    """Every visible chunk (of `repositories`, in `language`, when given) as the rows
    _read_candidates gives, in id order: for patterns the index cannot narrow."""
    chunks = visible_chunks()
    if repositories:
        chunks = chunks.filter(file__repository_id__in=repositories)
    if language:
        chunks = chunks.filter(file__language__iexact=language)
    return chunks.order_by("pk").values_list(
        "pk",
        "start_line",
        "text",
        "file__path",
        "file__language",
        "file__repository_id",
        "file__repository__name",
    )


def _read_candidates(ids: list[int], repositories: list[int], language: str | None) -> list[tuple]:
    """The chunks with these ids whose file is visible (and in `repositories`, in
    `language`, when given), in id order.

    Two lookups by primary key: joining chunks to visible files in one query makes
    PostgreSQL hash every visible file of every repository for each page."""
    chunks = _chunks_by_id(ids)
    file_info = sql.visible_files(
        {chunk[3] for chunk in chunks}, repositories=repositories, language=language
    )
    return [
        (pk, start_line, text, *file_info[file_id])
        for pk, start_line, text, file_id in chunks
        if file_id in file_info
    ]


def _chunks_by_id(ids: list[int]) -> list[tuple[int, int, str, int]]:
    """(id, start_line, text, file_id) of these chunks, in id order."""
    where, params = sql.in_list("id", ids)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, start_line, text, file_id FROM indexing_chunk "  # noqa: S608
            f"WHERE {where} ORDER BY id",
            params,
        )
        return cursor.fetchall()


def _candidate_ids(
    pattern: str, after: int, limit: int, *, case: bool, windows: bool = True
) -> tuple[list[int], bool]:
    """Chunk ids after `after` whose text may match `pattern` (like_pattern), in id
    order, from the index; and whether those are the last ones. `windows`: see
    _postgres_windows_help."""
    if connection.vendor == "sqlite":
        # FTS5 answers LIKE on the trigram table from the index, and checks the pattern.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT rowid FROM search_chunk_fts WHERE text LIKE %s AND rowid > %s "
                "ORDER BY rowid LIMIT %s",
                [index_form(pattern), after, limit],
            )
            ids = [row[0] for row in cursor.fetchall()]
            return ids, len(ids) < limit
    return _postgres_candidate_ids(pattern, after, limit, case, windows)


_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def _postgres_where(pattern: str, case: bool) -> tuple[str, list[str]]:
    """The condition on indexing_chunk for a like_pattern.

    The GIN index is over text_folded, the text with ASCII letters lowered (a generated
    column, search/migrations/0002): PostgreSQL rechecks every row the index proposes,
    and a case-sensitive LIKE on the folded text rechecks two to three times faster
    than ~* or ILIKE on the text, and plans in half the time. A case-sensitive search
    adds LIKE on the text itself (as cheap). PostgreSQL's LIKE escapes with a backslash,
    so a backslash of the query is doubled; % and _ stay wildcards (like_pattern).
    text_folded holds the text in index_form, so the pattern it is matched with is too."""
    escaped = pattern.replace("\\", "\\\\")
    folded = index_form(escaped).translate(_ASCII_LOWER)
    if case:
        return "text_folded LIKE %s AND text LIKE %s", [folded, escaped]
    return "text_folded LIKE %s", [folded]


def _postgres_windows_help(pattern: str, case: bool) -> bool:
    """Whether asking for a window of ids at a time saves PostgreSQL work for this pattern.

    Only when the planner ANDs the GIN bitmap with the primary key's does a window limit
    the rows it rechecks. It does so when it expects many candidates; when it expects few
    (its estimate comes from the few chunks narrow enough to have statistics, and is
    often far off: "get_or_create" is estimated at 1 row and has 542 candidates, since
    pg_trgm drops the underscores) it rechecks the whole bitmap and then filters the
    window, so every further window repeats that work (three times over for a rare
    literal). Asking the planner costs one more planning (under 1 ms); one query over
    all the ids then does that work once."""
    where, params = _postgres_where(pattern, case)
    with connection.cursor() as cursor:
        cursor.execute(
            f"EXPLAIN (FORMAT JSON) SELECT id FROM indexing_chunk WHERE {where} "  # noqa: S608
            "AND id > %s AND id <= %s ORDER BY id LIMIT %s",
            [*params, 0, PG_FIRST_WINDOW, CANDIDATE_BATCH],
        )
        plan = cursor.fetchone()[0]
    return '"BitmapAnd"' in (plan if isinstance(plan, str) else json.dumps(plan))


def _postgres_candidate_ids(
    pattern: str, after: int, limit: int, case: bool, windows: bool
) -> tuple[list[int], bool]:
    # The GIN index yields a bitmap of candidate rows, and PostgreSQL rechecks every one
    # before it can sort them: a common literal would recheck thousands of chunks to fill
    # one page. So, when the planner combines them (_postgres_windows_help), it asks for
    # a window of ids at a time, growing the window until it yields enough candidates.
    # Only placeholders are formatted in; the pattern travels as a parameter.
    where, params = _postgres_where(pattern, case)
    with connection.cursor() as cursor:
        if not windows:
            cursor.execute(
                f"SELECT id FROM indexing_chunk WHERE {where} AND id > %s "  # noqa: S608
                "ORDER BY id LIMIT %s",
                [*params, after, limit],
            )
            ids = [row[0] for row in cursor.fetchall()]
            return ids, len(ids) < limit
        sql = (
            f"SELECT id FROM indexing_chunk WHERE {where} "  # noqa: S608
            "AND id > %s AND id <= %s ORDER BY id LIMIT %s"
        )
        found: list[int] = []
        wanted = min(limit, TEXT_BATCH)
        low, span, top = after, PG_FIRST_WINDOW, None
        while True:
            high = min(low + span, MAX_ID)
            cursor.execute(sql, [*params, low, high, limit - len(found)])
            window = [row[0] for row in cursor.fetchall()]
            found += window
            if len(found) >= wanted:
                return found, False
            if top is None:
                cursor.execute("SELECT max(id) FROM indexing_chunk")
                top = cursor.fetchone()[0] or 0
            if high >= top:
                return found, True
            # Size the next window from the density of this one (twice what it suggests),
            # growing at most PG_WINDOW_GROWTH times; shrinking too, when only a few more
            # are wanted (rechecking a whole large window for the last few cost ~3 ms).
            grow = 2 * (wanted - len(found)) / len(window) if window else PG_WINDOW_GROWTH
            low, span = high, max(PG_MIN_WINDOW, int(span * min(grow, PG_WINDOW_GROWTH)))


def _as_id(value: str) -> int | None:
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 18 else None


def resolve_repositories(values: list[str]) -> list[int]:
    """The ids of the repositories named by id or name, in one query, in the order given;
    SearchError for a value that names none."""
    values = list(dict.fromkeys(values))
    if not values:
        return []
    numbers = {number for number in map(_as_id, values) if number is not None}
    rows = list(
        Repository.objects.filter(Q(pk__in=numbers) | Q(name__in=values)).values_list("pk", "name")
    )
    ids = []
    for value in values:
        matched = [pk for pk, name in rows if name == value or pk == _as_id(value)]
        if not matched:
            raise SearchError(f"No repository {value!r}.")
        ids.extend(matched)
    return list(dict.fromkeys(ids))


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
    matching_lines = line_matcher(query.q, regex=query.regex, case=query.case)
    gate = chunk_gate(query.q, case=query.case) if query.regex else None
    # Compiled here, not through fnmatch's cache: distinct globs would pile up in it.
    path_matches = re.compile(fnmatch.translate(query.path_glob)).match if query.path_glob else None
    start_chunk, start_line = decode_cursor(query.cursor)

    pattern = like_pattern(query.q, regex=query.regex, case=query.case)
    # A regex that starts with (?i) ignores case even in a case-sensitive search.
    index_case = not _folds(query.q, regex=query.regex, case=query.case)
    result = SearchResult(used_index=pattern is not None)
    windows = (
        connection.vendor == "postgresql"
        and pattern is not None
        and _postgres_windows_help(pattern, index_case)
    )
    if pattern is None:
        # No literal for the index: scan every visible chunk in id order. Built only here:
        # building this query costs more than an indexed search's own SQL.
        chunks = _scanned_chunks(query.repositories, query.language)
    deadline = time.monotonic() + budget
    last_seen = start_chunk - 1
    pending: list[int] = []
    exhausted = False
    while True:
        if time.monotonic() > deadline:
            result.truncated = True
            result.next_cursor = (
                encode_cursor(start_chunk, start_line)  # no progress: resume where asked
                if last_seen < start_chunk
                else encode_cursor(last_seen + 1, 0)
            )
            result.message = _budget_message(pattern is not None)
            return result
        if pattern is None:
            batch = list(chunks.filter(pk__gt=last_seen)[:BATCH])
            if not batch:
                return result
            last_seen = batch[-1][0]
        else:
            # The index yields candidates in id order; only visible files are read.
            if not pending:
                if exhausted:
                    return result
                # The first page usually fills from the first few candidates: ask for
                # a text batch's worth first, and only then for larger batches.
                size = CANDIDATE_BATCH if last_seen >= start_chunk else FIRST_BATCH
                pending, exhausted = _candidate_ids(
                    pattern, last_seen, size, case=index_case, windows=windows
                )
                if not pending:
                    return result
            # A page often fills from the first few candidates: read their text a few
            # at a time rather than all of them; once the first few were not enough,
            # more at a time (each read is two round trips).
            size = FIRST_BATCH if last_seen < start_chunk else TEXT_BATCH * TEXT_BATCH_GROWTH
            ids, pending = pending[:size], pending[size:]
            last_seen = ids[-1]
            batch = _read_candidates(ids, query.repositories, query.language)
        for chunk_id, first_line, text, path, language, repo_id, repo_name in batch:
            if path_matches is not None and not path_matches(path):
                continue
            if gate is not None and not gate(text):
                continue
            lines = text.splitlines()
            for offset in matching_lines(text, lines):
                number = first_line + offset
                if chunk_id == start_chunk and number <= start_line:
                    continue
                line = lines[offset]
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
                result.message = _budget_message(pattern is not None)
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
