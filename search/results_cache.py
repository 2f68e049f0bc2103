"""Recent search responses, remembered per process until the index changes.

Each process keeps a small LRU of responses; the key carries the shared index
version, which the shared cache holds and every change to the index replaces
(`indexing.signals.index_changed`). A change is therefore seen by every process
on its next request, at the cost of one cache read. The entries stay in process
memory on purpose: a shared store would let anyone with the search scope fill
Redis, which also holds revocations and must not evict (docs/architecture.md).
Entries also expire after MCP_SEARCH_CACHE_SECONDS, which bounds how long a lost
version bump (the cache was down when the index changed) can show old results.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)

VERSION_KEY = "search:index-version"
MAX_ENTRIES = 128
MAX_ENTRY_BYTES = 256 * 1024

_entries: OrderedDict[str, tuple[float, dict]] = OrderedDict()
_lock = threading.Lock()


def index_version() -> str | None:
    """The shared index version, or None when the cache cannot say (then nothing is cached)."""
    try:
        version = cache.get(VERSION_KEY)
        if version is None:
            cache.add(VERSION_KEY, secrets.token_hex(8), timeout=None)
            version = cache.get(VERSION_KEY)
    except Exception:  # the cache is down: search still works, uncached
        logger.warning("search cache: the shared cache is unavailable; not caching")
        return None
    return version


def index_changed(**_kwargs) -> None:
    """Receiver of indexing.signals.index_changed: every process drops what it remembers."""
    try:
        cache.set(VERSION_KEY, secrets.token_hex(8), timeout=None)
    except Exception:
        logger.error(
            "search cache: could not publish a new index version; cached results may be "
            "up to MCP_SEARCH_CACHE_SECONDS old"
        )


def remembered(kind: str, params: dict, compute: Callable[[], dict]) -> dict:
    """The response for these validated parameters: from this process's memory when the
    index has not changed since, else computed (and remembered if small enough). Keyed
    on the validated values, so a REST request and an MCP tool call that ask the same
    thing (lang=py and language "Python") share one entry."""
    seconds = settings.MCP_SEARCH_CACHE_SECONDS
    version = index_version() if seconds else None
    if version is None:
        return compute()
    key = hashlib.sha256(
        json.dumps(
            [version, kind, params], separators=(",", ":"), sort_keys=True, default=str
        ).encode()
    ).hexdigest()
    now = time.monotonic()
    with _lock:
        found = _entries.get(key)
        if found is not None and found[0] > now:
            _entries.move_to_end(key)
            return found[1]
    response = compute()
    if len(json.dumps(response, separators=(",", ":"))) <= MAX_ENTRY_BYTES:
        with _lock:
            _entries[key] = (now + seconds, response)
            _entries.move_to_end(key)
            while len(_entries) > MAX_ENTRIES:
                _entries.popitem(last=False)
    return response


def forget_all() -> None:
    """Empty this process's memory (tests)."""
    with _lock:
        _entries.clear()
