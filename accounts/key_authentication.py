"""API-key authentication: `X-API-Key: <key>` or `Authorization: Bearer <key>`.

Order of checks, cheapest first: shape and checksum (no cache, no database),
then one cache round trip (the cached grant, the fresh-only marker and this
address's failure count), then the database only on a cache miss. Unknown,
revoked and expired keys all get the same 401 body (429 once the address has
used up its failures; a valid key is never refused for that). Only the key's
identifier is ever logged.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict

from django.db.models.functions import Now
from rest_framework import HTTP_HEADER_ENCODING
from rest_framework.authentication import BaseAuthentication

from accounts import apikeys, throttling
from accounts.conf import auth_settings
from accounts.exceptions import InvalidApiKey, InvalidToken, RevocationStoreUnavailable

logger = logging.getLogger(__name__)


class ApiKeyPrincipal:
    """The owner of an API key, as the key describes it (no database lookup)."""

    is_authenticated = True
    is_anonymous = False
    auth_method = "api_key"
    session_id = None

    def __init__(self, grant: apikeys.Grant):
        self.grant = grant
        self.id = self.pk = str(grant.user_id)
        self.scopes = frozenset(grant.scopes)
        self.expires_at = grant.expires_at
        self.username = grant.username
        self.role_name = grant.role_name

    def __str__(self) -> str:
        return f"api key {self.grant.identifier}"


def _header(request, name: str) -> str | None:
    value = request.META.get(name)
    if isinstance(value, bytes):
        value = value.decode(HTTP_HEADER_ENCODING, errors="replace")
    return value.strip() if isinstance(value, str) else None


def presented_key(request) -> str | None:
    """The API key in the request, if any; refuses ambiguous requests."""
    from_header = _header(request, "HTTP_X_API_KEY")
    authorization = _header(request, "HTTP_AUTHORIZATION") or ""
    scheme, _, credentials = authorization.partition(" ")
    from_bearer = credentials.strip() if scheme.lower() == "bearer" else ""
    if from_bearer and not apikeys.looks_like_key(from_bearer):
        from_bearer = ""  # a JWT: BearerTokenAuthentication's business
    if from_header is not None and authorization:
        raise InvalidToken("Send one credential: X-API-Key or Authorization, not both")
    return from_header if from_header is not None else (from_bearer or None)


def _used_key(digest: str) -> str:
    return f"auth:api-key-used:{digest}"


class ApiKeyAuthentication(BaseAuthentication):
    def authenticate(self, request):
        secret = presented_key(request)
        if secret is None:
            return None
        if not apikeys.is_well_formed(secret):
            # Refused on its face: no cache, no database. Nothing to throttle,
            # since it cost nothing.
            logger.info("api key refused: (malformed)")
            raise InvalidApiKey()
        digest = apikeys.digest_of(secret)
        failure_bucket = throttling.api_key_failure_bucket(request)
        grant, found = self._lookup(digest, failure_bucket)
        if grant is None or grant.expired(time.time()):
            logger.info("api key refused: %s", apikeys.identifier_of(secret))
            # An address that used up its failures is told to stop, and writes nothing
            # more; a valid key from it (above) was not held up by the others.
            lockout = throttling.api_key_lockout(found, failure_bucket)
            if lockout is not None:
                raise lockout
            throttling.record_api_key_failure(failure_bucket)
            raise InvalidApiKey()
        if not found.get(_used_key(digest)):
            self._note_use(grant, digest)
        return ApiKeyPrincipal(grant), grant

    def _lookup(self, digest: str, failure_bucket: str) -> tuple[apikeys.Grant | None, dict]:
        """The grant, and what the one cache round trip found (whether last_used_at was
        written lately, this address's failures)."""
        keys = [
            apikeys.grant_cache_key(digest),
            apikeys.fresh_only_cache_key(digest),
            _used_key(digest),
            *throttling.api_key_lockout_keys(failure_bucket),
        ]
        try:
            found = apikeys.shared_cache().get_many(keys)
        except Exception as exc:
            raise RevocationStoreUnavailable() from exc
        cached = found.get(apikeys.grant_cache_key(digest))
        fresh_only = found.get(apikeys.fresh_only_cache_key(digest))
        if cached is not None and not fresh_only:
            return apikeys.Grant(**cached), found
        return self._load(digest, cache_it=not fresh_only), found

    def _load(self, digest: str, *, cache_it: bool) -> apikeys.Grant | None:
        from accounts.models import ApiKey

        row = ApiKey.objects.select_related("user__role").filter(key_hash=digest).first()
        grant = apikeys.grant_from_row(row) if row is not None else None
        if row is not None and row.revoked_at is not None:
            self._audit_revoked_use(row, digest)
        if grant is not None and cache_it:
            ttl = auth_settings.API_KEY_CACHE_TTL
            if grant.expires_at is not None:
                ttl = min(ttl, max(1, int(grant.expires_at - time.time()) + 1))
            try:
                apikeys.shared_cache().set(apikeys.grant_cache_key(digest), asdict(grant), ttl)
            except Exception as exc:
                raise RevocationStoreUnavailable() from exc
        return grant

    def _audit_revoked_use(self, row, digest: str) -> None:
        """A revoked key came back: worth a record, at most once a minute per key, so that
        replaying it cannot fill the trail (this is the refusal path, not the good one)."""
        from accounts import audit

        try:
            first = apikeys.shared_cache().add(f"audit:revoked-key:{digest}", 1, 60)
        except Exception as exc:
            raise RevocationStoreUnavailable() from exc
        if first:
            audit.record(
                audit.API_KEY_REVOKED_USED,
                outcome="failure",
                actor=row.user_id,
                actor_name=row.user.username,
                target_type="api_key",
                target_id=row.pk,
                target=row.identifier,
                detail={"revoked_at": row.revoked_at.isoformat()},
            )

    def _note_use(self, grant: apikeys.Grant, digest: str) -> None:
        """Write last_used_at at most once per interval per key, not on every request.

        Only reached when the lookup saw no recent write; `add` settles races
        between processes, so one of them writes."""
        from accounts.models import ApiKey

        try:
            first = apikeys.shared_cache().add(
                _used_key(digest), 1, auth_settings.API_KEY_LAST_USED_INTERVAL
            )
        except Exception as exc:
            raise RevocationStoreUnavailable() from exc
        if first:
            ApiKey.objects.filter(pk=grant.key_id).update(last_used_at=Now())

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="mcp"'
