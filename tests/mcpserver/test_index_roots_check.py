"""Index roots at start-up: a warning when one reaches the data directory, and the
operator's MCP_INDEX_EXCLUDED_PATHS read strictly.

The attack: MCP_INDEX_ROOTS=$HOME/src (the README's example) with the checkout under
~/src put the data directory, with `jwt_key_encryption_key`, within reach of a developer's
repository registration. Such paths are refused (tests/indexing/test_protected_paths.py);
the operator is also told at start-up, with what to do.
"""

from __future__ import annotations

import os

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


# An index root that cannot hold repositories: found out at start-up (mcpserver.W004), not
# when the first repository under it is refused.


def test_a_missing_index_root_is_warned_about_with_what_to_do(tmp_path):
    missing = tmp_path / "no-such-folder"
    with override_settings(MCP_INDEX_ROOTS=[str(missing)], MCP_DATA_DIR=tmp_path / "data"):
        (warning,) = checks.check_index_roots_exist()
    assert warning.id == "mcpserver.W004"
    assert f"The index root {missing} does not exist" in warning.msg
    assert "Create the folder" in warning.hint and "MCP_INDEX_ROOTS" in warning.hint


def test_an_index_root_that_is_a_file_is_warned_about(tmp_path):
    (tmp_path / "src").write_text("not a folder")
    with override_settings(MCP_INDEX_ROOTS=[str(tmp_path / "src")], MCP_DATA_DIR=tmp_path / "d"):
        (warning,) = checks.check_index_roots_exist()
    assert warning.id == "mcpserver.W004"
    assert "is not a directory" in warning.msg


def test_a_dangling_symlink_root_names_both_paths(tmp_path):
    (tmp_path / "link").symlink_to(tmp_path / "gone")
    with override_settings(MCP_INDEX_ROOTS=[str(tmp_path / "link")], MCP_DATA_DIR=tmp_path / "d"):
        (warning,) = checks.check_index_roots_exist()
    assert f"{tmp_path / 'link'} (resolved: {tmp_path / 'gone'}) does not exist" in warning.msg


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every folder")
def test_an_unreadable_index_root_is_warned_about(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o000)
    try:
        with override_settings(MCP_INDEX_ROOTS=[str(locked)], MCP_DATA_DIR=tmp_path / "d"):
            (warning,) = checks.check_index_roots_exist()
    finally:
        locked.chmod(0o700)
    assert "cannot be read by this user" in warning.msg


def test_existing_index_roots_pass(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "work").mkdir()
    (tmp_path / "via-link").symlink_to(tmp_path / "work")
    roots = [str(tmp_path / name) for name in ("src", "work", "via-link")]
    with override_settings(MCP_INDEX_ROOTS=roots, MCP_DATA_DIR=tmp_path / "data"):
        assert checks.check_index_roots_exist() == []
    with override_settings(MCP_INDEX_ROOTS=[], MCP_DATA_DIR=tmp_path / "data"):
        assert checks.check_index_roots_exist() == []


def test_the_warning_is_shown_at_start_up(tmp_path):
    """Where an operator looks: `manage.py check` (and every command, quickstart
    included), and the log of a WSGI server (gunicorn), through mcpserver.startup."""
    env = {"MCP_DATA_DIR": str(tmp_path / "data"), "MCP_INDEX_ROOTS": str(tmp_path / "nope")}
    command = run(["manage.py", "check"], env=env)
    assert "mcpserver.W004" in command.stderr
    assert f"The index root {tmp_path / 'nope'} does not exist" in command.stderr
    wsgi = run(["-c", "import mcpserver.wsgi"], env=env)
    assert "mcpserver.W004" in wsgi.stderr
