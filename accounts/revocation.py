"""Token revocation in the shared cache (Redis in production).

Three kinds of entry, each living only as long as a token it could reject:
- a token id (`jti`), until that token expires;
- a login session (`sid`), for one access-token lifetime: its refresh tokens
  are stopped by the LoginSession row, only its access tokens need this;
- a user's "not before" time, for one access-token lifetime: access tokens
  issued earlier are refused (logout-all, password change, deactivation,
  role change).

Checking an access token is one round trip (get_many). If the cache cannot
be reached the check fails closed with RevocationStoreUnavailable (503).

A store that lost its contents (a Redis restarted without persistence, flushed,
or a cache table emptied) would silently forget revocations. So the store keeps
one marker with no expiry, "revocations kept since"; when it is missing, it is
set to now and every access token issued before is refused: clients refresh
(refresh tokens are checked against the LoginSession rows in the database, which
were not lost) or sign in again. The marker is read in the same round trip.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from django.core.cache import caches
from rest_framework_simplejwt.settings import api_settings

from accounts.conf import auth_settings
from accounts.exceptions import RevocationStoreUnavailable, TokenRevoked
from accounts.tokens import leeway_seconds

logger = logging.getLogger(__name__)


def _cache():
    return caches[auth_settings.CACHE_ALIAS]


def _jti_key(jti: str) -> str:
    return f"auth:revoked:jti:{jti}"


def _session_key(sid: str) -> str:
    return f"auth:revoked:sid:{sid}"


def _user_key(user_id: str) -> str:
    return f"auth:not-before:{user_id}"


KEPT_SINCE_KEY = "auth:revocations-kept-since"


def mark_store_complete() -> None:
    """Declare that this store holds every revocation there ever was (a new deployment,
    or tests that start from an empty cache): no token is refused for its age."""
    _write(_cache().set, KEPT_SINCE_KEY, 0.0, None)


def ensure_kept_since() -> None:
    """Before issuing tokens: a store that has no marker (new, or wiped) gets one now, so
    the new tokens are not taken for ones issued before the wipe. A second early, for
    the rounding of `iat`."""
    _write(_cache().add, KEPT_SINCE_KEY, time.time() - 1.0, None)


def _kept_since(found: dict) -> float:
    since = found.get(KEPT_SINCE_KEY)
    if since is not None:
        return float(since)
    # The store lost everything it held: from now on it is complete again, and tokens
    # issued before cannot be vouched for. add() settles a race between processes.
    now = time.time()
    cache = _cache()
    try:
        if cache.add(KEPT_SINCE_KEY, now, None):
            logger.warning(
                "revocation store was empty: access tokens issued before now are refused"
            )
        since = cache.get(KEPT_SINCE_KEY)
    except Exception as exc:
        raise RevocationStoreUnavailable() from exc
    return float(since if since is not None else now)


def _access_window() -> int:
    """Seconds an access token issued now may still be accepted."""
    return int(api_settings.ACCESS_TOKEN_LIFETIME.total_seconds() + leeway_seconds()) + 1


def _write(operation, *args, **kwargs):
    try:
        return operation(*args, **kwargs)
    except Exception as exc:
        logger.error("revocation store write failed: %s", type(exc).__name__)
        raise RevocationStoreUnavailable() from exc


def revoke_token(*, jti: str, expires_at: float) -> None:
    ttl = int(expires_at - time.time() + leeway_seconds()) + 1
    if ttl > 0:
        _write(_cache().set, _jti_key(jti), True, ttl)


def revoke_sessions(*, session_ids: Iterable[str]) -> None:
    entries = {_session_key(str(sid)): True for sid in session_ids}
    if entries:
        _write(_cache().set_many, entries, _access_window())


def revoke_user_tokens_issued_before(*, user_ids: Iterable[str], moment: float) -> None:
    entries = {_user_key(str(uid)): moment for uid in user_ids}
    if entries:
        _write(_cache().set_many, entries, _access_window())


def ensure_not_revoked(payload: dict) -> None:
    """Raise TokenRevoked if the access token described by `payload` was revoked."""
    sid = payload.get("sid")
    keys = [
        _jti_key(payload["jti"]),
        _user_key(payload["sub"]),
        _session_key(sid or ""),
        KEPT_SINCE_KEY,
    ]
    try:
        found = _cache().get_many(keys)
    except Exception as exc:
        logger.error("revocation store read failed: %s", type(exc).__name__)
        raise RevocationStoreUnavailable() from exc
    if found.get(keys[0]) or (sid and found.get(keys[2])):
        raise TokenRevoked()
    not_before = found.get(keys[1])
    if not_before is not None and float(payload["iat"]) < float(not_before):
        raise TokenRevoked()
    if float(payload["iat"]) < _kept_since(found):
        raise TokenRevoked(
            "Token predates a reset of the revocation store: refresh or sign in again"
        )
