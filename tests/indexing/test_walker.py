import os

import pytest

from indexing.walker import walk
from tests.indexing.conftest import write_repo


def paths(root, **kwargs):
    candidates, skipped = walk(str(root), max_bytes=kwargs.get("max_bytes", 1024 * 1024))
    return {c.path for c in candidates}, {s.path: s.reason for s in skipped}


def test_gitignore_at_every_level_and_skipped_folders(tmp_path):
    write_repo(
        tmp_path,
        {
            ".gitignore": "*.log\n/build-output/\nsecret.txt\n",
            "keep.py": "x\n",
            "debug.log": "x\n",
            "secret.txt": "x\n",
            "build-output/gen.py": "x\n",
            "pkg/.gitignore": "local.py\n!important.log\n",
            "pkg/local.py": "x\n",
            "pkg/mod.py": "x\n",
            "pkg/important.log": "x\n",
            "node_modules/lib/index.js": "x\n",
            ".git/config": "x\n",
            "vendor/dep.go": "x\n",
            "__pycache__/m.cpython-311.pyc": "x\n",
            "src/build/out.txt": "x\n",
        },
    )
    found, _ = paths(tmp_path)
    assert found == {".gitignore", "keep.py", "pkg/.gitignore", "pkg/mod.py", "pkg/important.log"}


def test_symlinks_never_lead_out_of_the_repository(tmp_path):
    repo, outside = tmp_path / "repo", tmp_path / "outside"
    write_repo(outside, {"secret.py": "token = 1\n", "dir/inner.py": "x\n"})
    write_repo(repo, {"real.py": "x\n"})
    os.symlink(outside / "secret.py", repo / "leak.py")
    os.symlink(outside / "dir", repo / "leakdir")
    os.symlink(repo / "real.py", repo / "alias.py")
    os.symlink(repo / "missing.py", repo / "dangling.py")
    found, skipped = paths(repo)
    assert found == {"real.py"}  # the alias's target is indexed under its own path
    assert skipped["leak.py"] == "symlink (not followed)"
    assert skipped["alias.py"] == "symlink (not followed)"
    assert "leakdir/inner.py" not in found


def test_oversized_files_are_skipped_and_reported(tmp_path):
    write_repo(tmp_path, {"small.py": "x\n", "big.py": "x" * 2000})
    found, skipped = paths(tmp_path, max_bytes=1000)
    assert found == {"small.py"}
    assert "larger than 1000 bytes" in skipped["big.py"]


def test_unreadable_folders_are_reported_not_fatal(tmp_path):
    write_repo(tmp_path, {"ok.py": "x\n", "locked/hidden.py": "x\n"})
    os.chmod(tmp_path / "locked", 0)
    try:
        found, skipped = paths(tmp_path)
    finally:
        os.chmod(tmp_path / "locked", 0o755)
    assert "ok.py" in found
    if os.geteuid() != 0:  # root reads everything
        assert "locked" in skipped


def test_a_gitignore_that_is_a_fifo_or_a_symlink_is_not_read(tmp_path):
    write_repo(tmp_path, {"keep.py": "x\n", "sub/a.py": "x\n"})
    os.mkfifo(tmp_path / ".gitignore")  # reading it would block forever
    os.symlink("/dev/zero", tmp_path / "sub" / ".gitignore")  # or never end
    found, _ = paths(tmp_path)
    assert {"keep.py", "sub/a.py"} <= found


def test_a_file_swapped_for_a_symlink_after_the_walk_is_not_read(tmp_path):
    from indexing.walker import read_file

    repo, outside = tmp_path / "repo", tmp_path / "outside"
    write_repo(outside, {"secret.txt": "password=hunter2\n"})
    write_repo(repo, {"a.txt": "harmless\n", "dir/b.txt": "harmless\n"})
    candidates, _ = walk(str(repo), max_bytes=1024)
    by_path = {c.path: c for c in candidates}
    os.remove(repo / "a.txt")
    os.symlink(outside / "secret.txt", repo / "a.txt")
    with pytest.raises(OSError):
        read_file(by_path["a.txt"], 1024)
    # A parent folder swapped for a symlink is caught too.
    os.rename(repo / "dir", tmp_path / "moved")
    os.symlink(outside, repo / "dir")
    (outside / "b.txt").write_text("password=hunter2\n")
    with pytest.raises(OSError):
        read_file(by_path["dir/b.txt"], 1024)


def test_a_root_that_is_gone_or_a_symlink_is_an_error_not_an_empty_walk(tmp_path):
    from indexing.walker import WalkError

    with pytest.raises(WalkError):
        walk(str(tmp_path / "missing"), max_bytes=1024)
    os.symlink(tmp_path, tmp_path / "link")
    with pytest.raises(WalkError):
        walk(str(tmp_path / "link"), max_bytes=1024)


def test_file_names_that_are_not_utf8_are_skipped_with_a_reason(tmp_path):
    write_repo(tmp_path, {"ok.py": "x\n"})
    with open(os.path.join(os.fsencode(tmp_path), b"bad\xff.py"), "w") as handle:
        handle.write("x\n")
    found, skipped = paths(tmp_path)
    assert found == {"ok.py"}
    assert "name is not UTF-8" in skipped.values()
