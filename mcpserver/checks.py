"""System checks that guard the configuration; errors stop the process.

They run with every management command (runserver, migrate, check) and at
WSGI/ASGI start (mcpserver/startup.py), so a production server with an unsafe
configuration never takes a request.
"""

from __future__ import annotations

import os

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

from accounts.models import SigningKey

MIN_SECRET_BYTES = 32
MIN_SECRET_KEY_LENGTH = 50
MIN_SECRET_KEY_UNIQUE_CHARACTERS = 5
PROFILES = ("development", "production")
SIGNING_ALGORITHMS = SigningKey.Algorithm.values


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
    jwt_secret = getattr(settings, "JWT_SECRET_KEY", "") or ""
    kek = getattr(settings, "JWT_KEY_ENCRYPTION_KEY", "") or ""
    algorithm = getattr(settings, "JWT_ALGORITHM", "HS256")
    if algorithm not in SIGNING_ALGORITHMS:
        errors.append(
            Error(
                f"JWT_ALGORITHM is {algorithm!r}.",
                hint="Use one of " + ", ".join(SIGNING_ALGORITHMS) + ".",
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
    if jwt_secret and len(jwt_secret.encode()) < MIN_SECRET_BYTES:
        errors.append(
            Error(
                "JWT_SECRET_KEY is shorter than 32 bytes.",
                hint="Tokens signed with a short HMAC secret can be forged offline. Set it to "
                "32+ random bytes, or leave it unset and let the server generate keys.",
                id="mcpserver.E005",
            )
        )
    if kek and kek in (settings.SECRET_KEY, jwt_secret):
        errors.append(
            Error(
                "JWT_KEY_ENCRYPTION_KEY must not be the Django secret or the JWT secret.",
                hint="Give the key-encryption key its own random value.",
                id="mcpserver.E010",
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
    if len(kek.encode()) < MIN_SECRET_BYTES:
        errors.append(
            Error(
                "JWT_KEY_ENCRYPTION_KEY is missing or shorter than 32 bytes.",
                hint="Signing keys are stored encrypted with it: set it to 32+ random bytes, "
                "e.g. python -c 'import secrets; print(secrets.token_urlsafe(48))', and keep "
                "it out of the database and its backups.",
                id="mcpserver.E011",
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


@register(Tags.security)
def check_mcp_resource(app_configs=None, **kwargs):
    if not _production():
        return []
    public_url = getattr(settings, "MCP_PUBLIC_URL", "")
    if not public_url:
        return [
            Error(
                "MCP_PUBLIC_URL is not set: the MCP resource URL would be taken from each "
                "request's Host header, and access tokens would carry the audience "
                "'mcp-code-server' instead of the resource URL.",
                hint="Set MCP_PUBLIC_URL to the public base URL, e.g. https://code.example.com.",
                id="mcpserver.E016",
            )
        ]
    if not public_url.lower().startswith("https://"):
        return [
            Error(
                f"MCP_PUBLIC_URL is {public_url!r}, not an https:// URL.",
                hint="Clients send tokens to this URL: serve it over TLS.",
                id="mcpserver.E017",
            )
        ]
    return []


@register(Tags.security)
def check_production_hardening(app_configs=None, **kwargs):
    """What Django's `check --deploy` only warns about, refused in production."""
    if not _production():
        return []
    errors = []
    for name, key in [("DJANGO_SECRET_KEY", settings.SECRET_KEY)] + [
        ("DJANGO_SECRET_KEY_FALLBACKS", fallback) for fallback in settings.SECRET_KEY_FALLBACKS
    ]:
        if not _strong_secret_key(key):
            errors.append(
                Error(
                    f"{name} holds a key that is too short or too simple.",
                    hint="Sessions, CSRF tokens and audit digests are signed with it: use "
                    f"{MIN_SECRET_KEY_LENGTH}+ random characters, e.g. the output of "
                    "python -c 'import secrets; print(secrets.token_urlsafe(50))'.",
                    id="mcpserver.E012",
                )
            )
    if any(host == "*" for host in settings.ALLOWED_HOSTS):
        errors.append(
            Error(
                "DJANGO_ALLOWED_HOSTS contains '*'.",
                hint="Name the hosts this server answers to: with any Host accepted, links "
                "and the MCP metadata can be built from a Host header an attacker chose.",
                id="mcpserver.E013",
            )
        )
    if not getattr(settings, "MCP_TLS_TERMINATED_BY_PROXY", False):
        if not settings.SECURE_HSTS_SECONDS:
            errors.append(
                Error(
                    "HSTS is off (SECURE_HSTS_SECONDS=0).",
                    hint="Leave SECURE_HSTS_SECONDS unset (a year), or, if the TLS proxy in "
                    "front sends Strict-Transport-Security itself, set "
                    "MCP_TLS_TERMINATED_BY_PROXY=true.",
                    id="mcpserver.E014",
                )
            )
        if not settings.SECURE_SSL_REDIRECT:
            errors.append(
                Error(
                    "The HTTPS redirect is off (SECURE_SSL_REDIRECT=false).",
                    hint="Leave SECURE_SSL_REDIRECT unset, or, if the TLS proxy in front "
                    "redirects plain HTTP itself, set MCP_TLS_TERMINATED_BY_PROXY=true.",
                    id="mcpserver.E015",
                )
            )
    return errors


def _strong_secret_key(key: str) -> bool:
    # Django's own test (django.core.checks.security.base), made an error here.
    return (
        len(key) >= MIN_SECRET_KEY_LENGTH
        and len(set(key)) >= MIN_SECRET_KEY_UNIQUE_CHARACTERS
        and not key.startswith("django-insecure-")
    )


@register(Tags.security)
def check_index_roots(app_configs=None, **kwargs):
    """An index root must not reach the data directory or the SQLite database. Such
    repositories are refused anyway (indexing.services.protected_paths); the warning
    tells the operator to move the secrets out of the way, rather than have developers
    find out one refused path at a time."""
    from indexing.services import protected_paths, protected_relation

    warnings = []
    data = [path for path in protected_paths() if path.kind in ("data", "database")]
    for raw_root in settings.MCP_INDEX_ROOTS:
        root = os.path.realpath(raw_root)
        for protected in data:
            relation = protected_relation(root, protected)
            if relation is None:
                continue
            relation = "contains" if relation == "is" else relation
            noun = "the data directory" if protected.kind == "data" else "the SQLite database"
            warnings.append(
                Warning(
                    f"The index root {root} {relation} {noun} ({protected.path}), which "
                    "holds the server's secret keys and database.",
                    hint="Repositories that reach it are refused, but keep it out of reach: "
                    "set MCP_DATA_DIR (and DATABASE_URL, for SQLite) to a folder outside "
                    "every index root, e.g. /var/lib/mcp-code-server, and move the files "
                    "there; or narrow MCP_INDEX_ROOTS.",
                    id="mcpserver.W003",
                )
            )
            break
    return warnings


@register()
def check_index_roots_exist(app_configs=None, **kwargs):
    """A root that is missing, not a folder or not readable would only be found out when a
    repository under it is refused (or a job fails): say so at start-up, with what to do."""
    warnings = []
    for raw_root in settings.MCP_INDEX_ROOTS:
        root = os.path.realpath(raw_root)
        shown = raw_root if root == raw_root else f"{raw_root} (resolved: {root})"
        if not os.path.exists(root):
            problem, fix = "does not exist", "Create the folder, or correct MCP_INDEX_ROOTS"
        elif not os.path.isdir(root):
            problem, fix = (
                "is not a directory",
                "List the folder that holds the repositories instead of this file",
            )
        elif not os.access(root, os.R_OK | os.X_OK):
            problem, fix = "cannot be read by this user", "Give this user read access to it"
        else:
            continue
        warnings.append(
            Warning(
                f"The index root {shown} {problem}: no repository under it can be indexed.",
                hint=f"{fix}. MCP_INDEX_ROOTS is a comma-separated list of the folders "
                "repositories may be indexed from (e.g. MCP_INDEX_ROOTS=$HOME/src); restart the "
                "server and its worker after a change.",
                id="mcpserver.W004",
            )
        )
    return warnings
