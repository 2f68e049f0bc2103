"""Login brute-force protection: attempt counters in the shared cache.

A username, and a client address, each get LOGIN_FAILURE_LIMIT failures per
LOGIN_FAILURE_WINDOW. Past that every login for them is refused with 429 and
Retry-After, even with the right password, until the window has passed.

The attempt is counted *before* the password is checked, with atomic
operations on Redis and on the database cache alike, so a burst of parallel
guesses cannot slip past the limit while Argon2 runs; a success gives its
count back. The client address is
REMOTE_ADDR, or X-Forwarded-For only behind TRUSTED_PROXY_COUNT proxies
(DRF's NUM_PROXIES logic); IPv6 clients are counted per /64, since one
client usually owns the whole /64.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time

from django.core.cache import caches
from django.utils.crypto import salted_hmac
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


def username_digest(username: str) -> str:
    """A username as a cache key: keyed, since what is typed there is sometimes a password
    and the cache may be a database table (the embedded default) that outlives the try."""
    return salted_hmac(
        "accounts.throttling.username", username.casefold(), algorithm="sha256"
    ).hexdigest()[:32]


def _username_bucket(username: str) -> str:
    return f"auth:login-attempts:user:{username_digest(username)}"


def _cache():
    return caches[auth_settings.CACHE_ALIAS]


def _take_slot(cache, bucket: str, window: float, limit: int) -> tuple[int | None, int]:
    """Take one of `limit` numbered slots that live for `window` seconds from first use.

    Each slot is taken with cache.add, which is atomic on Redis (SET NX) and on
    the database cache (a unique insert) alike, so parallel requests can never
    take more than `limit` slots between them. Returns the slot (None when all
    are taken) and the seconds left in the window. `:next` is only a hint of
    where to start looking.
    """
    now = time.time()
    cache.add(f"{bucket}:since", now, math.ceil(window))
    since = cache.get(f"{bucket}:since", now)
    remaining = max(1, math.ceil(since + window - now))
    start = min(max(1, cache.get(f"{bucket}:next") or 1), limit + 1)
    for slot in range(start, limit + 1):
        if cache.add(f"{bucket}:{slot}", True, remaining):
            cache.set(f"{bucket}:next", slot + 1, remaining)
            return slot, remaining
    return None, remaining


def _slot_keys(bucket: str, limit: int) -> list[str]:
    return [f"{bucket}:{slot}" for slot in range(1, limit + 1)] + [f"{bucket}:next"]


def register_attempt(request, username: str) -> dict[str, int]:
    """Count a login attempt; raise LoginLocked if it is one too many.

    Returns the slots taken, for register_success. Raises
    RevocationStoreUnavailable if the cache does not answer: without counters
    there is no brute-force protection, so fail closed.
    """
    cache = _cache()
    window = auth_settings.LOGIN_FAILURE_WINDOW.total_seconds()
    limit = auth_settings.LOGIN_FAILURE_LIMIT
    buckets = [_username_bucket(username), _address_bucket(request)]
    taken, waits = {}, []
    try:
        for bucket in filter(None, buckets):
            slot, remaining = _take_slot(cache, bucket, window, limit)
            if slot is None:
                waits.append(remaining)
            else:
                taken[bucket] = slot
    except Exception as exc:
        raise RevocationStoreUnavailable() from exc
    if waits:
        raise LoginLocked(wait=max(waits))
    return taken


def register_success(request, username: str, taken: dict[str, int]) -> None:
    """A right password: forget the username's failures, give the address its slot back."""
    cache = _cache()
    limit = auth_settings.LOGIN_FAILURE_LIMIT
    try:
        user_bucket = _username_bucket(username)
        cache.delete_many([*_slot_keys(user_bucket, limit), f"{user_bucket}:since"])
        address_bucket = _address_bucket(request)
        if address_bucket in taken:
            slot = taken[address_bucket]
            cache.delete(f"{address_bucket}:{slot}")
            cache.set(
                f"{address_bucket}:next",
                slot,
                max(1, math.ceil(auth_settings.LOGIN_FAILURE_WINDOW.total_seconds())),
            )
    except Exception as exc:
        # Only bookkeeping is lost (a count stays a little high): not worth
        # failing a login that has already been verified.
        logger.warning("login throttle: could not clear counters: %s", type(exc).__name__)


def api_key_failure_bucket(request) -> str | None:
    return _address_bucket(request, kind="api-key-failures")


def api_key_lockout_keys(bucket: str) -> list[str]:
    """What to read (in the authentication's one round trip) to know the lockout."""
    return [f"{bucket}:{auth_settings.API_KEY_FAILURE_LIMIT}", f"{bucket}:since"]


def api_key_lockout(found: dict, bucket: str) -> LoginLocked | None:
    """The refusal for an address whose failed API-key attempts used up every slot."""
    last_slot, since_key = api_key_lockout_keys(bucket)
    if not found.get(last_slot):
        return None
    window = auth_settings.API_KEY_FAILURE_WINDOW.total_seconds()
    wait = max(1, math.ceil(found.get(since_key, time.time()) + window - time.time()))
    return LoginLocked(detail="Too many invalid API keys from this address.", wait=wait)


def record_api_key_failure(request, bucket: str | None) -> None:
    if bucket is None:
        return
    try:
        _take_slot(
            _cache(),
            bucket,
            auth_settings.API_KEY_FAILURE_WINDOW.total_seconds(),
            auth_settings.API_KEY_FAILURE_LIMIT,
        )
    except Exception as exc:
        raise RevocationStoreUnavailable() from exc
