"""`auth_settings`: our token settings, with defaults, read when used.

SimpleJWT keeps its own settings in SIMPLE_JWT (lifetimes, algorithm, issuer,
audience); this object holds what we add on top, from the MCP_AUTH setting.
Like DRF's api_settings it is read lazily, so override_settings works in tests.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    # Seconds a process may sign with a key after another process rotated it.
    "SIGNING_KEY_REFRESH": 5,
    # Absolute limit of one login, however often it is refreshed.
    "SESSION_MAX_AGE": timedelta(days=30),
    # Failed logins per client address within the window; then 429 until it passes.
    "LOGIN_FAILURE_LIMIT": 5,
    "LOGIN_FAILURE_WINDOW": timedelta(minutes=15),
    # Longest a name under a spread-out attack stays closed after a failure (to addresses
    # it has not signed in from lately: LOGIN_KNOWN_ADDRESS_TTL).
    "LOGIN_DELAY_MAX": timedelta(minutes=2),
    "LOGIN_KNOWN_ADDRESS_TTL": timedelta(days=30),
    # Bearer tokens longer than this are refused before any parsing.
    "MAX_TOKEN_LENGTH": 4096,
    # Seconds a client is told to wait when the revocation store is down.
    "UNAVAILABLE_RETRY_AFTER": 5,
    "CACHE_ALIAS": "default",
    # Failed API-key attempts per client address within the window: then 429.
    "API_KEY_FAILURE_LIMIT": 20,
    "API_KEY_FAILURE_WINDOW": timedelta(minutes=5),
    # Seconds a key lookup is kept in the shared cache. Revocation and owner
    # changes invalidate it at once; this only bounds staleness of last resort.
    "API_KEY_CACHE_TTL": 60,
    # last_used_at is written at most this often per key.
    "API_KEY_LAST_USED_INTERVAL": 60,
}


class AuthSettings:
    def __getattr__(self, name: str) -> Any:
        if name not in DEFAULTS:
            raise AttributeError(f"Invalid MCP_AUTH setting: {name}")
        return getattr(settings, "MCP_AUTH", {}).get(name, DEFAULTS[name])


auth_settings = AuthSettings()
