"""Semantic search: the query's embedding against the chunks' embeddings.

On PostgreSQL the database answers: pgvector's HNSW index (indexing/vector_index.py)
walks to the nearest chunks of the visible files, with an iterative scan so that
filters (repository, language, visibility) do not starve the result, and an exact scan
of the filtered rows when the index still comes back short. Nothing is held per process.

On SQLite each process keeps the vectors of the visible chunks as one numpy matrix,
loaded once per index version (the shared version every publish and every embedding
step replaces, search/results_cache.py), and answers a query with one matrix-vector
product: exact cosine similarity. On this 2-core machine that is a few milliseconds per
50,000 chunks (docs/benchmarks.md).

`mode=hybrid` merges semantic hits with literal and symbol hits by weighted reciprocal
rank fusion (RRF, k=60; symbol hits count half), each hit counted once per list, keyed
by the code it points at.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field

import numpy as np
from django.db import connection, transaction
from django.db.models import F

from indexing.embeddings import Encoder, encoder, from_bytes, to_bytes
from indexing.fields import vector_literal
from indexing.models import IndexedFile, SemanticChunk, visible_at
from indexing.vector_index import distance_sql, predicate_sql
from search import engine, results_cache, selectors

RRF_K = 60
# Weighted RRF: a symbol list built from the query's words is a weaker signal.
RRF_WEIGHTS = {"semantic": 1.0, "literal": 1.0, "symbol": 0.5}
SYMBOLS_PER_WORD = 3
MAX_IDENTIFIERS = 6
PREFIX_MATCH = 2  # selectors.symbol_search ranks: 0-1 exact, 2 prefix
HYBRID_DEPTH = 50
SNIPPET_LINES = 12
# HNSW search breadth: at least 200 and twice the hits asked for. Among 51,862 vectors
# padded with near-copies of the real ones the index kept 88-91 % of the exact top 10
# at 40 (pgvector's default), 91-94 % at 100, 97 % at 200, for about 1 ms more per query
# (bench/semantic_bench.py --pad).
HNSW_MIN_EF_SEARCH = 200
HNSW_MAX_EF_SEARCH = 1000
# How many index entries an iterative scan may visit to fill a filtered result
# (pgvector's default); past it the exact scan of the filtered rows takes over.
HNSW_MAX_SCAN_TUPLES = 20_000
STOP_WORDS = frozenset(
    "a an and are as at be by do does for from how i in is it of on or that the this to "
    "what when where which who why with".split()
)


@dataclass
class VectorSet:
    version: str | None
    model_id: str
    ids: np.ndarray  # SemanticChunk ids
    repositories: np.ndarray  # repository id per row
    languages: np.ndarray  # language per row (lower case)
    matrix: np.ndarray  # rows x dimension, unit vectors

    def __len__(self) -> int:
        return len(self.ids)


_sets: dict[str, VectorSet] = {}
_lock = threading.Lock()
_load_lock = threading.Lock()


def _vectors(model: Encoder) -> VectorSet:
    version = results_cache.index_version()
    with _lock:
        cached = _sets.get(model.model_id)
        if cached is not None and version is not None and cached.version == version:
            return cached
    # One load at a time per process: concurrent requests after an index change would
    # each hold a full copy of the matrix.
    with _load_lock:
        with _lock:
            cached = _sets.get(model.model_id)
            if cached is not None and version is not None and cached.version == version:
                return cached
        return _load(model, version)


def _searchable_files(model: Encoder):
    """The live files whose vectors come from this model."""
    return IndexedFile.objects.filter(
        visible_at(F("repository__generation")), embedded_with=model.model_id
    )


def _load(model: Encoder, version: str | None) -> VectorSet:
    files = _searchable_files(model)
    file_info = {
        pk: (repository_id, (language or "").lower())
        for pk, repository_id, language in files.values_list("pk", "repository_id", "language")
    }
    rows = SemanticChunk.objects.filter(file_id__in=list(file_info)).values_list(
        "pk", "file_id", "vector"
    )
    ids, repositories, languages, raw_vectors = [], [], [], []
    for pk, file_id, raw in rows.iterator(chunk_size=2000):
        ids.append(pk)
        repository_id, language = file_info[file_id]
        repositories.append(repository_id)
        languages.append(language)
        raw_vectors.append(bytes(raw))
    # One copy: the bytes joined, then viewed as rows of float32.
    matrix = from_bytes(b"".join(raw_vectors)).reshape(len(ids), model.dimension)
    del raw_vectors
    loaded = VectorSet(
        version=version,
        model_id=model.model_id,
        ids=np.asarray(ids, dtype=np.int64),
        repositories=np.asarray(repositories, dtype=np.int64),
        languages=np.asarray(languages, dtype=object),
        matrix=matrix,
    )
    with _lock:
        _sets[model.model_id] = loaded
    return loaded


@dataclass
class SemanticHit:
    key: tuple  # (repository id, path, start line)
    score: float
    repository_id: int
    repository: str
    path: str
    language: str
    start_line: int
    end_line: int
    symbol: str = ""
    kind: str = ""
    snippet: str = ""
    sources: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "score": round(float(self.score), 4),
            "repository": {"id": self.repository_id, "name": self.repository},
            "path": self.path,
            "language": self.language,
            "start_line": self.start_line,
            "end_line": self.end_line,
            "symbol": self.symbol,
            "kind": self.kind,
            "snippet": self.snippet,
            "sources": self.sources,
        }


def semantic_hits(
    *, q: str, repositories: list[int], language: str | None, limit: int
) -> list[SemanticHit]:
    model = encoder()
    nearest = _nearest_in_database if connection.vendor == "postgresql" else _nearest_in_memory
    ranked = nearest(model, q, repositories=repositories, language=language, limit=limit)
    by_id = {
        chunk.pk: chunk
        for chunk in SemanticChunk.objects.filter(pk__in=[pk for pk, _ in ranked])
        .select_related("file__repository")
        .defer("vector")
    }
    hits = []
    for pk, score in ranked:
        chunk = by_id.get(pk)
        if chunk is None:
            continue  # removed since the vectors were read
        hits.append(
            SemanticHit(
                key=(chunk.file.repository_id, chunk.file.path, chunk.start_line),
                score=score,
                repository_id=chunk.file.repository_id,
                repository=chunk.file.repository.name,
                path=chunk.file.path,
                language=chunk.file.language,
                start_line=chunk.start_line,
                end_line=chunk.end_line,
                symbol=chunk.symbol,
                kind=chunk.kind,
                snippet=_snippet(chunk.text),
                sources=["semantic"],
            )
        )
    return hits


def _nearest_in_memory(
    model: Encoder, q: str, *, repositories: list[int], language: str | None, limit: int
) -> list[tuple[int, float]]:
    """(chunk id, cosine similarity), best first: exact, over this process's matrix."""
    vectors = _vectors(model)
    if not len(vectors):
        return []
    scores = vectors.matrix @ model.encode([q])[0]
    mask = np.ones(len(vectors), dtype=bool)
    if repositories:
        mask &= np.isin(vectors.repositories, repositories)
    if language:
        mask &= vectors.languages == language.lower()
    candidates = np.flatnonzero(mask)
    if not len(candidates):
        return []
    k = min(limit, len(candidates))
    top = candidates[np.argpartition(-scores[candidates], k - 1)[:k]]
    top = top[np.argsort(-scores[top], kind="stable")]
    return [(int(vectors.ids[row]), float(scores[row])) for row in top]


def _nearest_in_database(
    model: Encoder, q: str, *, repositories: list[int], language: str | None, limit: int
) -> list[tuple[int, float]]:
    """(chunk id, cosine similarity), best first: pgvector's HNSW index in PostgreSQL."""
    files = _searchable_files(model)
    if repositories:
        files = files.filter(repository_id__in=repositories)
    if language:
        files = files.filter(language__iexact=language)
    files_sql, files_params = files.values("pk").query.sql_with_params()
    params = [vector_literal(to_bytes(model.encode([q])[0])), *files_params, limit]
    ef_search = min(HNSW_MAX_EF_SEARCH, max(HNSW_MIN_EF_SEARCH, 2 * limit))
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('hnsw.ef_search', %s, true), "
            "set_config('hnsw.iterative_scan', 'strict_order', true), "
            "set_config('hnsw.max_scan_tuples', %s, true)",
            [str(ef_search), str(HNSW_MAX_SCAN_TUPLES)],
        )
        cursor.execute(nearest_sql(model.dimension, files_sql), params)
        rows = cursor.fetchall()
        if len(rows) < limit:
            # A narrow filter (a repository, a language, the files of the live generation)
            # can outlast the iterative scan; the rows it leaves are few, so rank them
            # exactly. Short because there are few rows at all: cheap too.
            cursor.execute(nearest_sql(model.dimension, files_sql, exact=True), params)
            rows = cursor.fetchall()
        # Only reads, and the settings must not outlive them: rolled back, to a savepoint
        # when the caller has a transaction of its own.
        transaction.set_rollback(True)
    # <#> is the negative inner product: on unit vectors, minus the cosine similarity.
    return [(pk, -float(distance)) for pk, distance in rows]


def nearest_sql(dimension: int, files_sql: str, *, exact: bool = False) -> str:
    """The nearest chunks of the files `files_sql` selects; parameters: the query vector,
    the files' parameters, the limit.

    The distance and the predicate are the HNSW index's own expressions
    (indexing/vector_index.py), so the planner can walk the index in distance order.
    `exact` fences the filtered rows off (OFFSET 0) so they are ranked one by one instead.
    Only integers and the ORM's own SQL are formatted in; values are parameters."""
    filtered = (
        f"SELECT id, {distance_sql(dimension)} AS distance FROM indexing_semanticchunk "  # noqa: S608
        f"WHERE {predicate_sql(dimension)} AND file_id IN ({files_sql})"
    )
    if exact:
        return (
            f"SELECT id, distance FROM ({filtered} OFFSET 0) AS filtered ORDER BY distance LIMIT %s"  # noqa: S608
        )
    return f"{filtered} ORDER BY distance LIMIT %s"


def _snippet(text: str) -> str:
    body = text.split("\n", 1)[1] if "\n" in text else text  # the first line is the path
    return "\n".join(body.splitlines()[:SNIPPET_LINES])


def identifiers(q: str) -> list[str]:
    """The words of a natural-language query that look like names in code: with an
    underscore or a digit (`fetch_with_retries`, `utf8`), or capitals past the first
    letter (`QuerySet`), or capitalised in mid-sentence (`Downloader`). Everyday words
    ("password", "cache") are left to the semantic and literal lists: as symbol lookups
    they cost a query each and mostly bring in noise (bench/semantic_bench.py)."""
    found = []
    for match in re.finditer(r"[A-Za-z_][A-Za-z0-9_]{2,}", q):
        word = match.group()
        sentence_start = not q[: match.start()].strip() or q[: match.start()].rstrip()[-1] in ".?!"
        if (
            "_" in word
            or any(char.isdigit() for char in word)
            or any(char.isupper() for char in word[1:])
            or (word[0].isupper() and not sentence_start)
        ) and word.lower() not in STOP_WORDS:
            found.append(word)
    return list(dict.fromkeys(found))[:MAX_IDENTIFIERS]


def hybrid_hits(
    *, q: str, repositories: list[int], language: str | None, limit: int, with_code: bool
) -> list[SemanticHit]:
    """Semantic, literal and symbol results fused by reciprocal rank. A literal or symbol
    hit inside a semantic hit's lines counts for that hit.

    Literal and symbol search are code search: only a caller who may search code
    (`with_code`, mcp:search:code) gets them; for anyone else hybrid is semantic only,
    or a semantic-only credential would read exact text matches through it."""
    semantic = semantic_hits(q=q, repositories=repositories, language=language, limit=HYBRID_DEPTH)
    if not with_code:
        return semantic[:limit]
    literal = engine.search(
        engine.Query(q=q, repositories=repositories, language=language, limit=HYBRID_DEPTH),
        budget=0.5,
    )
    # Only definitions a name in the query names exactly or begins: fuzzy matches are
    # noise that would push good semantic hits down.
    symbols = [
        _from_symbol(symbol)
        for word in identifiers(q)
        for rank, symbol in selectors.symbol_search(
            q=word, kinds=[], language=language, repositories=repositories, limit=SYMBOLS_PER_WORD
        )
        if rank <= PREFIX_MATCH
    ]
    fused: dict[tuple, SemanticHit] = {}
    scores: dict[tuple, float] = {}
    for source, hits in (
        ("semantic", semantic),
        ("literal", [_from_line(hit) for hit in literal.hits]),
        ("symbol", symbols),
    ):
        seen: set[tuple] = set()
        for hit in hits:
            key = _enclosing(hit, semantic)
            if key in seen:
                continue
            seen.add(key)
            weight = RRF_WEIGHTS[source]
            scores[key] = scores.get(key, 0.0) + weight / (RRF_K + len(seen))
            entry = fused.setdefault(key, hit)
            if source not in entry.sources:
                entry.sources.append(source)
    for key, entry in fused.items():
        entry.score = scores[key]
    return sorted(fused.values(), key=lambda hit: (-hit.score, hit.key))[:limit]


def _enclosing(hit: SemanticHit, semantic: list[SemanticHit]) -> tuple:
    """The key of the tightest semantic hit whose lines hold this hit, else its own."""
    repository_id, path, line = hit.key
    holders = [
        other
        for other in semantic
        if other.key[:2] == (repository_id, path) and other.start_line <= line <= other.end_line
    ]
    return max(holders, key=lambda other: other.start_line).key if holders else hit.key


def _from_line(hit: engine.Hit) -> SemanticHit:
    return SemanticHit(
        key=(hit.repository_id, hit.path, hit.line),
        score=0.0,
        repository_id=hit.repository_id,
        repository=hit.repository,
        path=hit.path,
        language=hit.language,
        start_line=max(1, hit.line - len(hit.before)),
        end_line=hit.line + len(hit.after),
        snippet="\n".join([*hit.before, hit.text, *hit.after]),
    )


def _from_symbol(symbol) -> SemanticHit:
    return SemanticHit(
        key=(symbol.repository_id, symbol.path, symbol.start_line),
        score=0.0,
        repository_id=symbol.repository_id,
        repository=symbol.repository,
        path=symbol.path,
        language=symbol.language,
        start_line=symbol.start_line,
        end_line=symbol.end_line,
        symbol=symbol.name,
        kind=symbol.kind,
        snippet=symbol.signature,
    )
