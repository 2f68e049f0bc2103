"""The production profile refuses unsafe configurations, with clear messages."""

from pathlib import Path

import pytest
from django.test import override_settings

from mcpserver import checks
from tests.processes import run_python

ROOT = Path(__file__).resolve().parents[2]
GOOD_SECRET = "a-django-secret-key-of-fifty-characters-or-more-0123456789"
GOOD_JWT = "j" * 48
GOOD_KEK = "k" * 48


def production(**overrides):
    values = {
        "MCP_ENV": "production",
        "MCP_SECRET_KEY_SOURCE": "environment",
        "SECRET_KEY": GOOD_SECRET,
        "DEBUG": False,
        "ALLOWED_HOSTS": ["mcp.example.com"],
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "JWT_SECRET_KEY": "",
        "JWT_KEY_ENCRYPTION_KEY": GOOD_KEK,
        "JWT_ALGORITHM": "ES256",
        "MCP_PUBLIC_URL": "https://mcp.example.com",
        "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 31_536_000,
        "MCP_TLS_TERMINATED_BY_PROXY": False,
    }
    values.update(overrides)
    return override_settings(**values)


def ids(messages):
    return sorted(message.id for message in messages)


def test_a_good_production_configuration_passes():
    with production():
        assert ids(checks.check_secrets()) == []
        assert ids(checks.check_cors()) == []
        assert ids(checks.check_profile()) == []
        assert ids(checks.check_mcp_resource()) == []
        assert ids(checks.check_production_hardening()) == []


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        # The review's findings: each of these passed `manage.py check` in production.
        ({"SECRET_KEY": "x"}, ["mcpserver.E012"]),
        ({"SECRET_KEY": "a" * 80}, ["mcpserver.E012"]),  # long, but five characters at least
        ({"SECRET_KEY": "django-insecure-" + GOOD_SECRET}, ["mcpserver.E012"]),
        ({"SECRET_KEY_FALLBACKS": ["old"]}, ["mcpserver.E012"]),
        ({"ALLOWED_HOSTS": ["*"]}, ["mcpserver.E013"]),
        ({"ALLOWED_HOSTS": ["mcp.example.com", "*"]}, ["mcpserver.E013"]),
        ({"SECURE_HSTS_SECONDS": 0}, ["mcpserver.E014"]),
        ({"SECURE_SSL_REDIRECT": False}, ["mcpserver.E015"]),
        ({"SECURE_SSL_REDIRECT": False, "SECURE_HSTS_SECONDS": 0}, ["mcpserver.E014", "mcpserver.E015"]),
        # A proxy that terminates TLS, redirects and sends HSTS, said so in the settings.
        ({"SECURE_SSL_REDIRECT": False, "SECURE_HSTS_SECONDS": 0, "MCP_TLS_TERMINATED_BY_PROXY": True}, []),
        ({"ALLOWED_HOSTS": [".example.com"]}, []),  # a domain and its subdomains: fine
    ],
)
def test_production_hardening(overrides, expected):
    with production(**overrides):
        assert ids(checks.check_production_hardening()) == expected


@pytest.mark.parametrize(
    ("public_url", "expected"),
    [("", ["mcpserver.E016"]), ("http://mcp.example.com", ["mcpserver.E017"]),
     ("https://mcp.example.com", [])],
)  # fmt: skip
def test_production_needs_an_https_public_url(public_url, expected):
    with production(MCP_PUBLIC_URL=public_url):
        assert ids(checks.check_mcp_resource()) == expected


def test_development_is_not_held_to_production_rules():
    with production(MCP_ENV="development", SECRET_KEY="x", ALLOWED_HOSTS=["*"], MCP_PUBLIC_URL=""):
        assert ids(checks.check_production_hardening()) == []
        assert ids(checks.check_mcp_resource()) == []


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"MCP_SECRET_KEY_SOURCE": "missing"}, "mcpserver.E004"),
        ({"DEBUG": True}, "mcpserver.E007"),
        ({"JWT_SECRET_KEY": "short"}, "mcpserver.E005"),
        ({"JWT_SECRET_KEY": GOOD_SECRET}, "mcpserver.E003"),
        ({"JWT_KEY_ENCRYPTION_KEY": ""}, "mcpserver.E011"),
        ({"JWT_KEY_ENCRYPTION_KEY": "short"}, "mcpserver.E011"),
        ({"JWT_KEY_ENCRYPTION_KEY": GOOD_SECRET}, "mcpserver.E010"),
        ({"ALLOWED_HOSTS": []}, "mcpserver.E008"),
        ({"REDIS_URL": ""}, "mcpserver.W001"),
        ({"JWT_ALGORITHM": "none"}, "mcpserver.E002"),
        ({"JWT_ALGORITHM": "HS512"}, "mcpserver.E002"),
    ],
)
def test_each_unsafe_setting_is_refused(overrides, expected):
    with production(**overrides):
        assert expected in ids(checks.check_secrets())


def test_cors_allow_all_with_credentials_is_refused_everywhere():
    with override_settings(CORS_ALLOW_ALL_ORIGINS=True, CORS_ALLOW_CREDENTIALS=True):
        assert ids(checks.check_cors()) == ["mcpserver.E009"]
    with override_settings(CORS_ALLOW_ALL_ORIGINS=True, CORS_ALLOW_CREDENTIALS=False):
        assert ids(checks.check_cors()) == []


def test_unknown_profile_is_refused():
    with override_settings(MCP_ENV="prod"):
        assert ids(checks.check_profile()) == ["mcpserver.E001"]


def run(code: str, env: dict, tmp_path):
    return run_python(["-c", code], {"MCP_DATA_DIR": str(tmp_path), **env})


def test_production_without_secrets_refuses_to_start(tmp_path):
    """The WSGI entry point runs the checks: gunicorn would never serve a request."""
    result = run("import mcpserver.wsgi", {"MCP_ENV": "production"}, tmp_path)
    assert result.returncode != 0
    assert "refuses to start" in result.stderr
    assert "DJANGO_SECRET_KEY is not set" in result.stderr
    assert "JWT_KEY_ENCRYPTION_KEY is missing or shorter than 32 bytes" in result.stderr
    assert not any(tmp_path.iterdir()), "production must not write generated secrets"


def test_manage_py_refuses_too(tmp_path):
    result = run(
        "import runpy, sys; sys.argv = ['manage.py', 'check']; "
        "runpy.run_path('manage.py', run_name='__main__')",
        {"MCP_ENV": "production", "DJANGO_DEBUG": "true"},
        tmp_path,
    )
    assert result.returncode != 0
    assert "DEBUG is on in production" in result.stderr


def test_manage_py_check_refuses_the_reviewed_production_settings(tmp_path):
    """The review ran `manage.py check` with these and it passed."""
    result = run(
        "import runpy, sys; sys.argv = ['manage.py', 'check']; "
        "runpy.run_path('manage.py', run_name='__main__')",
        {
            "MCP_ENV": "production",
            "DJANGO_SECRET_KEY": "x",
            "JWT_KEY_ENCRYPTION_KEY": GOOD_KEK,
            "DJANGO_ALLOWED_HOSTS": "*",
            "SECURE_HSTS_SECONDS": "0",
            "SECURE_SSL_REDIRECT": "false",
            "REDIS_URL": "redis://127.0.0.1:6379/15",
        },
        tmp_path,
    )
    assert result.returncode != 0
    for expected in ("E012", "E013", "E014", "E015", "E016"):
        assert f"mcpserver.{expected}" in result.stderr, result.stderr


def test_the_wsgi_entry_point_shows_warnings_too(tmp_path):
    """gunicorn runs the checks through mcpserver.wsgi: a warning such as W003 (an index
    root holding the data directory) must reach its log, not only runserver's."""
    result = run("import mcpserver.wsgi", {"MCP_INDEX_ROOTS": str(tmp_path)}, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "mcpserver.W003" in result.stderr


def test_production_with_good_settings_starts_with_https_settings(tmp_path):
    code = (
        "import mcpserver.wsgi; from django.conf import settings as s; "
        "print(s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, s.SESSION_COOKIE_SECURE, "
        "s.CSRF_COOKIE_SECURE, s.SECURE_PROXY_SSL_HEADER, s.DEBUG)"
    )
    env = {
        "MCP_ENV": "production",
        "DJANGO_SECRET_KEY": GOOD_SECRET,
        "JWT_KEY_ENCRYPTION_KEY": GOOD_KEK,
        "DJANGO_ALLOWED_HOSTS": "mcp.example.com",
        "MCP_PUBLIC_URL": "https://mcp.example.com",
        "REDIS_URL": "redis://127.0.0.1:6379/15",
    }
    result = run(code, env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "True",
        "31536000",
        "True",
        "True",
        "('HTTP_X_FORWARDED_PROTO',",
        "'https')",
        "False",
    ]


def test_embedded_default_generates_secrets_once(tmp_path):
    code = (
        "from django.conf import settings as s; import django; django.setup(); "
        "print(s.SECRET_KEY == open(s.MCP_DATA_DIR / 'secret_key').read().strip(), "
        "s.JWT_KEY_ENCRYPTION_KEY not in ('', s.SECRET_KEY), s.DEBUG, "
        "s.DATABASES['default']['ENGINE'], s.CACHES['default']['BACKEND'])"
    )
    env = {"DJANGO_SETTINGS_MODULE": "mcpserver.settings"}
    first = run(code, env, tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout.split() == [
        "True",
        "True",
        "False",
        "django.db.backends.sqlite3",
        "mcpserver.cache.SecurityStateDatabaseCache",
    ]
    secret = (tmp_path / "secret_key").read_text()
    assert oct((tmp_path / "secret_key").stat().st_mode & 0o777) == "0o600"
    assert run(code, env, tmp_path).returncode == 0
    assert (tmp_path / "secret_key").read_text() == secret


def test_database_and_redis_urls_switch_to_production_parts(tmp_path):
    code = (
        "from django.conf import settings as s; import django; django.setup(); "
        "print(s.DATABASES['default']['ENGINE'], s.DATABASES['default']['NAME'], "
        "s.CACHES['default']['BACKEND'])"
    )
    env = {
        "DJANGO_SETTINGS_MODULE": "mcpserver.settings",
        "DATABASE_URL": "postgres://u:p@db.internal:5432/mcp",
        "REDIS_URL": "redis://cache.internal:6379/0",
    }
    result = run(code, env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "django.db.backends.postgresql",
        "mcp",
        "django_redis.cache.RedisCache",
    ]


def test_a_typo_in_a_boolean_stops_with_a_message(tmp_path):
    result = run(
        "import django; django.setup()",
        {"DJANGO_SETTINGS_MODULE": "mcpserver.settings", "DJANGO_DEBUG": "yes please"},
        tmp_path,
    )
    assert result.returncode != 0
    assert "DJANGO_DEBUG must be true or false" in result.stderr


def test_dotenv_file_is_honoured_and_environment_wins(tmp_path, monkeypatch):
    from mcpserver import settings as settings_module

    assert settings_module.load_dotenv is not None
    dotenv = ROOT / ".env"
    if dotenv.exists():
        pytest.skip("a developer's .env exists; not touching it")
    dotenv.write_text("JWT_ISSUER=from-dotenv\nJWT_AUDIENCE=from-dotenv\n")
    try:
        code = (
            "from django.conf import settings as s; import django; django.setup(); "
            "print(s.JWT_ISSUER, s.JWT_AUDIENCE)"
        )
        env = {"DJANGO_SETTINGS_MODULE": "mcpserver.settings", "JWT_AUDIENCE": "from-env"}
        result = run(code, env, tmp_path)
    finally:
        dotenv.unlink()
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["from-dotenv", "from-env"]


def test_a_copied_env_example_changes_nothing(tmp_path):
    """Every empty line of .env.example means "use the default"."""
    example = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            example[name] = value
    code = (
        "from django.conf import settings as s; import django; django.setup(); "
        "print(s.ALLOWED_HOSTS, s.SECURE_SSL_REDIRECT, s.SIMPLE_JWT['ACCESS_TOKEN_LIFETIME'])"
    )
    env = {"DJANGO_SETTINGS_MODULE": "mcpserver.settings", **example}
    result = run(code, env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['localhost', '127.0.0.1', '[::1]'] False 0:30:00"


def test_env_example_documents_every_variable_settings_reads():
    import re

    read = set(
        re.findall(
            r'env_(?:str|bool|int|list)\(\s*"([A-Z_]+)"',
            (ROOT / "mcpserver/settings.py").read_text(),
        )
    )
    documented = set(re.findall(r"^#? ?([A-Z_]+)=", (ROOT / ".env.example").read_text(), re.M))
    assert read - documented == set()
