import os

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
    assert found == {"real.py", "alias.py"}
    assert skipped["leak.py"] == "symlink out of the repository"
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
