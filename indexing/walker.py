"""Walking a repository: what to index, what to skip and why.

Honours .gitignore files at every level (pathspec's git semantics, each file
relative to its own folder; the deepest match decides), skips
version-control, vendor and build folders, and leaves binary and oversized
files out. Symlinks are never followed: a symlinked folder is not entered
and a symlinked file is left out (its target, if it lies in the repository,
is indexed under its own path).

The walk goes through open directory descriptors, never through path names:
the root is opened once (O_DIRECTORY|O_NOFOLLOW, and checked to be the very
folder named), and each subfolder is opened by name relative to its parent's
descriptor with O_NOFOLLOW, then listed through that descriptor. A folder
swapped for a symlink between listing its parent and entering it is
therefore never entered (the open fails, and it is skipped under its
in-repository path), so nothing outside the repository is listed, and no name
from outside is ever reported. Reading a file later (`read_file`) opens it
the same way, component by component from the root, and checks it is the
very file the walk saw.
"""

from __future__ import annotations

import errno
import os
import stat
import unicodedata
from collections.abc import Iterator
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
CLOEXEC = getattr(os, "O_CLOEXEC", 0)
OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | CLOEXEC
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | CLOEXEC
# Why a folder listed in its parent could not be entered; the reason never names
# anything but the folder's path inside the repository.
REPLACED = "folder replaced while being walked (not entered)"
ENTER_FAILURES = {
    errno.ELOOP: REPLACED,  # now a symlink: O_NOFOLLOW refused it
    errno.ENOTDIR: REPLACED,  # now a file or something else
    errno.ENOENT: "folder removed while being walked",
}


class WalkError(Exception):
    """The repository itself cannot be walked (gone, unreadable, or now a symlink)."""


@dataclass(frozen=True)
class Candidate:
    path: str  # relative, with "/", in Unicode NFC: the file's name in the index
    absolute: str
    size: int
    mtime_ns: int
    ctime_ns: int
    inode: int
    device: int
    root: str  # the repository folder the walk started from
    disk_path: str = ""  # the relative path as the file system spells it, when not NFC

    @property
    def on_disk(self) -> str:
        return self.disk_path or self.path


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str


class _Refused(OSError):
    pass


def _open_root(root: str) -> int:
    """A descriptor of the repository folder itself: not a symlink, and (where /proc
    says) the folder at exactly that path, so a parent swapped for a link is refused."""
    fd = os.open(root, DIR_FLAGS)
    try:
        opened = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return fd  # no /proc: the realpath checks before the walk and the job stand
    if opened != root:
        os.close(fd)
        raise _Refused("the repository folder moved behind a symlink")
    return fd


def _open_regular(
    name: str, *, dir_fd: int | None = None, expect: os.stat_result | None = None
) -> int:
    """Open a regular file without following a symlink; refused if it is anything else.

    With `expect`, the file must still be the one the walk saw (same device and inode).
    """
    fd = os.open(name, OPEN_FLAGS, dir_fd=dir_fd)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _Refused("not a regular file")
        if expect is not None and (info.st_dev, info.st_ino) != (expect.st_dev, expect.st_ino):
            raise _Refused("changed while being indexed")
        return fd
    except BaseException:
        os.close(fd)
        raise


def read_file(candidate: Candidate, limit: int) -> bytes:
    """The bytes of a walked file, at most `limit` + 1; OSError if it is not that file any more.

    Opened component by component from the repository root, no component followed if it
    is a symlink: a parent folder swapped for a link after the walk fails the open.
    """
    *folders, name = candidate.on_disk.split("/")
    expect = os.stat_result((0, candidate.inode, candidate.device, 0, 0, 0, 0, 0, 0, 0))
    directory = _open_root(candidate.root)
    try:
        for folder in folders:
            parent, directory = directory, -1
            try:
                directory = os.open(folder, DIR_FLAGS, dir_fd=parent)
            finally:
                os.close(parent)
        fd = _open_regular(name, dir_fd=directory, expect=expect)
    finally:
        if directory >= 0:
            os.close(directory)
    with os.fdopen(fd, "rb") as handle:
        return handle.read(limit + 1)


def _load_gitignore(dir_fd: int) -> pathspec.PathSpec | None:
    try:
        fd = _open_regular(".gitignore", dir_fd=dir_fd)
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
    # Index paths are NFC, whatever form the file system keeps (macOS wrote NFD; Linux
    # keeps the bytes it was given), so a path looks up the same however it is typed.
    # Two files whose names differ only in form would share one: the first is kept.
    claimed: dict[str, str] = {}

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

    def listed(fd: int, rel_dir: str) -> list[str]:
        """Record the files of one open folder; return its subfolders to enter, in order."""
        with os.scandir(fd) as scan:
            entries = sorted(scan, key=lambda entry: entry.name)
        if any(entry.name == ".gitignore" for entry in entries):
            spec = _load_gitignore(fd)
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
            # NFC can make a name longer (U+FB2C becomes three characters): the stored
            # form is what must fit.
            path = unicodedata.normalize("NFC", rel)
            if len(path) > MAX_PATH_LENGTH:
                skipped.append(Skipped(rel[:200] + "…", "path too long"))
                continue
            if info.st_size > max_bytes:
                skipped.append(Skipped(rel, f"larger than {max_bytes} bytes"))
                continue
            if claimed.setdefault(path, rel) != rel:
                skipped.append(
                    Skipped(rel, f"same name as {claimed[path]!r} in another Unicode form")
                )
                continue
            candidates.append(
                Candidate(
                    path,
                    os.path.join(root, rel),
                    info.st_size,
                    info.st_mtime_ns,
                    info.st_ctime_ns,
                    info.st_ino,
                    info.st_dev,
                    root,
                    disk_path="" if path == rel else rel,
                )
            )
        return subdirs

    try:
        root_fd = _open_root(root)
    except OSError as exc:
        raise WalkError(_root_problem(exc)) from None
    # Depth first, in name order: each open folder with the subfolders still to enter.
    # Only the folders on the current path are open, each closed when it is done.
    stack: list[tuple[int, Iterator[str]]] = [(root_fd, iter(()))]
    try:
        try:
            stack[-1] = (root_fd, iter(listed(root_fd, "")))
        except OSError as exc:
            raise WalkError(f"The repository folder cannot be read: {exc.strerror}.") from None
        while stack:
            parent_fd, pending = stack[-1]
            rel = next(pending, None)
            if rel is None:
                stack.pop()
                os.close(parent_fd)
                continue
            if len(rel) > MAX_PATH_LENGTH:
                skipped.append(Skipped(rel[:200] + "…", "path too long"))
                continue
            try:
                fd = os.open(rel.rpartition("/")[2], DIR_FLAGS, dir_fd=parent_fd)
            except OSError as exc:
                skipped.append(Skipped(rel, ENTER_FAILURES.get(exc.errno, "unreadable folder")))
                continue
            stack.append((fd, iter(())))  # from here on, closed whatever happens
            try:
                stack[-1] = (fd, iter(listed(fd, rel)))
            except OSError:
                stack.pop()
                os.close(fd)
                skipped.append(Skipped(rel, "unreadable folder"))
    finally:
        for fd, _ in stack:
            os.close(fd)
    return candidates, skipped


def _root_problem(exc: OSError) -> str:
    if isinstance(exc, _Refused) or exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.ENOENT):
        return "The repository folder is missing, or is no longer a real folder."
    return f"The repository folder cannot be read: {exc.strerror}."


def looks_binary(data: bytes) -> bool:
    # Anywhere in the file: PostgreSQL cannot store a NUL in text.
    return b"\x00" in data
