"""Login brute-force protection: attempt counters in the shared cache.

A username, and a client address, each get LOGIN_FAILURE_LIMIT failures per
LOGIN_FAILURE_WINDOW. Past that every login for them is refused with 429 and
Retry-After, even with the right password, until the window has passed.

The attempt is counted *before* the password is checked (an atomic INCR on
Redis), so a burst of parallel guesses cannot slip past the limit while
Argon2 runs; a success gives its count back. The client address is
REMOTE_ADDR, or X-Forwarded-For only behind TRUSTED_PROXY_COUNT proxies
(DRF's NUM_PROXIES logic); IPv6 clients are counted per /64, since one
client usually owns the whole /64.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import time

from django.core.cache import caches
from rest_framework.throttling import BaseThrottle

from accounts.conf import auth_settings
from accounts.exceptions import LoginLocked, RevocationStoreUnavailable

logger = logging.getLogger(__name__)


def client_ip(request) -> str | None:
    ident = BaseThrottle().get_ident(request)
    try:
        return str(ipaddress.ip_address((ident or "").strip()))
    except ValueError:
        return None


def _address_bucket(request, kind: str = "login-attempts") -> str | None:
    address = client_ip(request)
    if address is None:
        return None  # no usable address: the username bucket still applies
    parsed = ipaddress.ip_address(address)
    if parsed.version == 6 and not parsed.ipv4_mapped:
        address = str(ipaddress.ip_network(f"{address}/64", strict=False))
    return f"auth:{kind}:ip:{address}"


def _username_bucket(username: str) -> str:
    digest = hashlib.sha256(username.casefold().encode()).hexdigest()[:32]
    return f"auth:login-attempts:user:{digest}"


def _cache():
    return caches[auth_settings.CACHE_ALIAS]


def _increment(cache, bucket: str, window: float) -> tuple[int, int]:
    """Add one to a counter that lives for `window` seconds from its first use.

    Returns the new count and the seconds left in the window.
    """
    now = time.time()
    cache.add(f"{bucket}:since", now, math.ceil(window))
    since = cache.get(f"{bucket}:since", now)
    remaining = max(1, math.ceil(since + window - now))
    cache.add(bucket, 0, remaining)
    try:
        count = cache.incr(bucket)
    except ValueError:  # expired between add and incr
        cache.set(bucket, 1, remaining)
        count = 1
    # incr keeps the expiry on Redis but not on the database cache.
    cache.touch(bucket, remaining)
    return count, remaining


def register_attempt(request, username: str) -> None:
    """Count a login attempt; raise LoginLocked if it is one too many.

    Raises RevocationStoreUnavailable if the cache does not answer: without
    counters there is no brute-force protection, so fail closed.
    """
    cache = _cache()
    window = auth_settings.LOGIN_FAILURE_WINDOW.total_seconds()
    buckets = [_username_bucket(username), _address_bucket(request)]
    waits = []
    try:
        for bucket in filter(None, buckets):
            count, remaining = _increment(cache, bucket, window)
            if count > auth_settings.LOGIN_FAILURE_LIMIT:
                waits.append(remaining)
    except Exception as exc:
        raise RevocationStoreUnavailable() from exc
    if waits:
        raise LoginLocked(wait=max(waits))


def api_key_failure_bucket(request) -> str | None:
    return _address_bucket(request, kind="api-key-failures")


def api_key_lockout(count: int | None, since: float | None) -> LoginLocked | None:
    """The refusal for an address whose failed API-key attempts reached the limit."""
    if not count or count < auth_settings.API_KEY_FAILURE_LIMIT:
        return None
    window = auth_settings.API_KEY_FAILURE_WINDOW.total_seconds()
    wait = max(1, math.ceil((since or time.time()) + window - time.time()))
    return LoginLocked(detail="Too many invalid API keys from this address.", wait=wait)


def record_api_key_failure(request) -> None:
    bucket = api_key_failure_bucket(request)
    if bucket is None:
        return
    try:
        _increment(_cache(), bucket, auth_settings.API_KEY_FAILURE_WINDOW.total_seconds())
    except Exception as exc:
        raise RevocationStoreUnavailable() from exc


def register_success(request, username: str) -> None:
    """A right password: forget the username's failures, give the address its attempt back."""
    cache = _cache()
    try:
        user_bucket = _username_bucket(username)
        cache.delete_many([user_bucket, f"{user_bucket}:since"])
        address_bucket = _address_bucket(request)
        if address_bucket is not None:
            try:
                cache.decr(address_bucket)
            except ValueError:
                pass  # the window ended meanwhile
    except Exception as exc:
        # Only bookkeeping is lost (a count stays a little high): not worth
        # failing a login that has already been verified.
        logger.warning("login throttle: could not clear counters: %s", type(exc).__name__)
