"""Looking inside the shared cache from tests, on Redis and on the database cache alike."""

from __future__ import annotations

from django.core.cache import caches
from django.db import connection


def cache_entries(alias: str = "default") -> int:
    """How many entries the shared cache holds (live or not yet purged)."""
    cache = caches[alias]
    if hasattr(cache, "iter_keys"):  # django-redis: only this run's KEY_PREFIX
        return sum(1 for _ in cache.iter_keys("*"))
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {connection.ops.quote_name(cache._table)}")  # noqa: S608
        return cursor.fetchone()[0]
