"""Machine API keys: format, parsing and the shared-cache lookup.

A key looks like `mcp_<43 base62 random><6 base62 CRC32>`: 256 bits of
entropy, a prefix that secret scanners can spot, and a checksum that lets a
mistyped or made-up key be refused without touching the database. At rest we
keep only the first characters of the body (the public identifier shown in
lists and logs) and a SHA-256 of the whole key: high-entropy keys need no
slow hash, and SHA-256 keeps each request cheap.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import string
import zlib
from dataclasses import dataclass

from django.core.cache import caches

from accounts.conf import auth_settings
from accounts.exceptions import RevocationStoreUnavailable

KEY_PREFIX = "mcp_"
BODY_LENGTH = 43  # 43 base62 characters: log2(62) * 43 = 256 bits
CHECKSUM_LENGTH = 6
IDENTIFIER_LENGTH = 8
ALPHABET = string.digits + string.ascii_uppercase + string.ascii_lowercase
KEY_PATTERN = re.compile(
    rf"\A{KEY_PREFIX}[0-9A-Za-z]{{{BODY_LENGTH}}}[0-9A-Za-z]{{{CHECKSUM_LENGTH}}}\Z"
)
KEY_LENGTH = len(KEY_PREFIX) + BODY_LENGTH + CHECKSUM_LENGTH


def _base62(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, remainder = divmod(number, 62)
        digits.append(ALPHABET[remainder])
    return "".join(reversed(digits))


def _checksum(body: str) -> str:
    return _base62(zlib.crc32((KEY_PREFIX + body).encode()), CHECKSUM_LENGTH)


@dataclass(frozen=True)
class NewKey:
    secret: str
    identifier: str
    digest: str


def generate() -> NewKey:
    body = "".join(secrets.choice(ALPHABET) for _ in range(BODY_LENGTH))
    secret = KEY_PREFIX + body + _checksum(body)
    return NewKey(secret=secret, identifier=identifier_of(secret), digest=digest_of(secret))


def looks_like_key(value: str) -> bool:
    """Cheap test used to route a bearer credential to API-key authentication."""
    return value.startswith(KEY_PREFIX)


def is_well_formed(value: str) -> bool:
    """Shape and checksum: no database needed to refuse a made-up key."""
    if not KEY_PATTERN.match(value):
        return False
    body = value[len(KEY_PREFIX) : len(KEY_PREFIX) + BODY_LENGTH]
    return value[-CHECKSUM_LENGTH:] == _checksum(body)


def identifier_of(value: str) -> str:
    return value[: len(KEY_PREFIX) + IDENTIFIER_LENGTH]


def digest_of(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


# --- Lookup through the shared cache -----------------------------------------------
#
# A lookup is cached as a "grant" under the key's digest. Any change to a key
# or its owner deletes the grant and sets a "fresh-only" marker that outlives
# every grant written before it: a request that read the database just before
# the change and writes its grant just after cannot bring back a revoked key,
# because while the marker stands every lookup goes to the database.


@dataclass(frozen=True)
class Grant:
    key_id: int
    identifier: str
    user_id: int
    scopes: tuple[str, ...]
    expires_at: float | None
    # The owner as the key row said when the grant was cached: a rename or a role
    # change drops the cached grants (accounts/signals.py).
    username: str
    role_name: str

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and self.expires_at <= now


def shared_cache():
    return caches[auth_settings.CACHE_ALIAS]


# The version is the Grant's shape: processes of two releases side by side (a rolling
# deploy) each read only the grants they can build; the fresh-only marker, which both
# set when a key changes, keeps either from trusting its own stale copy.
GRANT_SHAPE = 2


def grant_cache_key(digest: str) -> str:
    return f"auth:api-key:v{GRANT_SHAPE}:{digest}"


def fresh_only_cache_key(digest: str) -> str:
    return f"auth:api-key-fresh-only:{digest}"


def grant_from_row(api_key) -> Grant | None:
    """The grant of a key row (with user and role loaded), or None if it grants nothing."""
    if api_key.revoked_at is not None or not api_key.user.is_active:
        return None
    return Grant(
        key_id=api_key.pk,
        identifier=api_key.identifier,
        user_id=api_key.user_id,
        scopes=tuple(sorted(api_key.effective_scopes())),
        expires_at=api_key.expires_at.timestamp() if api_key.expires_at else None,
        username=api_key.user.username,
        role_name=api_key.user.role.name,
    )


def forget(digests) -> None:
    """Invalidate cached grants now, everywhere (the cache is shared)."""
    digests = list(digests)
    if not digests:
        return
    cache = shared_cache()
    try:
        # The marker first: from now on nobody caches a grant for these keys.
        cache.set_many(
            {fresh_only_cache_key(d): True for d in digests},
            2 * auth_settings.API_KEY_CACHE_TTL + 30,
        )
        cache.delete_many([grant_cache_key(d) for d in digests])
    except Exception as exc:
        raise RevocationStoreUnavailable() from exc
