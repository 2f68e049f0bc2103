"""The embedded default's shared cache: Django's database cache, made safe to hold
security state.

The shared cache holds revocations, lockouts, the markers that stop a revoked API key
from being cached again, and the signing-key set's version. Django's DatabaseCache
has two habits that break those:

- past MAX_ENTRIES it culls a third of the *live* entries, chosen by key order, so
  whoever can make the server write keys can make it forget a revocation. Here only
  expired entries are ever removed; what unauthenticated traffic can write is bounded
  by the number of client addresses (accounts/throttling.py), so the table cannot be
  grown without bound by traffic.
- `incr` is a read followed by a write, so parallel requests lose counts (900 calls
  went through a limit of 600), and `add` over an expired row reads, then updates, so two
  requests can both "add" it (two login attempts taking one throttle slot). Here both run
  in one transaction that holds the row: SQLite's write lock (the connections BEGIN
  IMMEDIATE, see settings.SQLITE_OPTIONS) or PostgreSQL's row lock (SELECT ... FOR UPDATE);
  an add that races an insert of the same key loses on the unique key.

Redis (REDIS_URL) needs neither: INCR is atomic, and with `noeviction` nothing is
evicted; there the bound on writes is what keeps memory from filling.
"""

from __future__ import annotations

import base64
import pickle
from datetime import UTC, datetime

from django.conf import settings
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.db import DatabaseCache
from django.db import IntegrityError, connections, models, router, transaction
from django.utils.timezone import now as tz_now


class SecurityStateDatabaseCache(DatabaseCache):
    def _cull(self, db, cursor, now, num):
        # Only what has expired; never a live entry, however many there are.
        connection = connections[db]
        quote_name = connection.ops.quote_name
        cursor.execute(
            f"DELETE FROM {quote_name(self._table)} WHERE {quote_name('expires')} < %s",  # noqa: S608
            [connection.ops.adapt_datetimefield_value(now)],
        )

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        key = self.make_and_validate_key(key, version=version)
        timeout = self.get_backend_timeout(timeout)
        db = router.db_for_write(self.cache_model_class)
        connection = connections[db]
        quote_name = connection.ops.quote_name
        table, cache_key = quote_name(self._table), quote_name("cache_key")
        zone = UTC if settings.USE_TZ else None
        expires = datetime.max if timeout is None else datetime.fromtimestamp(timeout, tz=zone)
        expires = connection.ops.adapt_datetimefield_value(expires.replace(microsecond=0))
        encoded = base64.b64encode(pickle.dumps(value, self.pickle_protocol)).decode("latin1")
        lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
        try:
            with transaction.atomic(using=db), connection.cursor() as cursor:
                self._purge_if_full(db, cursor)
                cursor.execute(
                    f"SELECT {quote_name('expires')} FROM {table} "  # noqa: S608
                    f"WHERE {cache_key} = %s{lock}",
                    [key],
                )
                row = cursor.fetchone()
                if row is not None and not self._expired(connection, row[0]):
                    return False
                if row is not None:
                    cursor.execute(
                        f"UPDATE {table} SET {quote_name('value')} = %s, "  # noqa: S608
                        f"{quote_name('expires')} = %s WHERE {cache_key} = %s",
                        [encoded, expires, key],
                    )
                else:
                    cursor.execute(
                        f"INSERT INTO {table} ({cache_key}, {quote_name('value')}, "  # noqa: S608
                        f"{quote_name('expires')}) VALUES (%s, %s, %s)",
                        [key, encoded, expires],
                    )
        except IntegrityError:
            return False  # inserted by a request that ran at the same moment
        return True

    def _purge_if_full(self, db, cursor) -> None:
        cursor.execute(f"SELECT COUNT(*) FROM {connections[db].ops.quote_name(self._table)}")  # noqa: S608
        count = cursor.fetchone()[0]
        if count > self._max_entries:
            self._cull(db, cursor, tz_now().replace(microsecond=0), count)

    def incr(self, key, delta=1, version=None):
        key = self.make_and_validate_key(key, version=version)
        db = router.db_for_write(self.cache_model_class)
        connection = connections[db]
        quote_name = connection.ops.quote_name
        table, cache_key = quote_name(self._table), quote_name("cache_key")
        lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
        with transaction.atomic(using=db), connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {quote_name('value')}, {quote_name('expires')} FROM {table} "  # noqa: S608
                f"WHERE {cache_key} = %s{lock}",
                [key],
            )
            row = cursor.fetchone()
            if row is None or self._expired(connection, row[1]):
                raise ValueError(f"Key '{key}' not found.")
            value = pickle.loads(base64.b64decode(connection.ops.process_clob(row[0]).encode()))  # noqa: S301 - written by this cache
            new_value = value + delta
            cursor.execute(
                f"UPDATE {table} SET {quote_name('value')} = %s WHERE {cache_key} = %s",  # noqa: S608
                [
                    base64.b64encode(pickle.dumps(new_value, self.pickle_protocol)).decode(
                        "latin1"
                    ),
                    key,
                ],
            )
        return new_value

    def _expired(self, connection, expires) -> bool:
        expression = models.Expression(output_field=models.DateTimeField())
        for converter in connection.ops.get_db_converters(
            expression
        ) + expression.get_db_converters(connection):
            expires = converter(expires, expression, connection)
        return expires < tz_now()
