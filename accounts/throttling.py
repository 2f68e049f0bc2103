"""Brute-force protection for passwords and API keys: counters in the shared cache.

Logins:
- A client address gets LOGIN_FAILURE_LIMIT failed logins per LOGIN_FAILURE_WINDOW,
  whatever names it tries; then it is refused (429 with Retry-After), even with the
  right password, until the window has passed. The slot is taken atomically *before*
  Argon2 runs (cache.add is atomic on Redis and on mcpserver.cache's database cache),
  so a burst of parallel guesses cannot slip past the limit; a success gives it back.
- A name is never locked: an attacker at one address must not be able to lock out its
  owner signing in from another. One address cannot even slow a name down (it has only
  LOGIN_FAILURE_LIMIT tries). A spread-out attack is slowed instead: past
  LOGIN_FAILURE_LIMIT failures on a name in the window, each failure closes the name for
  1, 2, 4 ... seconds (at most LOGIN_DELAY_MAX) to every address but the ones the name
  has signed in from lately (LOGIN_KNOWN_ADDRESS_TTL), so the owner at a familiar
  address is never held up, and at a new one waits at most LOGIN_DELAY_MAX at a time.

What unauthenticated traffic can write here is bounded by the number of client
addresses, not by the number of requests or names: everything is read in one round
trip first, a locked or waiting address writes nothing here (the audit trail keeps one
marker per address and window), and an address writes at most LOGIN_FAILURE_LIMIT
failures (each a name's counter and wait) per window. The shared cache never evicts
these (Redis with noeviction; on the embedded default mcpserver.cache never culls a live
entry), so traffic cannot make it forget a revocation or a lockout either.

The client address is REMOTE_ADDR, or X-Forwarded-For only behind TRUSTED_PROXY_COUNT
proxies (DRF's NUM_PROXIES logic); IPv6 clients are counted per /64, since one client
usually owns the whole /64; requests without a usable address share one bucket.
Usernames appear in keys only as a keyed digest (what is typed there is sometimes a
password, and the embedded default's cache is a database table).

API keys: LOGIN-style slots per address (API_KEY_FAILURE_LIMIT per
API_KEY_FAILURE_WINDOW) for unknown, revoked and expired keys; past them, such keys get
429 instead of 401 and nothing more is written. A valid key is never refused because
other keys failed from the same address.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import caches
from django.utils.crypto import salted_hmac
from rest_framework.exceptions import Throttled
from rest_framework.throttling import BaseThrottle

from accounts.conf import auth_settings
from accounts.exceptions import LoginDelayed, LoginLocked, RevocationStoreUnavailable

logger = logging.getLogger(__name__)

UNKNOWN_ADDRESS = "unknown"


def client_ip(request) -> str | None:
    ident = BaseThrottle().get_ident(request)
    try:
        return str(ipaddress.ip_address((ident or "").strip()))
    except ValueError:
        return None


def client_network(request) -> str:
    """The address a client is counted by: its IP, its /64 for IPv6, or one shared
    name for requests whose address cannot be read."""
    address = client_ip(request)
    if address is None:
        return UNKNOWN_ADDRESS
    parsed = ipaddress.ip_address(address)
    if parsed.version == 6 and not parsed.ipv4_mapped:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return address


def _address_bucket(request, kind: str) -> str:
    return f"auth:{kind}:ip:{client_network(request)}"


def username_digest(username: str) -> str:
    """A username as a cache key: keyed, since what is typed there is sometimes a password
    and the cache may be a database table (the embedded default) that outlives the try."""
    return salted_hmac(
        "accounts.throttling.username", username.casefold(), algorithm="sha256"
    ).hexdigest()[:32]


def _username_bucket(username: str) -> str:
    return f"auth:login-failures:user:{username_digest(username)}"


def _name_wait_key(username: str) -> str:
    return f"auth:login-wait:user:{username_digest(username)}"


def _known_address_key(username: str, network: str) -> str:
    """Where the name signed in successfully: exempt from the waits a spread-out attack
    on the name causes."""
    pair = salted_hmac(
        "accounts.throttling.known", f"{username.casefold()}\n{network}", algorithm="sha256"
    ).hexdigest()[:32]
    return f"auth:login-known:{pair}"


def _cache():
    return caches[auth_settings.CACHE_ALIAS]


# --- Slots: at most `limit` per window, taken atomically ------------------------------


def _lockout_keys(bucket: str, limit: int) -> list[str]:
    return [f"{bucket}:{limit}", f"{bucket}:since"]


def _lockout_wait(found: dict, bucket: str, limit: int, window: float) -> int | None:
    """Seconds until a bucket whose slots are all taken opens again; None if it is open."""
    last_slot, since_key = _lockout_keys(bucket, limit)
    if not found.get(last_slot):
        return None
    return max(1, math.ceil(found.get(since_key, time.time()) + window - time.time()))


def _take_slot(cache, bucket: str, window: float, limit: int) -> tuple[int | None, int]:
    """Take one of `limit` numbered slots that live for `window` seconds from first use.

    Each slot is taken with cache.add, which is atomic on Redis (SET NX) and on the
    database cache (a unique insert) alike, so parallel requests can never take more
    than `limit` slots between them. Returns the slot (None when all are taken) and the
    seconds left in the window. `:next` is only a hint of where to start looking.
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


# --- Logins ----------------------------------------------------------------------------


def login_delay(failures: int) -> int:
    """Seconds a name is closed, to addresses it has not signed in from, after its
    `failures`-th failure in the window: none while one address could have made them all."""
    over = failures - auth_settings.LOGIN_FAILURE_LIMIT
    if over <= 0:
        return 0
    ceiling = math.ceil(auth_settings.LOGIN_DELAY_MAX.total_seconds())
    return min(2 ** min(over - 1, 32), ceiling)


@dataclass(frozen=True)
class LoginAttempt:
    """A login attempt that was let through to the password check."""

    address_bucket: str
    slot: int
    username_bucket: str
    wait_key: str
    known_key: str


def login_attempt_begin(request, username: str) -> LoginAttempt:
    """Before the password is checked: refuse, or take one of the address's slots.

    Raises LoginLocked (the address used up its failures), LoginDelayed (the name is
    under a spread-out attack and this address is not one it signed in from), or
    RevocationStoreUnavailable when the cache does not answer: without counters there is
    no brute-force protection, so fail closed. A refusal writes nothing.
    """
    cache = _cache()
    limit = auth_settings.LOGIN_FAILURE_LIMIT
    window = auth_settings.LOGIN_FAILURE_WINDOW.total_seconds()
    address_bucket = _address_bucket(request, "login-attempts")
    wait_key = _name_wait_key(username)
    known_key = _known_address_key(username, client_network(request))
    try:
        found = cache.get_many([*_lockout_keys(address_bucket, limit), wait_key, known_key])
        wait = _lockout_wait(found, address_bucket, limit, window)
        if wait is not None:
            raise LoginLocked(wait=wait)
        opens = float(found.get(wait_key) or 0)
        if opens > time.time() and not found.get(known_key):
            raise LoginDelayed(wait=max(1, math.ceil(opens - time.time())))
        slot, remaining = _take_slot(cache, address_bucket, window, limit)
    except LoginLocked:
        raise
    except Exception as exc:
        raise RevocationStoreUnavailable() from exc
    if slot is None:  # the last slots went to parallel requests
        raise LoginLocked(wait=remaining)
    return LoginAttempt(address_bucket, slot, _username_bucket(username), wait_key, known_key)


def login_attempt_failed(attempt: LoginAttempt) -> None:
    """A wrong password (or unknown or inactive user): the address keeps its slot, the
    name's failures go up, and past the limit the name closes for a while."""
    cache = _cache()
    window = math.ceil(auth_settings.LOGIN_FAILURE_WINDOW.total_seconds())
    try:
        try:
            failures = cache.incr(attempt.username_bucket)
        except ValueError:  # the name's first failure in this window
            added = cache.add(attempt.username_bucket, 1, window)
            failures = 1 if added else cache.incr(attempt.username_bucket)
        delay = login_delay(failures)
        if delay:
            cache.set(attempt.wait_key, time.time() + delay, delay + 1)
    except Exception as exc:
        # The address's slot, taken atomically before the check, still counts.
        logger.warning("login throttle: could not note a failure: %s", type(exc).__name__)


def login_attempt_succeeded(attempt: LoginAttempt) -> None:
    """A right password: the address gets its slot back and becomes one the name signs in
    from. The name's failures stay: a success does not mean an attack on it stopped."""
    cache = _cache()
    try:
        cache.delete(f"{attempt.address_bucket}:{attempt.slot}")
        window = math.ceil(auth_settings.LOGIN_FAILURE_WINDOW.total_seconds())
        cache.set(f"{attempt.address_bucket}:next", attempt.slot, window)
        known_for = math.ceil(auth_settings.LOGIN_KNOWN_ADDRESS_TTL.total_seconds())
        cache.set(attempt.known_key, True, known_for)
    except Exception as exc:
        # Only bookkeeping is lost (a count stays a little high): not worth
        # failing a login that has already been verified.
        logger.warning("login throttle: could not clear counters: %s", type(exc).__name__)


# --- API keys ----------------------------------------------------------------------------


def api_key_failure_bucket(request) -> str:
    return _address_bucket(request, "api-key-failures")


def api_key_lockout_keys(bucket: str) -> list[str]:
    """What to read (in the authentication's one round trip) to know the lockout."""
    return _lockout_keys(bucket, auth_settings.API_KEY_FAILURE_LIMIT)


def api_key_lockout(found: dict, bucket: str) -> LoginLocked | None:
    """The refusal for a bad key from an address whose failed attempts used up every
    slot (given only once the key turned out not to be valid)."""
    wait = _lockout_wait(
        found,
        bucket,
        auth_settings.API_KEY_FAILURE_LIMIT,
        auth_settings.API_KEY_FAILURE_WINDOW.total_seconds(),
    )
    if wait is None:
        return None
    return LoginLocked(detail="Too many invalid API keys from this address.", wait=wait)


def record_api_key_failure(bucket: str) -> None:
    try:
        _take_slot(
            _cache(),
            bucket,
            auth_settings.API_KEY_FAILURE_WINDOW.total_seconds(),
            auth_settings.API_KEY_FAILURE_LIMIT,
        )
    except Exception as exc:
        raise RevocationStoreUnavailable() from exc


# --- Calls: searches and file reads, by REST or MCP -------------------------------------


class CallRateExceeded(Throttled):
    default_detail = "Too many calls."


def call_budget_take(*, principal) -> None:
    """Count one search, file read or MCP tool call against the caller's budget of
    MCP_TOOL_CALLS_PER_MINUTE, shared by the REST endpoints and the MCP tools.

    Fixed one-minute windows in the shared cache, counted with incr, which is atomic on
    Redis and on mcpserver.cache's database cache, so parallel calls cannot pass the
    limit. Raises CallRateExceeded (429 with Retry-After) past it, and
    RevocationStoreUnavailable when the cache does not answer.
    """
    limit = settings.MCP_TOOL_CALLS_PER_MINUTE
    if not limit:
        return
    now = time.time()
    caller = hashlib.sha256(str(principal.pk).encode()).hexdigest()[:24]
    key = f"rate:calls:{caller}:{int(now // 60)}"
    cache = _cache()
    try:
        try:
            count = cache.incr(key)  # one round trip, once the minute's counter exists
        except ValueError:  # the minute's first call (or a race to make its counter)
            count = 1 if cache.add(key, 1, 120) else cache.incr(key)
    except Exception as exc:
        raise RevocationStoreUnavailable() from exc
    if count > limit:
        raise CallRateExceeded(
            detail=f"Too many searches, file reads and tool calls: at most {limit} a minute.",
            wait=60 - int(now) % 60,
        )


class CallRateThrottle(BaseThrottle):
    """DRF's hook for call_budget_take, on the search and file endpoints."""

    def allow_request(self, request, view) -> bool:
        call_budget_take(principal=request.user)
        return True
