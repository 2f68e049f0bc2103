from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.db import transaction
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult

SAMPLES = {
    "app/models.py": "class Invoice:\n    def total(self):\n        return 42\n\n\ndef helper():\n    return Invoice()\n",
    "app/views.js": "class Panel { render() { return 1; } }\nfunction boot() {}\n",
    "web/types.ts": "interface Shape { area(): number }\nenum Color { Red }\n",
    "cmd/main.go": "package main\n\ntype Server struct{}\n\nfunc (s Server) Run() {}\n\nfunc main() {}\n",
    "core/lib.rs": "pub struct Parser;\nimpl Parser { pub fn parse(&self) {} }\nfn main() {}\n",
    "java/App.java": "public class App { public App() {} void start() {} }\n",
    "native/util.c": "struct point { int x; };\nint add(int a, int b) { return a + b; }\n",
    "native/engine.cpp": "namespace eng { class Motor { void spin() {} }; }\nint run() { return 0; }\n",
    "README.md": "# Sample\nsearchable prose\n",
    "docs/notes.txt": "plain text is indexed for text search\n",
}


@pytest.fixture
def roots(tmp_path, settings) -> Path:
    root = tmp_path / "roots"
    root.mkdir()
    settings.MCP_INDEX_ROOTS = [str(root)]
    return root


def write_repo(base: Path, files: dict[str, str | bytes]) -> Path:
    for relative, content in files.items():
        path = base / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return base


@pytest.fixture
def sample_repo(roots) -> Path:
    return write_repo(roots / "sample", SAMPLES)


@pytest.fixture(autouse=True)
def _on_commit_runs_at_once(monkeypatch):
    """Tests run inside a transaction that never commits; the job queue is
    written on commit. Run those callbacks at once, as autocommit would."""
    monkeypatch.setattr(transaction, "on_commit", lambda func, using=None, robust=False: func())


def run_queued_jobs() -> int:
    """What the README's worker (`manage.py db_worker`) does, here and now: claim
    every ready task of the django-tasks database backend and run it, with the
    worker's own code. (The worker itself closes database connections between
    tasks, which a test transaction cannot survive.)"""
    ran = 0
    while (result := DBTaskResult.objects.ready().first()) is not None:
        result.claim("test-worker")
        Worker.run_task(SimpleNamespace(running_task=False, _run_tasks=0), result)
        ran += 1
    return ran


def touch_later(path: Path, text: str) -> None:
    """Change a file so that its mtime surely moves."""
    path.write_text(text)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))


# The attack on walks: between listing a folder's parent and entering it, someone with write
# access to the repository replaces the folder by a symlink to ~/.ssh. The walk must never
# enter it, and no name from outside the repository may show up anywhere (candidates,
# skipped entries, job problems), since viewers read those.

OUTSIDE_NAMES = ("id_rsa", "credentials.json")


@pytest.fixture
def outside(tmp_path):
    """A folder outside the repository, holding what an attacker wants named or read."""
    return write_repo(
        tmp_path / "home-ssh",
        {
            "id_rsa": "-----BEGIN OPENSSH PRIVATE KEY-----\n",
            "credentials.json": '{"token": "s3cret"}\n',
            "huge.bin": "x" * 5000,  # would be "skipped: larger than..." under its name
        },
    )


@pytest.fixture
def swap_when_entered(monkeypatch):
    """Replace `folder` by a symlink to `target` at the moment the walk is about to open or
    list it: after its parent was listed, before it is entered. Deterministic, and blind to
    how the walker enters a folder (a path to scandir, or a name and a parent descriptor)."""

    def arm(folder, target, moved_to=None):
        real_open, real_scandir = os.open, os.scandir
        moved_to = moved_to or folder.with_name(folder.name + "-moved-away")
        swapped = []

        def swap_if_entering(path, dir_fd):
            if swapped or isinstance(path, int):
                return
            name = os.fsdecode(path)
            if name == str(folder) or (dir_fd is not None and name == folder.name):
                swapped.append(True)
                folder.rename(moved_to)
                folder.symlink_to(target)

        def open_(path, flags, mode=0o777, *, dir_fd=None):
            swap_if_entering(path, dir_fd)
            return real_open(path, flags, mode, dir_fd=dir_fd)

        def scandir(path="."):
            swap_if_entering(path, None)
            return real_scandir(path)

        monkeypatch.setattr(os, "open", open_)
        monkeypatch.setattr(os, "scandir", scandir)
        return swapped

    return arm
