"""Trigram indexes over chunk text: FTS5 (trigram tokenizer) on SQLite, pg_trgm GIN on
PostgreSQL. Both only find candidates; matching lines are confirmed in Python."""

from django.db import migrations

SQLITE_FORWARD = [
    """CREATE VIRTUAL TABLE search_chunk_fts USING fts5(
        text, content='indexing_chunk', content_rowid='id', tokenize='trigram', detail='none'
    )""",
    """CREATE TRIGGER search_chunk_ai AFTER INSERT ON indexing_chunk BEGIN
        INSERT INTO search_chunk_fts(rowid, text) VALUES (new.id, new.text);
    END""",
    """CREATE TRIGGER search_chunk_ad AFTER DELETE ON indexing_chunk BEGIN
        INSERT INTO search_chunk_fts(search_chunk_fts, rowid, text)
        VALUES ('delete', old.id, old.text);
    END""",
    """CREATE TRIGGER search_chunk_au AFTER UPDATE ON indexing_chunk BEGIN
        INSERT INTO search_chunk_fts(search_chunk_fts, rowid, text)
        VALUES ('delete', old.id, old.text);
        INSERT INTO search_chunk_fts(rowid, text) VALUES (new.id, new.text);
    END""",
    "INSERT INTO search_chunk_fts(search_chunk_fts) VALUES ('rebuild')",
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS search_chunk_au",
    "DROP TRIGGER IF EXISTS search_chunk_ad",
    "DROP TRIGGER IF EXISTS search_chunk_ai",
    "DROP TABLE IF EXISTS search_chunk_fts",
]
POSTGRES_FORWARD = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX search_chunk_text_trgm ON indexing_chunk USING gin (text gin_trgm_ops)",
    "CREATE INDEX search_symbol_name_trgm ON indexing_symbol "
    "USING gin (search_name gin_trgm_ops)",
    # LIKE 'prefix%' can use a b-tree only with pattern ops under a non-C collation.
    "CREATE INDEX search_symbol_name_prefix ON indexing_symbol "
    "(search_name varchar_pattern_ops)",
]
POSTGRES_BACKWARD = [
    "DROP INDEX IF EXISTS search_symbol_name_prefix",
    "DROP INDEX IF EXISTS search_symbol_name_trgm",
    "DROP INDEX IF EXISTS search_chunk_text_trgm",
]


def _run(statements):
    def apply(apps, schema_editor):
        vendor = schema_editor.connection.vendor
        for sql in statements.get(vendor, []):
            schema_editor.execute(sql)

    return apply


class Migration(migrations.Migration):
    dependencies = [("indexing", "0003_symbol_search_name")]

    operations = [
        migrations.RunPython(
            _run({"sqlite": SQLITE_FORWARD, "postgresql": POSTGRES_FORWARD}),
            _run({"sqlite": SQLITE_BACKWARD, "postgresql": POSTGRES_BACKWARD}),
        )
    ]
