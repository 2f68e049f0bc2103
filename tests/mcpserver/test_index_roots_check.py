"""Index roots at start-up: a warning when one reaches the data directory, and the
operator's MCP_INDEX_EXCLUDED_PATHS read strictly.

The attack: MCP_INDEX_ROOTS=$HOME/src (the README's example) with the checkout under
~/src put the data directory, with `jwt_key_encryption_key`, within reach of a developer's
repository registration. Such paths are refused (tests/indexing/test_protected_paths.py);
the operator is also told at start-up, with what to do.
"""

from __future__ import annotations

import pytest
from django.test import override_settings

from mcpserver import checks
from tests.mcpserver.test_data_dir import run


def ids(messages):
    return sorted(message.id for message in messages)


def test_an_index_root_that_holds_the_data_directory_is_warned_about(tmp_path):
    home_src = tmp_path / "src"
    data = home_src / "mcp-code-server" / "data"
    with override_settings(MCP_INDEX_ROOTS=[str(home_src)], MCP_DATA_DIR=data):
        (warning,) = checks.check_index_roots()
    assert warning.id == "mcpserver.W003"
    assert "contains the data directory" in warning.msg
    assert "MCP_DATA_DIR" in warning.hint and "outside" in warning.hint


def test_an_index_root_inside_the_data_directory_is_warned_about(tmp_path):
    with override_settings(
        MCP_INDEX_ROOTS=[str(tmp_path / "data" / "repos")], MCP_DATA_DIR=tmp_path / "data"
    ):
        (warning,) = checks.check_index_roots()
    assert warning.id == "mcpserver.W003"
    assert "lies inside the data directory" in warning.msg


def test_an_index_root_that_holds_the_sqlite_database_is_warned_about(tmp_path, monkeypatch):
    from django.conf import settings

    sqlite = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "src" / "db.sqlite3")}
    monkeypatch.setitem(settings.DATABASES, "other", sqlite)  # the live connection untouched
    with override_settings(MCP_INDEX_ROOTS=[str(tmp_path / "src")], MCP_DATA_DIR=tmp_path / "data"):
        assert ids(checks.check_index_roots()) == ["mcpserver.W003"]


@pytest.mark.parametrize(
    "roots",
    [[], ["{tmp}/src"], ["{tmp}/data-other"]],  # none; beside it; a name that only starts alike
    ids=["no-roots", "beside", "prefix-sibling"],
)
def test_roots_apart_from_the_data_directory_pass(tmp_path, roots):
    roots = [root.format(tmp=tmp_path) for root in roots]
    with override_settings(MCP_INDEX_ROOTS=roots, MCP_DATA_DIR=tmp_path / "data"):
        assert checks.check_index_roots() == []


def test_excluded_paths_are_read_as_absolute_paths_or_refused(tmp_path):
    show = "import django; django.setup(); from django.conf import settings as s; "
    show += "print(s.MCP_INDEX_EXCLUDED_PATHS)"
    env = {"MCP_DATA_DIR": str(tmp_path), "MCP_INDEX_EXCLUDED_PATHS": "/etc/tls/key.pem, /srv/x"}
    assert run(["-c", show], env=env).stdout.strip() == "['/etc/tls/key.pem', '/srv/x']"
    env["MCP_INDEX_EXCLUDED_PATHS"] = "/etc/tls/key.pem, certs"
    refused = run(["-c", show], env=env, succeed=False)
    assert refused.returncode != 0
    assert "MCP_INDEX_EXCLUDED_PATHS must list absolute paths, not 'certs'." in refused.stderr
