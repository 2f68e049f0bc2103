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
  went through a limit of 600). Here it runs in one transaction that holds the row:
  SQLite's write lock (the connections BEGIN IMMEDIATE, see settings.SQLITE_OPTIONS)
  or PostgreSQL's row lock (SELECT ... FOR UPDATE).

Redis (REDIS_URL) needs neither: INCR is atomic, and with `noeviction` nothing is
evicted; there the bound on writes is what keeps memory from filling.
"""

from __future__ import annotations

import base64
import pickle

from django.core.cache.backends.db import DatabaseCache
from django.db import connections, models, router, transaction
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
