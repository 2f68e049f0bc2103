"""PostgreSQL upkeep after an indexing job: GIN pending lists merged, statistics fresh.

Both run inside the test's transaction (only VACUUM may not); pending lists are pages of
the index, not rows, so what a call merged is visible whatever the transaction does."""

from __future__ import annotations

import logging

import pytest
from django.db import connection

from indexing import maintenance
from indexing.indexer import SEARCHED_TABLES, index_repository
from indexing.models import Chunk, IndexedFile, Repository
from tests.indexing.conftest import write_repo

pytestmark = pytest.mark.django_db
on_postgres = pytest.mark.skipif("connection.vendor != 'postgresql'", reason="PostgreSQL upkeep")


def _pending_pages(index: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT gin_clean_pending_list(%s::regclass)", [index])
        return cursor.fetchone()[0]


def _source(files: int) -> dict[str, str]:
    return {
        f"pkg/module_{n}.py": "".join(
            f"def handler_{n}_{k}(request):\n    return {k}\n" for k in range(60)
        )
        for n in range(files)
    }


@on_postgres
def test_a_job_leaves_no_pending_list_behind(roots):
    # Rows written by hand wait in the pending list (fastupdate is PostgreSQL's default):
    # so this test can fail. Reading the pending list this way also merges it...
    stray = IndexedFile.objects.create(
        repository=Repository.objects.create(name="stray", path=str(roots)),
        path="x.py", language="Python", size=1, mtime_ns=0, ctime_ns=0, inode=0,
        content_hash="0", line_count=1, added_in=1,
    )  # fmt: skip
    Chunk.objects.create(file=stray, start_line=1, end_line=1, text="pending entries\n")
    assert _pending_pages("search_chunk_folded_trgm") > 0
    # ...and an indexing job merges its own once its new generation is live.
    repository = Repository.objects.create(
        name="many", path=str(write_repo(roots / "many", _source(20)))
    )
    index_repository(repository)
    assert _pending_pages("search_chunk_folded_trgm") == 0
    assert _pending_pages("search_symbol_name_trgm") == 0


@on_postgres
def test_a_job_that_changed_much_refreshes_statistics(roots):
    # Methods of one class: their parent is a common value that only this ANALYZE can
    # have recorded (statistics written by other tests' transactions were rolled back).
    source = {
        f"probe/m{n}.py": "class MaintenanceProbe:\n"
        + "".join(f"    def probe_{n}_{k}(self):\n        return {k}\n" for k in range(30))
        for n in range(10)
    }
    index_repository(
        Repository.objects.create(name="probe", path=str(write_repo(roots / "probe", source)))
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stats WHERE tablename = 'indexing_symbol' "
            "AND attname = 'parent' AND 'MaintenanceProbe' = ANY(most_common_vals::text::text[])"
        )
        assert cursor.fetchone() == (1,)


@on_postgres
def test_a_small_change_is_left_to_autovacuum(roots):
    index_repository(
        Repository.objects.create(name="many", path=str(write_repo(roots / "many", _source(40))))
    )
    with connection.cursor() as cursor:
        # reltuples is kept outside transactions: settle it to this test's 40 files.
        cursor.execute("ANALYZE indexing_indexedfile")
        cursor.execute(
            "SELECT reltuples FROM pg_class WHERE oid = 'indexing_indexedfile'::regclass"
        )
        assert cursor.fetchone() == (40,)
    # 5 % of 40 files is 2.
    assert not maintenance.analyze_after_write(
        tables=SEARCHED_TABLES, measured_by="indexing_indexedfile", rows_written=1
    )
    assert maintenance.analyze_after_write(
        tables=SEARCHED_TABLES, measured_by="indexing_indexedfile", rows_written=2
    )


@on_postgres
def test_upkeep_that_cannot_get_its_lock_gives_up_and_leaves_the_job_alone(
    roots, caplog, monkeypatch
):
    import psycopg

    monkeypatch.setattr(maintenance, "LOCK_TIMEOUT", "200ms")
    settings = connection.settings_dict
    other = psycopg.connect(
        dbname=settings["NAME"], user=settings["USER"], host=settings["HOST"],
        port=settings["PORT"] or 5432, password=settings["PASSWORD"] or None,
    )  # fmt: skip
    try:
        # Another session holds the table and the index (a schema change, say, or a long
        # anti-wraparound VACUUM would).
        other.execute("LOCK TABLE indexing_symbol IN ACCESS EXCLUSIVE MODE")
        other.execute("ALTER INDEX search_chunk_folded_trgm SET (gin_pending_list_limit = 4096)")
        with caplog.at_level(logging.WARNING, logger="indexing.maintenance"):
            assert not maintenance.analyze_after_write(
                tables=("indexing_symbol",), measured_by="indexing_symbol", rows_written=10**6
            )
            assert maintenance.gin_pending_lists_flush(tables=("indexing_chunk",)) == 0
    finally:
        other.rollback()
        other.close()
    assert 'ANALYZE "indexing_symbol" failed' in caplog.text
    assert "search_chunk_folded_trgm failed" in caplog.text
    assert "lock timeout" in caplog.text
    with connection.cursor() as cursor:  # the caller's transaction is still usable
        cursor.execute("SELECT count(*) FROM indexing_chunk")
        assert cursor.fetchone() is not None


@on_postgres
def test_a_user_that_does_not_own_the_indexes_leaves_them_to_autovacuum(caplog):
    with connection.cursor() as cursor:
        cursor.execute("CREATE ROLE mcp_test_not_owner")
        cursor.execute("SET LOCAL ROLE mcp_test_not_owner")
    with caplog.at_level(logging.WARNING, logger="indexing.maintenance"):
        assert maintenance.gin_pending_lists_flush(tables=("indexing_chunk",)) == 0
    assert "merging the pending list of search_chunk_folded_trgm failed" in caplog.text
    assert "owner" in caplog.text
    with connection.cursor() as cursor:  # the transaction is still usable
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)


@pytest.mark.skipif("connection.vendor != 'sqlite'", reason="SQLite has nothing to tidy")
def test_sqlite_needs_no_upkeep():
    assert maintenance.gin_pending_lists_flush(tables=SEARCHED_TABLES) == 0
    assert not maintenance.analyze_after_write(
        tables=SEARCHED_TABLES, measured_by="indexing_indexedfile", rows_written=10**6
    )
