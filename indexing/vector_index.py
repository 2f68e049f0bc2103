"""pgvector's HNSW index over SemanticChunk.vector: one partial index per dimension.

The column has no fixed dimension (a model with another dimension may be configured
later), and an HNSW index needs one, so each index covers the rows of one dimension
through a cast: queries must use the same expression and predicate to reach it
(search/semantic.py). Inner product on unit vectors ranks like cosine similarity and
costs less.
"""

from __future__ import annotations

import logging

from django.db import connection

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


def create_index_sql(dimension: int) -> str:
    dimension = int(dimension)
    return (
        f"CREATE INDEX IF NOT EXISTS {index_name(dimension)} ON indexing_semanticchunk "
        f"USING hnsw ((vector::vector({dimension})) vector_ip_ops) "
        f"WHERE {predicate_sql(dimension)}"
    )


def ensure_hnsw_index(dimension: int) -> None:
    """Create the index for this dimension if it is missing (PostgreSQL only).

    The migration creates it for the bundled model (384); this covers another model.
    Remembered per process and database, so it costs one statement per worker."""
    if connection.vendor != "postgresql":
        return
    key = (connection.settings_dict["NAME"], int(dimension))
    if key in _ensured:
        return
    if dimension > HNSW_MAX_DIMENSION:
        logger.warning(
            "No HNSW index for %d-dimensional vectors (pgvector indexes up to %d): "
            "semantic search scans them exactly.",
            dimension,
            HNSW_MAX_DIMENSION,
        )
    else:
        with connection.cursor() as cursor:
            cursor.execute(create_index_sql(dimension))
    _ensured.add(key)


def refresh_statistics() -> None:
    """ANALYZE the tables semantic search plans over (PostgreSQL only), after embedding.

    The planner picks between walking the HNSW index and ranking every row by how many
    rows it expects the file filter to keep; statistics taken before the files were
    embedded say none, and then it ranks 100,000 rows by hand instead of reading ten
    from the index (50 ms against 4 ms at 22,000 chunks: docs/benchmarks.md).
    Autovacuum would get there too, but only after enough rows changed."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE indexing_indexedfile, indexing_semanticchunk")
