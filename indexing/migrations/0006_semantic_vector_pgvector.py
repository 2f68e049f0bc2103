"""On PostgreSQL, SemanticChunk.vector becomes pgvector's `vector`, with HNSW indexes.

Existing embeddings are converted, not dropped: re-embedding costs minutes per thousand
chunks on a CPU. The table is locked while it runs (semantic search and embedding wait;
text search does not): on a large deployment, migrate with the workers stopped.
SQLite keeps the bytes as they are; only the field class changes.
"""

from django.db import migrations

import indexing.fields

BATCH = 1000
MIN_VERSION = (0, 8)  # iterative index scans: filtered searches still fill a page
HNSW_MAX_DIMENSION = 2000
MISSING_EXTENSION = (
    "PostgreSQL needs the pgvector extension, version 0.8 or newer, for semantic search's "
    "vectors. Install it (Debian: apt-get install postgresql-15-pgvector, or "
    ".ci/install-pgvector, which builds Debian's source package; a managed database: "
    "enable pgvector), then migrate again. Creating the extension needs a role allowed to "
    "run CREATE EXTENSION vector."
)


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".")[:2] if part.isdigit())


def _require_extension(cursor) -> None:
    cursor.execute("SELECT default_version FROM pg_available_extensions WHERE name = 'vector'")
    row = cursor.fetchone()
    if row is None or _version(row[0]) < MIN_VERSION:
        raise RuntimeError(MISSING_EXTENSION)
    cursor.execute("CREATE EXTENSION IF NOT EXISTS vector")
    cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
    if _version(cursor.fetchone()[0]) < MIN_VERSION:
        cursor.execute("ALTER EXTENSION vector UPDATE")


def _convert(schema_editor, *, to_type: str, sent_as: str, convert) -> None:
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE indexing_semanticchunk ADD COLUMN converted {to_type}")
        last = 0
        while True:
            cursor.execute(
                "SELECT id, vector FROM indexing_semanticchunk WHERE id > %s ORDER BY id LIMIT %s",
                [last, BATCH],
            )
            rows = cursor.fetchall()
            if not rows:
                break
            # One statement per batch, not per row.
            cursor.execute(
                f"UPDATE indexing_semanticchunk SET converted = batch.value::{to_type} "
                f"FROM unnest(%s::bigint[], %s::{sent_as}[]) AS batch(id, value) "
                "WHERE indexing_semanticchunk.id = batch.id",
                [[pk for pk, _ in rows], [convert(value) for _, value in rows]],
            )
            last = rows[-1][0]
        cursor.execute("ALTER TABLE indexing_semanticchunk DROP COLUMN vector")
        cursor.execute("ALTER TABLE indexing_semanticchunk RENAME COLUMN converted TO vector")
        cursor.execute("ALTER TABLE indexing_semanticchunk ALTER COLUMN vector SET NOT NULL")


def to_pgvector(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        _require_extension(cursor)
    _convert(
        schema_editor,
        to_type="vector",
        sent_as="text",
        convert=lambda raw: indexing.fields.vector_literal(bytes(raw)),
    )
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
        # The bundled model's dimension, and any other already embedded here.
        cursor.execute("SELECT DISTINCT vector_dims(vector) FROM indexing_semanticchunk")
        dimensions = {384} | {dimension for (dimension,) in cursor.fetchall()}
        for dimension in sorted(d for d in dimensions if d <= HNSW_MAX_DIMENSION):
            cursor.execute(
                f"CREATE INDEX IF NOT EXISTS indexing_semanticchunk_hnsw_{dimension} "
                "ON indexing_semanticchunk "
                f"USING hnsw ((vector::vector({dimension})) vector_ip_ops) "
                f"WHERE vector_dims(vector) = {dimension}"
            )
        # Without statistics on the indexes' predicate the planner guesses that 0.5 % of
        # the rows match it, and then ranks every row by a sort instead of walking the
        # index, or the other way round.
        cursor.execute(
            "CREATE STATISTICS IF NOT EXISTS indexing_semanticchunk_dims "
            "ON (vector_dims(vector)) FROM indexing_semanticchunk"
        )
        cursor.execute("ANALYZE indexing_semanticchunk")


def to_bytea(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    # Dropping the column drops its HNSW indexes and statistics; the extension stays
    # (other databases' objects may use it).
    _convert(
        schema_editor,
        to_type="bytea",
        sent_as="bytea",
        convert=lambda text: indexing.fields.vector_bytes(text),
    )


class Migration(migrations.Migration):
    dependencies = [
        ("indexing", "0005_semantic_chunks"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="semanticchunk",
                    name="vector",
                    field=indexing.fields.EmbeddingField(),
                ),
            ],
            database_operations=[migrations.RunPython(to_pgvector, to_bytea)],
        ),
    ]
