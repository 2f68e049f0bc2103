"""The data directory and the SQLite database: readable by the server's user only.

The embedded default keeps `secret_key`, `jwt_key_encryption_key` and `db.sqlite3` in
MCP_DATA_DIR. The folder is made 0700 and its files 0600, so that no other local user
can read a key or a copy of the database. SQLite creates a new database 0644 (less the
umask) and gives its -wal and -shm files the database file's mode, so the file is made
0600 before SQLite first opens it (`sqlite_database_precreate`, from the app's ready())
and tightened again whenever a connection opens (`sqlite_files_tighten`, for a database
made some other way or by an older version).

Nothing here imports Django settings at import time: settings.py uses `private_dir`.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path
from urllib.parse import urlsplit

logger = logging.getLogger(__name__)

DIR_MODE = 0o700
FILE_MODE = 0o600
SQLITE_SUFFIXES = ("", "-wal", "-shm", "-journal")


def _ours(info: os.stat_result) -> bool:
    return info.st_uid == os.geteuid()


def private_dir(path: Path) -> None:
    """Create `path` 0700 (its parents with the usual mode), or tighten it to 0700 if it
    exists and is ours: owned by this user and not a shared sticky folder such as /tmp."""
    try:
        path.mkdir(mode=DIR_MODE, parents=True)
        return
    except FileExistsError:
        pass
    info = path.stat()
    if (
        stat.S_ISDIR(info.st_mode)
        and _ours(info)
        and not info.st_mode & stat.S_ISVTX
        and stat.S_IMODE(info.st_mode) & 0o077
    ):
        os.chmod(path, DIR_MODE)


def private_file(path: Path | str) -> None:
    """Make an existing file of ours 0600 (not following a symlink); leave anything else."""
    try:
        info = os.lstat(path)
        if stat.S_ISREG(info.st_mode) and _ours(info) and stat.S_IMODE(info.st_mode) & 0o077:
            os.chmod(path, FILE_MODE)
    except FileNotFoundError:
        pass
    except OSError as exc:
        logger.warning("could not make %s private: %s", path, exc.strerror)


def sqlite_file(name) -> str:
    """The file of a SQLite database NAME; empty for an in-memory database."""
    name = os.fspath(name or "")
    if name.startswith("file:"):  # a URI (OPTIONS uri=True)
        parts = urlsplit(name)
        if "mode=memory" in parts.query:
            return ""
        name = parts.path
    return "" if not name or name == ":memory:" else name


def sqlite_database_precreate(name) -> None:
    """Create the database file empty and 0600 if it does not exist yet (SQLite takes an
    empty file for a new database), so that it is never readable by others, not even
    for the moment between SQLite creating it and a connection tightening it."""
    path = sqlite_file(name)
    if not path or not os.path.isdir(os.path.dirname(path) or "."):
        return
    try:
        fd = os.open(
            path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), FILE_MODE
        )
    except OSError:
        return  # a symlink, a read-only folder: SQLite will say what is wrong
    os.close(fd)
    private_file(path)


def sqlite_files_tighten(sender, connection, **kwargs) -> None:
    """connection_created receiver: the database file, its WAL and shared memory 0600."""
    if connection.vendor != "sqlite":
        return
    path = sqlite_file(connection.settings_dict.get("NAME"))
    if path:
        for suffix in SQLITE_SUFFIXES:
            private_file(path + suffix)
