"""System checks that guard the configuration; errors stop the process.

They run with every management command (runserver, migrate, check) and at
WSGI/ASGI start (mcpserver/startup.py), so a production server with an unsafe
configuration never takes a request.
"""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

MIN_JWT_SECRET_BYTES = 32
PROFILES = ("development", "production")
HMAC_ALGORITHMS = ("HS256", "HS384", "HS512")


def _production() -> bool:
    return getattr(settings, "MCP_ENV", "development") == "production"


@register(Tags.security)
def check_profile(app_configs=None, **kwargs):
    if getattr(settings, "MCP_ENV", "development") not in PROFILES:
        return [
            Error(
                f"MCP_ENV is {settings.MCP_ENV!r}.",
                hint="Set MCP_ENV to 'development' or 'production'.",
                id="mcpserver.E001",
            )
        ]
    return []


@register(Tags.security)
def check_secrets(app_configs=None, **kwargs):
    errors = []
    jwt_secret = settings.SIMPLE_JWT.get("SIGNING_KEY") or ""
    fallbacks = settings.MCP_AUTH.get("SIGNING_KEY_FALLBACKS", [])
    algorithm = settings.SIMPLE_JWT.get("ALGORITHM", "HS256")
    if algorithm not in HMAC_ALGORITHMS:
        errors.append(
            Error(
                f"JWT_ALGORITHM is {algorithm!r}; this release signs with HMAC only.",
                hint="Use HS256, HS384 or HS512. Asymmetric keys (RS256, ES256, EdDSA) come "
                "with managed signing keys.",
                id="mcpserver.E002",
            )
        )
    if jwt_secret and jwt_secret == settings.SECRET_KEY:
        errors.append(
            Error(
                "JWT_SECRET_KEY is the same as DJANGO_SECRET_KEY.",
                hint="Use a separate random secret for tokens, so that one leak does not "
                "give away both.",
                id="mcpserver.E003",
            )
        )
    if not _production():
        return errors
    if getattr(settings, "MCP_SECRET_KEY_SOURCE", "") != "environment":
        errors.append(
            Error(
                "DJANGO_SECRET_KEY is not set.",
                hint="Production needs DJANGO_SECRET_KEY from the environment, e.g. the output "
                "of: python -c 'import secrets; print(secrets.token_urlsafe(50))'",
                id="mcpserver.E004",
            )
        )
    if len(jwt_secret.encode()) < MIN_JWT_SECRET_BYTES:
        errors.append(
            Error(
                "JWT_SECRET_KEY is missing or shorter than 32 bytes.",
                hint="Set JWT_SECRET_KEY to at least 32 random bytes, e.g. the output of: "
                "python -c 'import secrets; print(secrets.token_urlsafe(48))'",
                id="mcpserver.E005",
            )
        )
    if any(len(str(old).encode()) < MIN_JWT_SECRET_BYTES for old in fallbacks):
        errors.append(
            Error(
                "A JWT_SECRET_KEY_FALLBACKS entry is shorter than 32 bytes.",
                hint="Remove weak fallbacks: tokens signed with them can be forged offline.",
                id="mcpserver.E006",
            )
        )
    if settings.DEBUG:
        errors.append(
            Error(
                "DEBUG is on in production.",
                hint="Unset DJANGO_DEBUG: debug pages show settings and stack traces.",
                id="mcpserver.E007",
            )
        )
    if not settings.ALLOWED_HOSTS:
        errors.append(
            Error(
                "DJANGO_ALLOWED_HOSTS is empty.",
                hint="List the host names this server answers to, comma-separated.",
                id="mcpserver.E008",
            )
        )
    if not getattr(settings, "REDIS_URL", ""):
        errors.append(
            Warning(
                "REDIS_URL is not set: revocations and login counters live in the database cache.",
                hint="Use Redis when several instances serve traffic.",
                id="mcpserver.W001",
            )
        )
    return errors


@register(Tags.security)
def check_cors(app_configs=None, **kwargs):
    if getattr(settings, "CORS_ALLOW_ALL_ORIGINS", False) and getattr(
        settings, "CORS_ALLOW_CREDENTIALS", False
    ):
        return [
            Error(
                "CORS allows every origin together with credentials.",
                hint="List the origins in CORS_ALLOWED_ORIGINS, or turn CORS_ALLOW_CREDENTIALS "
                "off: bearer tokens do not need credentialed CORS.",
                id="mcpserver.E009",
            )
        ]
    return []
