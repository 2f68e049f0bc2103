"""Settings that are not about safety (those are in test_checks.py)."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

REUSE = """
import django
django.setup()
from django.core.signals import request_finished, request_started
from django.db import connection
request_started.send(sender=None)
connection.ensure_connection()
first = connection.connection
request_finished.send(sender=None)
request_started.send(sender=None)
connection.ensure_connection()
print(connection.vendor, connection.connection is first)
"""


def test_the_embedded_sqlite_keeps_its_connection_between_requests(tmp_path):
    # Opening the file, its pragmas and the WAL checkpoint on close cost about 1 ms a request.
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DB_CONN_MAX_AGE")}
    env.update({"DJANGO_SETTINGS_MODULE": "mcpserver.settings", "MCP_DATA_DIR": str(tmp_path)})
    out = subprocess.run(
        [sys.executable, "-c", REUSE], env=env, cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["sqlite", "True"]
    env["DB_CONN_MAX_AGE"] = "0"
    out = subprocess.run(
        [sys.executable, "-c", REUSE], env=env, cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["sqlite", "False"]
