"""On PostgreSQL, SemanticChunk.vector becomes pgvector's `vector`, with an HNSW index.

Existing embeddings are converted, not dropped: re-embedding costs minutes per thousand
chunks on a CPU. SQLite keeps the bytes as they are; only the field class changes.
"""

from django.db import migrations

import indexing.fields

BUNDLED_DIMENSION = 384  # all-MiniLM-L6-v2
BATCH = 1000
MISSING_EXTENSION = (
    "PostgreSQL needs the pgvector extension for semantic search's vectors. Install it "
    "(Debian: apt-get install postgresql-15-pgvector, or .ci/install-pgvector, which builds "
    "Debian's source package; a managed database: enable pgvector), then migrate again. "
    "Creating the extension needs a role allowed to run CREATE EXTENSION vector."
)


def _require_extension(cursor) -> None:
    cursor.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")
    if cursor.fetchone() is None:
        raise RuntimeError(MISSING_EXTENSION)


def _convert(schema_editor, *, to_type: str, convert) -> None:
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
            cursor.executemany(
                f"UPDATE indexing_semanticchunk SET converted = %s::{to_type} WHERE id = %s",
                [(convert(value), pk) for pk, value in rows],
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
        cursor.execute("CREATE EXTENSION IF NOT EXISTS vector")
    _convert(
        schema_editor,
        to_type="vector",
        convert=lambda raw: indexing.fields.vector_literal(bytes(raw)),
    )
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            f"CREATE INDEX indexing_semanticchunk_hnsw_{BUNDLED_DIMENSION} "
            "ON indexing_semanticchunk "
            f"USING hnsw ((vector::vector({BUNDLED_DIMENSION})) vector_ip_ops) "
            f"WHERE vector_dims(vector) = {BUNDLED_DIMENSION}"
        )
        # Without statistics on the indexes' predicate the planner guesses that 0.5 % of
        # the rows match it, and then ranks every row by a sort instead of walking the
        # index, or the other way round.
        cursor.execute(
            "CREATE STATISTICS indexing_semanticchunk_dims ON (vector_dims(vector)) "
            "FROM indexing_semanticchunk"
        )


def to_bytea(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    # Dropping the column drops every HNSW index on it; the extension stays (others may
    # use it).
    _convert(
        schema_editor,
        to_type="bytea",
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
