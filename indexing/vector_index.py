"""pgvector's HNSW index over SemanticChunk.vector: one partial index per dimension.

The column has no fixed dimension (a model with another dimension may be configured
later), and an HNSW index needs one, so each index covers the rows of one dimension
through a cast: queries must use the same expression and predicate to reach it
(search/semantic.py). Inner product on unit vectors ranks like cosine similarity and
costs less.
"""

from __future__ import annotations

import contextlib
import logging

from django.db import DatabaseError, connection, transaction

from indexing import maintenance

logger = logging.getLogger(__name__)

# pgvector indexes `vector` columns of up to 2,000 dimensions.
HNSW_MAX_DIMENSION = 2000
_ensured: set[tuple[str, int]] = set()


def index_name(dimension: int) -> str:
    return f"indexing_semanticchunk_hnsw_{int(dimension)}"


def distance_sql(dimension: int, column: str = "vector") -> str:
    """The indexed expression's distance to a %s parameter (pgvector's text form)."""
    dimension = int(dimension)
    return f"({column}::vector({dimension})) <#> %s::vector({dimension})"


def predicate_sql(dimension: int, column: str = "vector") -> str:
    return f"vector_dims({column}) = {int(dimension)}"


def create_index_sql(dimension: int, *, concurrently: bool = False) -> str:
    dimension = int(dimension)
    return (
        f"CREATE INDEX {'CONCURRENTLY ' if concurrently else ''}IF NOT EXISTS "
        f"{index_name(dimension)} ON indexing_semanticchunk "
        f"USING hnsw ((vector::vector({dimension})) vector_ip_ops) "
        f"WHERE {predicate_sql(dimension)}"
    )


def ensure_hnsw_index(dimension: int) -> None:
    """Create the index for this dimension if it is missing (PostgreSQL only).

    The migration creates it for the bundled model (384) and for every dimension already
    embedded; this covers a model configured later. Cheap when it exists (one catalog
    read per process), built CONCURRENTLY when it does not, so other workers' writes go
    on, and never fatal: without the index search still answers, by an exact scan."""
    if connection.vendor != "postgresql":
        return
    dimension = int(dimension)
    key = (connection.settings_dict["NAME"], dimension)
    if key in _ensured:
        return
    if dimension > HNSW_MAX_DIMENSION:
        logger.warning(
            "No HNSW index for %d-dimensional vectors (pgvector indexes up to %d): "
            "semantic search scans them exactly.",
            dimension,
            HNSW_MAX_DIMENSION,
        )
        _ensured.add(key)
        return
    # Outside a transaction the index is built CONCURRENTLY; inside one, a savepoint keeps
    # a failure from spoiling the caller's transaction.
    concurrently = not connection.in_atomic_block
    try:
        with (
            contextlib.nullcontext() if concurrently else transaction.atomic(),
            connection.cursor() as cursor,
        ):
            if not _index_is_valid(cursor, dimension):
                _build(cursor, dimension, concurrently=concurrently)
    except DatabaseError as exc:
        # Typically a role that may write rows but not create indexes.
        logger.warning(
            "Could not create %s (%s): semantic search scans these vectors exactly until "
            "it exists.",
            index_name(dimension),
            type(exc).__name__,
        )
        return
    _ensured.add(key)


def _index_is_valid(cursor, dimension: int) -> bool:
    cursor.execute(
        "SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(%s)",
        [index_name(dimension)],
    )
    row = cursor.fetchone()
    return bool(row and row[0])


def _build(cursor, dimension: int, *, concurrently: bool) -> None:
    name = index_name(dimension)
    # One builder at a time across workers; the others then find it built. Outside a
    # transaction the lock is the session's, so it is given back explicitly.
    if not concurrently:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [name])
        _create(cursor, dimension, concurrently=False)
        return
    cursor.execute("SELECT pg_advisory_lock(hashtext(%s))", [name])
    try:
        _create(cursor, dimension, concurrently=True)
    finally:
        cursor.execute("SELECT pg_advisory_unlock(hashtext(%s))", [name])


def _create(cursor, dimension: int, *, concurrently: bool) -> None:
    if _index_is_valid(cursor, dimension):
        return
    # A concurrent build that failed leaves an invalid index behind, which IF NOT EXISTS
    # would skip for ever.
    cursor.execute(
        f"DROP INDEX {'CONCURRENTLY ' if concurrently else ''}IF EXISTS {index_name(dimension)}"
    )
    cursor.execute(create_index_sql(dimension, concurrently=concurrently))


def refresh_statistics(*, rows_written: int) -> None:
    """ANALYZE the tables semantic search plans over (PostgreSQL only), after embedding
    changed a noticeable share of them.

    The planner picks between walking the HNSW index and ranking every row by how many
    rows it expects the file filter to keep; statistics taken before the files were
    embedded say none, and then it ranks every row by hand instead of reading ten from
    the index (52 ms against 4 ms at 21,862 chunks, EXPLAIN ANALYZE). Autovacuum gets
    there too, but only once a fifth of a table has changed."""
    maintenance.analyze_after_write(
        tables=("indexing_indexedfile", "indexing_semanticchunk"),
        measured_by="indexing_semanticchunk",
        rows_written=rows_written,
    )
