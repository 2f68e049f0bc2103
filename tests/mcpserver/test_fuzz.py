"""Schema-driven fuzzing: schemathesis generates requests from the server's own OpenAPI
schema and sends them to the real server (gunicorn on 127.0.0.1), with a valid token of
each role and with none. No answer may be a 5xx, and every answer must match the
schema (status code, content type, body).

The server runs on its own database, made for this module (a fresh SQLite file, or a
`<test database>_fuzz` PostgreSQL database), so the generated deletes and logins cannot
disturb other tests. The number of examples is bounded (FUZZ_EXAMPLES, default 10 per
operation and role) to keep CI inside its time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from urllib.parse import quote

import pytest
import requests
import schemathesis
from django.db import connection
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.indexing.conftest import write_repo
from tests.processes import ROOT, process_env, start_gunicorn

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "10"))
ROLES = ["anonymous", "viewer", "developer", "admin"]

SETUP = r"""
import json, sys, django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
call_command("createcachetable", verbosity=0)
from accounts import services
from indexing.indexer import index_repository
from indexing.models import Repository
tokens = {}
for role in ("viewer", "developer", "admin"):
    user = services.user_create(username=f"fuzz-{role}", password=None, role_name=role)
    issued = services.session_start(user=user, requested_scopes=None, client_ip=None)
    tokens[role] = issued.as_response()["access_token"]
index_repository(Repository.objects.create(name="fuzzed", path=sys.argv[1]))
print(json.dumps(tokens))
"""


def _own_database(tmp_path) -> tuple[str, callable]:
    """A database for the fuzzed server alone, and how to drop it."""
    if connection.vendor != "postgresql":
        return f"sqlite:///{tmp_path / 'fuzz.sqlite3'}", lambda: None
    import psycopg

    settings_dict = connection.settings_dict
    name = f"{settings_dict['NAME']}_fuzz"
    user, password = (quote(settings_dict[k] or "", safe="") for k in ("USER", "PASSWORD"))
    base = f"postgres://{user}:{password}@{settings_dict['HOST']}:{settings_dict['PORT']}"

    def run(sql: str) -> None:
        with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
            admin.execute(sql)

    run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    run(f'CREATE DATABASE "{name}"')
    return f"{base}/{name}", lambda: run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def fuzzed_server(tmp_path_factory, django_db_setup):
    tmp_path = tmp_path_factory.mktemp("fuzz")
    roots = tmp_path / "roots"
    repo = write_repo(roots / "fuzzed", {"app.py": "def handler(request):\n    return 1\n"})
    database_url, drop = _own_database(tmp_path)
    env = process_env(
        DATABASE_URL=database_url,
        MCP_DATA_DIR=str(tmp_path),
        MCP_INDEX_ROOTS=str(roots),
        CACHE_KEY_PREFIX=f"fuzz-{os.getpid()}",
        # Generated logins would lock accounts and addresses after five tries.
        LOGIN_FAILURE_LIMIT="100000",
        API_KEY_FAILURE_LIMIT="100000",
    )
    setup = subprocess.run(
        [sys.executable, "-c", SETUP, str(repo)],
        env={**env, "DJANGO_SETTINGS_MODULE": "mcpserver.settings"},
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    tokens = json.loads(setup.stdout.strip().splitlines()[-1])
    try:
        base, server = start_gunicorn(tmp_path, env)
    except BaseException:
        drop()
        raise
    try:
        for role, token in tokens.items():  # or every generated request would just be a 401
            me = requests.get(
                f"{base}/auth/me", headers={"Authorization": f"Bearer {token}"}, timeout=10
            )
            assert me.status_code == 200 and me.json()["role"] == role, me.text
        yield base, tokens, tmp_path / "server.log"
    finally:
        server.kill()
        server.wait(timeout=30)
        drop()


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def test_no_generated_request_breaks_the_api(fuzzed_server):
    base, tokens, log = fuzzed_server
    loaded = schemathesis.openapi.from_url(f"{base}/api/schema/?format=json")
    # Logging out would revoke the very tokens the rest of the run uses.
    loaded = loaded.exclude(path_regex=r"^/auth/logout")
    operations = [result.ok() for result in loaded.get_all_operations()]
    assert len(operations) >= 15, [op.label for op in operations]
    failures = []
    with requests.Session() as session:
        for operation in operations:

            @given(case=operation.as_strategy())
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                derandomize=True,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
                database=None,
            )
            def fuzz(case):
                for role in ROLES:  # every generated request, as each role and as nobody
                    headers = {"Authorization": f"Bearer {tokens[role]}"} if role in tokens else {}
                    try:
                        case.call_and_validate(
                            base_url=base, session=session, headers=headers, checks=CHECKS
                        )
                    except BaseException as exc:
                        exc.add_note(f"sent as: {role}")
                        raise

            try:
                fuzz()
            except BaseException as exc:  # collected: one run shows every broken operation
                if isinstance(exc, KeyboardInterrupt):
                    raise
                failures.append(f"{operation.label}: {str(exc)[:1500]}")
    assert not failures, "\n\n".join(failures) + "\n\nserver log:\n" + log.read_text()[-3000:]
