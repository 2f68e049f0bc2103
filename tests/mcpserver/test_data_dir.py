"""The data directory is the server's alone: 0700, its secrets and SQLite files 0600.

The attack: the embedded default created the database 0644 in a 0755 folder, so every
local user could read it (and, with the key-encryption key beside it, the signing keys).
"""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

from tests.processes import run_python

ROOT = Path(__file__).resolve().parents[2]

# Modes of the data directory and of every file the server keeps in it, as the child sees
# them while its database connection is still open (so that -wal and -shm exist).
SHOW_MODES = (
    "import os, stat, django; django.setup(); "
    "from django.conf import settings; from django.db import connection; "
    "cursor = connection.cursor(); "
    "cursor.execute('CREATE TABLE IF NOT EXISTS probe (x)'); "
    "cursor.execute('INSERT INTO probe VALUES (1)'); "
    "name = str(connection.settings_dict['NAME']); "
    "paths = [str(settings.MCP_DATA_DIR)] + sorted("
    "    os.path.join(settings.MCP_DATA_DIR, f) for f in os.listdir(settings.MCP_DATA_DIR)) "
    "    + [name + s for s in ('', '-wal', '-shm') if os.path.exists(name + s)]; "
    "[print(p, oct(stat.S_IMODE(os.stat(p).st_mode))) for p in dict.fromkeys(paths)]"
)


def run(args: list[str], *, env: dict, umask: int = 0o022, succeed: bool = True):
    # The usual umask 022: without the fix, files would be world-readable.
    result = run_python(args, {"DJANGO_SETTINGS_MODULE": "mcpserver.settings", **env}, umask=umask)
    if succeed:
        assert result.returncode == 0, result.stderr
    return result


def modes(output: str) -> dict[str, str]:
    return dict(line.rsplit(" ", 1) for line in output.splitlines() if line.startswith("/"))


def mode(path: Path) -> str:
    return oct(stat.S_IMODE(path.stat().st_mode))


def test_a_fresh_data_directory_is_private_from_the_first_command(tmp_path):
    data = tmp_path / "fresh" / "data"
    run(["manage.py", "check"], env={"MCP_DATA_DIR": str(data)})
    assert mode(data) == "0o700"
    for name in ("secret_key", "jwt_key_encryption_key", "db.sqlite3"):
        assert mode(data / name) == "0o600", name


def test_the_data_directory_is_private_when_no_secret_is_generated_into_it(tmp_path):
    data = tmp_path / "fresh" / "data"
    secrets = {
        "DJANGO_SECRET_KEY": "a-django-secret-key-of-fifty-characters-or-more-0123456789",
        "JWT_KEY_ENCRYPTION_KEY": "k" * 48,
    }
    run(["manage.py", "check"], env={"MCP_DATA_DIR": str(data), **secrets})
    assert mode(data) == "0o700"
    assert mode(data / "db.sqlite3") == "0o600"
    assert not (data / "secret_key").exists()


def test_the_database_and_its_wal_and_shared_memory_are_private(tmp_path):
    data = tmp_path / "data"
    seen = modes(run(["-c", SHOW_MODES], env={"MCP_DATA_DIR": str(data)}).stdout)
    assert seen.pop(str(data)) == "0o700"
    assert {Path(path).name for path in seen} >= {
        "secret_key",
        "jwt_key_encryption_key",
        "db.sqlite3",
        "db.sqlite3-wal",
        "db.sqlite3-shm",
    }
    assert set(seen.values()) == {"0o600"}, seen


def test_an_existing_data_directory_left_open_is_tightened_at_start(tmp_path):
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    os.chmod(data, 0o755)
    (data / "secret_key").write_text("an-old-secret\n")
    os.chmod(data / "secret_key", 0o644)
    old = sqlite3.connect(data / "db.sqlite3")  # made by an older version: 0644
    old.execute("CREATE TABLE t (x)")
    old.commit()
    old.close()
    os.chmod(data / "db.sqlite3", 0o644)
    seen = modes(run(["-c", SHOW_MODES], env={"MCP_DATA_DIR": str(data)}).stdout)
    assert seen.pop(str(data)) == "0o700"
    assert set(seen.values()) == {"0o600"}, seen
    assert (data / "secret_key").read_text() == "an-old-secret\n"  # kept, not replaced


def test_a_sqlite_database_elsewhere_is_private_too(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    database = elsewhere / "mcp.sqlite3"
    env = {"MCP_DATA_DIR": str(tmp_path / "data"), "DATABASE_URL": f"sqlite:///{database}"}
    seen = modes(run(["-c", SHOW_MODES], env=env).stdout)
    assert seen[str(database)] == "0o600"
    assert seen[f"{database}-wal"] == "0o600"
    assert seen[f"{database}-shm"] == "0o600"


def test_a_shared_folder_that_is_not_ours_is_left_alone(tmp_path):
    from mcpserver.datadir import private_dir

    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)  # like /tmp
    private_dir(shared)
    assert mode(shared) == "0o1777"
    private_dir(tmp_path / "new" / "data")
    assert mode(tmp_path / "new" / "data") == "0o700"
