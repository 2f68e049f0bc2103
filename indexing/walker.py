"""Walking a repository: what to index, what to skip and why.

Honours .gitignore files at every level (pathspec's git semantics, each file
relative to its own folder), skips version-control, vendor and build
folders, never follows a symlink out of the repository (symlinked folders
are not entered at all), and leaves binary and oversized files out.
"""

from __future__ import annotations

import os
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
BINARY_SNIFF_BYTES = 8192
MAX_PATH_LENGTH = 1024


@dataclass(frozen=True)
class Candidate:
    path: str  # relative, with "/"
    absolute: str
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root + os.sep)


def walk(root: str, *, max_bytes: int) -> tuple[list[Candidate], list[Skipped]]:
    """Files to index under `root` (already resolved), and the ones left out on purpose."""
    root = os.path.realpath(root)
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
        except OSError:
            skipped.append(Skipped(rel_dir or ".", "unreadable folder"))
            continue
        if any(entry.name == ".gitignore" for entry in entries):
            try:
                with open(
                    os.path.join(directory, ".gitignore"), encoding="utf-8", errors="replace"
                ) as f:
                    ignores[rel_dir] = pathspec.GitIgnoreSpec.from_lines(f)
            except OSError:
                skipped.append(Skipped(f"{rel_dir}/.gitignore".lstrip("/"), "unreadable"))
        subdirs = []
        for entry in entries:
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            try:
                if entry.is_dir(follow_symlinks=False):
                    # Symlinked folders are never entered (is_dir without following).
                    if entry.name not in SKIP_DIRS and not ignored(rel, is_dir=True):
                        subdirs.append(rel)
                    continue
                if ignored(rel, is_dir=False):
                    continue
                absolute = entry.path
                if entry.is_symlink():
                    target = os.path.realpath(absolute)
                    if not _inside(target, root):
                        skipped.append(Skipped(rel, "symlink out of the repository"))
                        continue
                    if not os.path.isfile(target):
                        continue
                    absolute, info = target, os.stat(target)
                elif entry.is_file(follow_symlinks=False):
                    info = entry.stat(follow_symlinks=False)
                else:
                    continue  # sockets, fifos, devices
            except OSError:
                skipped.append(Skipped(rel, "unreadable"))
                continue
            if len(rel) > MAX_PATH_LENGTH:
                skipped.append(Skipped(rel[:200] + "…", "path too long"))
                continue
            if info.st_size > max_bytes:
                skipped.append(Skipped(rel, f"larger than {max_bytes} bytes"))
                continue
            candidates.append(Candidate(rel, absolute, info.st_size, info.st_mtime_ns))
        pending.extend(reversed(subdirs))
    return candidates, skipped


def looks_binary(data: bytes) -> bool:
    return b"\x00" in data[:BINARY_SNIFF_BYTES]
