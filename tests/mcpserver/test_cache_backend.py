"""mcpserver.cache.SecurityStateDatabaseCache: the embedded default's shared cache.

Django's database cache culls a third of its live entries past MAX_ENTRIES and counts
with a read then a write; this one removes only expired entries and counts atomically.
"""

import threading
import time

import pytest
from django.core.cache import caches
from django.core.management import call_command
from django.db import connection
from django.test import override_settings

from tests.cache_helpers import cache_entries

BACKEND = {
    "default": {
        "BACKEND": "mcpserver.cache.SecurityStateDatabaseCache",
        "LOCATION": "mcp_backend_test_cache",
        "KEY_PREFIX": "backend-test",
        "OPTIONS": {"MAX_ENTRIES": 20},
    }
}


@pytest.fixture
def small_cache(db):
    with override_settings(CACHES=BACKEND):
        call_command("createcachetable", verbosity=0)
        caches["default"].clear()
        yield caches["default"]


def test_past_its_limit_it_keeps_every_live_entry(small_cache):
    for n in range(200):
        small_cache.set(f"revoked:{n}", True, 600)
    assert all(small_cache.get(f"revoked:{n}") for n in range(200))


def test_past_its_limit_it_purges_what_has_expired(small_cache):
    for n in range(30):
        small_cache.set(f"old:{n}", 1, 1)
    time.sleep(2.1)
    small_cache.set("new", 1, 600)
    assert cache_entries() == 1


def test_incr_keeps_the_expiry_and_refuses_a_missing_or_expired_key(small_cache):
    with pytest.raises(ValueError):
        small_cache.incr("missing")
    small_cache.set("count", 5, 1)
    assert small_cache.incr("count", 3) == 8
    time.sleep(2.1)
    with pytest.raises(ValueError):
        small_cache.incr("count")


@pytest.mark.django_db(transaction=True)
def test_parallel_increments_are_not_lost():
    with override_settings(CACHES=BACKEND):
        call_command("createcachetable", verbosity=0)
        cache = caches["default"]
        cache.clear()
        cache.set("calls", 0, 600)
        barrier = threading.Barrier(8)
        errors = []

        def bump():
            try:
                barrier.wait()
                for _ in range(50):
                    caches["default"].incr("calls")
            except Exception as exc:  # pragma: no cover - shown in the assertion
                errors.append(exc)
            finally:
                connection.close()

        threads = [threading.Thread(target=bump) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert cache.get("calls") == 400
