"""Walking a repository: what to index, what to skip and why.

Honours .gitignore files at every level (pathspec's git semantics, each file
relative to its own folder; the deepest match decides), skips
version-control, vendor and build folders, and leaves binary and oversized
files out. Symlinks are never followed: a symlinked folder is not entered
and a symlinked file is left out (its target, if it lies in the repository,
is indexed under its own path). Files are opened without following links
and checked to be the very file the walk saw (see `read_file`), so swapping
a file for a symlink between the walk and the read cannot smuggle in
content from outside the repository.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

import pathspec

SKIP_DIRS = frozenset(
    {
        ".git", ".hg", ".svn", ".bzr",
        "node_modules", "bower_components", "vendor", "third_party",
        "__pycache__", ".venv", "venv", ".tox", ".nox", ".mypy_cache", ".pytest_cache",
        ".ruff_cache", "site-packages", ".eggs",
        "dist", "build", "target", "out", ".next", ".nuxt", ".gradle", ".idea", ".cache",
    }
)  # fmt: skip
MAX_PATH_LENGTH = 1024
MAX_GITIGNORE_BYTES = 64 * 1024
OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)


class WalkError(Exception):
    """The repository itself cannot be walked (gone, unreadable, or now a symlink)."""


@dataclass(frozen=True)
class Candidate:
    path: str  # relative, with "/"
    absolute: str
    size: int
    mtime_ns: int
    ctime_ns: int
    inode: int
    device: int


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str


def _open_regular(path: str, *, expect: os.stat_result | None = None) -> int | None:
    """Open a regular file without following a symlink; None if it is anything else.

    With `expect`, the file must still be the one the walk saw (same device and
    inode), and its real path must still lie where the walk found it.
    """
    fd = os.open(path, OPEN_FLAGS)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _Refused("not a regular file")
        if expect is not None and (info.st_dev, info.st_ino) != (expect.st_dev, expect.st_ino):
            raise _Refused("changed while being indexed")
        # What the kernel opened, by name: a parent folder swapped for a symlink
        # after the walk shows up here (O_NOFOLLOW guards only the last part).
        if expect is not None and os.readlink(f"/proc/self/fd/{fd}") != path:
            raise _Refused("moved behind a symlink while being indexed")
        return fd
    except BaseException:
        os.close(fd)
        raise


class _Refused(OSError):
    pass


def read_file(candidate: Candidate, limit: int) -> bytes:
    """The bytes of a walked file, at most `limit` + 1; OSError if it is not that file any more."""
    expect = os.stat_result((0, candidate.inode, candidate.device, 0, 0, 0, 0, 0, 0, 0))
    fd = _open_regular(candidate.absolute, expect=expect)
    with os.fdopen(fd, "rb") as handle:
        return handle.read(limit + 1)


def _load_gitignore(path: str) -> pathspec.PathSpec | None:
    try:
        fd = _open_regular(path)
    except OSError:
        return None  # a fifo, a symlink, a device: not a .gitignore we read
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(MAX_GITIGNORE_BYTES)
    return pathspec.GitIgnoreSpec.from_lines(data.decode("utf-8", "replace").splitlines())


def walk(root: str, *, max_bytes: int) -> tuple[list[Candidate], list[Skipped]]:
    """Files to index under `root` (already resolved), and the ones left out on purpose.

    Raises WalkError if the root itself is missing, unreadable or not a real folder:
    an empty walk must never be mistaken for "every file was deleted".
    """
    if os.path.realpath(root) != root or not os.path.isdir(root):
        raise WalkError("The repository folder is missing, or is no longer a real folder.")
    candidates: list[Candidate] = []
    skipped: list[Skipped] = []
    ignores: dict[str, pathspec.PathSpec] = {}

    def ignored(rel: str, is_dir: bool) -> bool:
        # As git does: the deepest .gitignore with a matching pattern decides,
        # so a folder's "!keep.log" overrides its parent's "*.log".
        parts = rel.split("/")
        for depth in range(len(parts) - 1, -1, -1):
            spec = ignores.get("/".join(parts[:depth]))
            if spec is not None:
                below = "/".join(parts[depth:]) + ("/" if is_dir else "")
                decision = spec.check_file(below).include
                if decision is not None:
                    return decision
        return False

    pending = [""]
    while pending:
        rel_dir = pending.pop()
        directory = os.path.join(root, rel_dir) if rel_dir else root
        try:
            with os.scandir(directory) as scan:
                entries = sorted(scan, key=lambda entry: entry.name)
        except OSError as exc:
            if not rel_dir:
                raise WalkError(f"The repository folder cannot be read: {exc.strerror}.") from None
            skipped.append(Skipped(rel_dir, "unreadable folder"))
            continue
        if any(entry.name == ".gitignore" for entry in entries):
            spec = _load_gitignore(os.path.join(directory, ".gitignore"))
            if spec is not None:
                ignores[rel_dir] = spec
        subdirs = []
        for entry in entries:
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            try:
                rel.encode("utf-8")
            except UnicodeEncodeError:
                skipped.append(
                    Skipped(rel.encode("utf-8", "replace").decode(), "name is not UTF-8")
                )
                continue
            try:
                if entry.is_symlink():
                    if not ignored(rel, is_dir=False):
                        skipped.append(Skipped(rel, "symlink (not followed)"))
                    continue
                if entry.is_dir(follow_symlinks=False):
                    if entry.name not in SKIP_DIRS and not ignored(rel, is_dir=True):
                        subdirs.append(rel)
                    continue
                if not entry.is_file(follow_symlinks=False) or ignored(rel, is_dir=False):
                    continue  # sockets, fifos, devices; ignored files
                info = entry.stat(follow_symlinks=False)
            except OSError:
                skipped.append(Skipped(rel, "unreadable"))
                continue
            if len(rel) > MAX_PATH_LENGTH:
                skipped.append(Skipped(rel[:200] + "…", "path too long"))
                continue
            if info.st_size > max_bytes:
                skipped.append(Skipped(rel, f"larger than {max_bytes} bytes"))
                continue
            candidates.append(
                Candidate(
                    rel,
                    entry.path,
                    info.st_size,
                    info.st_mtime_ns,
                    info.st_ctime_ns,
                    info.st_ino,
                    info.st_dev,
                )
            )
        pending.extend(reversed(subdirs))
    return candidates, skipped


def looks_binary(data: bytes) -> bool:
    # Anywhere in the file: PostgreSQL cannot store a NUL in text.
    return b"\x00" in data
