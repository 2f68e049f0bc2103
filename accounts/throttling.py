"""Login brute-force protection: failure counters in the shared cache.

A username, and a client address, each get LOGIN_FAILURE_LIMIT failures per
LOGIN_FAILURE_WINDOW. Past that every login for them is refused with 429 and
Retry-After, even with the right password, until the window has passed.
The client address is REMOTE_ADDR, or X-Forwarded-For only behind
TRUSTED_PROXY_COUNT proxies (DRF's NUM_PROXIES logic).
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import time

from django.core.cache import caches
from rest_framework.throttling import BaseThrottle

from accounts.conf import auth_settings
from accounts.exceptions import LoginLocked, RevocationStoreUnavailable


def client_ip(request) -> str | None:
    ident = BaseThrottle().get_ident(request)
    try:
        return str(ipaddress.ip_address((ident or "").strip()))
    except ValueError:
        return None


def _buckets(request, username: str) -> list[str]:
    user_hash = hashlib.sha256(username.casefold().encode()).hexdigest()[:32]
    return [f"auth:login-failures:user:{user_hash}", f"auth:login-failures:ip:{client_ip(request)}"]


def _cache():
    return caches[auth_settings.CACHE_ALIAS]


def _window() -> float:
    return auth_settings.LOGIN_FAILURE_WINDOW.total_seconds()


def ensure_login_allowed(request, username: str) -> None:
    """Raise LoginLocked if the username or the client address is locked out."""
    buckets = _buckets(request, username)
    keys = buckets + [f"{bucket}:since" for bucket in buckets]
    try:
        found = _cache().get_many(keys)
    except Exception as exc:
        raise RevocationStoreUnavailable() from exc
    now = time.time()
    waits = [
        found.get(f"{bucket}:since", now) + _window() - now
        for bucket in buckets
        if found.get(bucket, 0) >= auth_settings.LOGIN_FAILURE_LIMIT
    ]
    if waits:
        raise LoginLocked(wait=max(1, math.ceil(max(waits))))


def record_login_failure(request, username: str) -> None:
    cache = _cache()
    window = _window()
    try:
        for bucket in _buckets(request, username):
            now = time.time()
            cache.add(f"{bucket}:since", now, math.ceil(window))
            since = cache.get(f"{bucket}:since", now)
            remaining = max(1, math.ceil(since + window - now))
            cache.add(bucket, 0, remaining)
            try:
                cache.incr(bucket)
            except ValueError:  # expired between add and incr
                cache.set(bucket, 1, remaining)
            # incr keeps the expiry on Redis but not on the database cache.
            cache.touch(bucket, remaining)
    except Exception as exc:
        raise RevocationStoreUnavailable() from exc


def clear_username_failures(request, username: str) -> None:
    bucket = _buckets(request, username)[0]
    try:
        _cache().delete_many([bucket, f"{bucket}:since"])
    except Exception as exc:
        raise RevocationStoreUnavailable() from exc
