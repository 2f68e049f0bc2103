"""PostgreSQL: the trigram index moves to the chunk text with ASCII letters lowered.

PostgreSQL rechecks every row a pg_trgm index proposes. Matched case-insensitively
with ~* (or ILIKE) on the text, that recheck was most of a search's time; a plain,
case-sensitive LIKE on a lowered copy is two to three times cheaper and plans in half
the time (search/engine.py _postgres_where). Only ASCII is lowered (lower() under the
"C" collation): the engine puts no other letter in a case-insensitive pattern, and it
keeps the column's computation cheap (about 4 µs a chunk). The column is generated,
so the indexer never writes it. Adding it rewrites indexing_chunk once.

With two copies of the text a chunk's row passes PostgreSQL's 2 kB TOAST threshold, and
the texts would be compressed: every recheck and every read would decompress them (a
common literal took twice as long). toast_tuple_target keeps rows up to 8 kB inline and
uncompressed: the table takes about twice the space of the source it indexes (32 MB
for Django's 22 MB), and rows stored before this migration stay as they were until
they are indexed again. Nothing on SQLite, whose FTS5 trigram table folds case itself."""

from django.db import migrations

POSTGRES_FORWARD = [
    "ALTER TABLE indexing_chunk SET (toast_tuple_target = 8160)",
    "ALTER TABLE indexing_chunk ADD COLUMN text_folded text "
    'GENERATED ALWAYS AS (lower(text COLLATE "C")) STORED',
    "CREATE INDEX search_chunk_folded_trgm ON indexing_chunk "
    "USING gin (text_folded gin_trgm_ops)",
    "DROP INDEX IF EXISTS search_chunk_text_trgm",
]
POSTGRES_BACKWARD = [
    "CREATE INDEX IF NOT EXISTS search_chunk_text_trgm ON indexing_chunk "
    "USING gin (text gin_trgm_ops)",
    "DROP INDEX IF EXISTS search_chunk_folded_trgm",
    "ALTER TABLE indexing_chunk DROP COLUMN IF EXISTS text_folded",
    "ALTER TABLE indexing_chunk RESET (toast_tuple_target)",
]


def _run(statements):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for sql in statements:
                schema_editor.execute(sql)

    return apply


class Migration(migrations.Migration):
    dependencies = [("search", "0001_trigram_indexes")]

    operations = [migrations.RunPython(_run(POSTGRES_FORWARD), _run(POSTGRES_BACKWARD))]
