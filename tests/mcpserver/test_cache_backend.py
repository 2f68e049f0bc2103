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
        _at_once(8, lambda: [caches["default"].incr("calls") for _ in range(50)])
        assert cache.get("calls") == 400


def _at_once(count: int, work) -> list:
    """Run `work` in `count` threads released together; their results."""
    barrier = threading.Barrier(count)
    results, errors = [], []

    def run():
        try:
            barrier.wait()
            results.append(work())
        except Exception as exc:  # pragma: no cover - shown in the assertion
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    return results


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("expired_row", [True, False], ids=["over-an-expired-row", "new-key"])
def test_parallel_adds_of_one_key_let_exactly_one_win(expired_row):
    """A throttle slot is taken with add: two requests must never both get it, also when
    the slot's row from an earlier window has expired but is still in the table."""
    with override_settings(CACHES=BACKEND):
        call_command("createcachetable", verbosity=0)
        cache = caches["default"]
        cache.clear()  # a table of its own, which a transactional test's flush leaves alone
        for round_ in range(5):
            key = f"slot:{round_}"
            if expired_row:
                cache.set(key, "old", 1)
        if expired_row:
            time.sleep(2.1)
        for round_ in range(5):
            results = _at_once(8, lambda round_=round_: caches["default"].add(f"slot:{round_}", "new", 600))
            assert sorted(results) == [False] * 7 + [True]
            assert cache.get(f"slot:{round_}") == "new"
