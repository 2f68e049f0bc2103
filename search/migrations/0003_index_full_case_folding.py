"""The trigram indexes hold the text with the characters whose full case folding holds an
ASCII letter replaced by that folding ("straße" as "strasse", the Kelvin sign as "k"):
a case-insensitive search folds fully (str.casefold), and the index must then hold
every ASCII run of the folded query for each line that matches it (search/engine.py
index_form, FOLDS_TO_ASCII; the mapping is frozen here, and a test checks the two agree).

SQLite: the FTS5 table's content becomes a view of the chunks in that form, and its
triggers index that form. PostgreSQL: text_folded (generated, ASCII lowered) is
computed from that form; a generated column's expression cannot be altered before
PostgreSQL 16, so it is dropped and added again, which rewrites indexing_chunk once.
"""

from django.db import migrations

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

def _expanded(column: str) -> str:
    sql = column
    for char, folding in FOLDS_TO_ASCII.items():
        sql = f"replace({sql}, '{char}', '{folding}')"
    return sql


SQLITE_FORWARD = [
    "DROP TRIGGER IF EXISTS search_chunk_au",
    "DROP TRIGGER IF EXISTS search_chunk_ad",
    "DROP TRIGGER IF EXISTS search_chunk_ai",
    "DROP TABLE IF EXISTS search_chunk_fts",
    f"CREATE VIEW search_chunk_index_form AS SELECT id, {_expanded('text')} AS text "
    "FROM indexing_chunk",
    """CREATE VIRTUAL TABLE search_chunk_fts USING fts5(
        text, content='search_chunk_index_form', content_rowid='id', tokenize='trigram',
        detail='none'
    )""",
    f"""CREATE TRIGGER search_chunk_ai AFTER INSERT ON indexing_chunk BEGIN
        INSERT INTO search_chunk_fts(rowid, text) VALUES (new.id, {_expanded('new.text')});
    END""",
    f"""CREATE TRIGGER search_chunk_ad AFTER DELETE ON indexing_chunk BEGIN
        INSERT INTO search_chunk_fts(search_chunk_fts, rowid, text)
        VALUES ('delete', old.id, {_expanded('old.text')});
    END""",
    f"""CREATE TRIGGER search_chunk_au AFTER UPDATE ON indexing_chunk BEGIN
        INSERT INTO search_chunk_fts(search_chunk_fts, rowid, text)
        VALUES ('delete', old.id, {_expanded('old.text')});
        INSERT INTO search_chunk_fts(rowid, text) VALUES (new.id, {_expanded('new.text')});
    END""",
    "INSERT INTO search_chunk_fts(search_chunk_fts) VALUES ('rebuild')",
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS search_chunk_au",
    "DROP TRIGGER IF EXISTS search_chunk_ad",
    "DROP TRIGGER IF EXISTS search_chunk_ai",
    "DROP TABLE IF EXISTS search_chunk_fts",
    "DROP VIEW IF EXISTS search_chunk_index_form",
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


def _postgres_column(expression: str) -> list[str]:
    return [
        "ALTER TABLE indexing_chunk DROP COLUMN IF EXISTS text_folded",
        "ALTER TABLE indexing_chunk ADD COLUMN text_folded text "
        f'GENERATED ALWAYS AS (lower({expression} COLLATE "C")) STORED',
        "CREATE INDEX search_chunk_folded_trgm ON indexing_chunk "
        "USING gin (text_folded gin_trgm_ops)",
    ]


POSTGRES_FORWARD = _postgres_column(_expanded("text"))
POSTGRES_BACKWARD = _postgres_column("text")


def _run(statements):
    def apply(apps, schema_editor):
        for sql in statements.get(schema_editor.connection.vendor, []):
            schema_editor.execute(sql)

    return apply


class Migration(migrations.Migration):
    dependencies = [("search", "0002_folded_text_index")]

    operations = [
        migrations.RunPython(
            _run({"sqlite": SQLITE_FORWARD, "postgresql": POSTGRES_FORWARD}),
            _run({"sqlite": SQLITE_BACKWARD, "postgresql": POSTGRES_BACKWARD}),
        )
    ]
