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
    keys = [_jti_key(payload["jti"]), _user_key(payload["sub"])]
    sid = payload.get("sid")
    if sid:
        keys.append(_session_key(sid))
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
