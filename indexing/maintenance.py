"""PostgreSQL upkeep after an indexing job wrote rows: what autovacuum would do a minute
or more later, done at once so the first searches after a job are as fast as the rest.

- Planner statistics (ANALYZE) once a job changed a noticeable share of a table: before
  its first ANALYZE the planner guesses, and a rare literal took twice as long (11.2 ms
  against 5.1 ms per search, the Django tree just indexed).
- GIN pending lists: with `fastupdate` (PostgreSQL's default) new entries of the trigram
  indexes wait in an unsorted list that every search reads in full until a VACUUM
  merges them; a full index leaves up to `gin_pending_list_limit` (4 MB) there, which
  made searches 1.2-1.7 times slower (rare 4.3-4.8 → 2.7-3.9 ms, regex 11-15 → 7-9 ms).

SQLite needs neither: FTS5 keeps its own index current, and its planner reads no
statistics for these queries. Failures only log: a database user that does not own the
tables (gin_clean_pending_list needs the owner) leaves the work to autovacuum.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from django.db import DatabaseError, connection, transaction

logger = logging.getLogger(__name__)

# Statistics are refreshed once a job wrote this share of a table's rows.
ANALYZE_SHARE = 0.05
# Upkeep waits at most this long for a lock (an anti-wraparound autovacuum, say) and then
# leaves the work to autovacuum: it must never hold up, or fail, the job it follows.
LOCK_TIMEOUT = "5s"


def analyze_after_write(*, tables: Sequence[str], measured_by: str, rows_written: int) -> bool:
    """ANALYZE `tables` when `rows_written` is at least ANALYZE_SHARE of the rows the
    planner believes `measured_by` has, or it was never analyzed. Whether it did."""
    if connection.vendor != "postgresql" or rows_written <= 0:
        return False
    # Table names come from the callers' constants, never from a request.
    names = ", ".join(connection.ops.quote_name(table) for table in tables)
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [measured_by])
            (estimated,) = cursor.fetchone()
            # reltuples is -1 until the table's first ANALYZE.
            if 0 <= estimated and rows_written < ANALYZE_SHARE * estimated:
                return False
            cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
            cursor.execute(f"ANALYZE {names}")
    except DatabaseError as exc:
        _left_to_autovacuum(f"ANALYZE {names}", exc)
        return False
    return True


def gin_pending_lists_flush(*, tables: Sequence[str]) -> int:
    """Merge the pending lists of every GIN index on `tables` into the index proper:
    the work the next insert past the limit, or VACUUM, would do. The number of
    pending-list pages merged."""
    if connection.vendor != "postgresql":
        return 0
    merged = 0
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT i.indexrelid::regclass::text FROM pg_index i "
                "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam "
                "WHERE am.amname = 'gin' AND i.indisvalid AND i.indrelid = ANY(%s::regclass[])",
                [list(tables)],
            )
            indexes = [row[0] for row in cursor.fetchall()]
    except DatabaseError as exc:
        _left_to_autovacuum("finding the GIN indexes", exc)
        return 0
    for index in indexes:
        try:
            # A savepoint: a refusal (not the owner) must not break the caller's transaction.
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
                cursor.execute("SELECT gin_clean_pending_list(%s::regclass)", [index])
                merged += cursor.fetchone()[0]
        except DatabaseError as exc:
            _left_to_autovacuum(f"merging the pending list of {index}", exc)
    return merged


def _left_to_autovacuum(what: str, exc: DatabaseError) -> None:
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    logger.warning("index upkeep: %s failed (%s); autovacuum will do it", what, reason)
