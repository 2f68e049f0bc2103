"""Hostile repository paths: everything outside MCP_INDEX_ROOTS is refused with a 400."""

import os

import pytest

from indexing.models import Repository
from tests.conftest import bearer
from tests.factories import login_tokens
from tests.indexing.conftest import write_repo

pytestmark = pytest.mark.django_db


def post(client, user, path):
    return client.post(
        "/api/index", {"repo_path": path}, **bearer(login_tokens(user)["access_token"])
    )


def test_no_roots_configured_says_what_to_do(api_client, developer, tmp_path, settings):
    settings.MCP_INDEX_ROOTS = []
    response = post(api_client, developer, str(tmp_path))
    assert response.status_code == 400
    assert "MCP_INDEX_ROOTS" in response.json()["repo_path"][0]


@pytest.mark.parametrize(
    ("make_path", "message"),
    [
        (lambda root, tmp: "relative/path", "absolute"),
        (lambda root, tmp: str(root / ".." / "outside"), "outside the index roots"),
        (lambda root, tmp: str(root / "repo" / ".." / ".." / "outside"), "outside the index roots"),
        (lambda root, tmp: str(tmp / "roots-evil"), "outside the index roots"),  # prefix sibling
        (lambda root, tmp: str(root / "escape"), "outside the index roots"),  # symlink out
        (lambda root, tmp: "/", "outside the index roots"),
        (lambda root, tmp: "/etc/passwd", "outside the index roots"),
        (lambda root, tmp: str(root / "missing"), "Nothing exists"),
        (lambda root, tmp: str(root / "repo" / "file.py"), "not a directory"),
        (lambda root, tmp: str(root / "repo") + "\x00/etc", "Null characters"),
        (lambda root, tmp: "", "blank"),
        (lambda root, tmp: "/" + "a" * 2000, "no more than 1024"),
    ],
    ids=[
        "relative", "dotdot", "dotdot-deep", "prefix-sibling", "symlink-out", "slash",
        "etc-passwd", "missing", "file", "nul-byte", "empty", "too-long",
    ],
)  # fmt: skip
def test_hostile_paths_are_400(api_client, developer, roots, tmp_path, make_path, message):
    write_repo(roots / "repo", {"file.py": "x = 1\n"})
    write_repo(tmp_path / "outside", {"secret.py": "token = 'x'\n"})
    write_repo(tmp_path / "roots-evil", {"evil.py": "x = 1\n"})
    os.symlink(tmp_path / "outside", roots / "escape")
    response = post(api_client, developer, make_path(roots, tmp_path))
    assert response.status_code == 400, response.content
    assert message in str(response.json())
    assert not Repository.objects.exists()


def test_a_symlink_inside_the_roots_is_resolved_to_its_target(api_client, developer, roots):
    write_repo(roots / "real", {"a.py": "x = 1\n"})
    os.symlink(roots / "real", roots / "alias")
    first = post(api_client, developer, str(roots / "alias"))
    assert first.status_code == 202
    assert first.json()["repository"]["path"] == str((roots / "real").resolve())
    again = post(api_client, developer, str(roots / "real"))
    assert again.status_code == 409


def test_the_root_itself_may_be_indexed(api_client, developer, roots):
    write_repo(roots, {"top.py": "x = 1\n"})
    assert post(api_client, developer, str(roots)).status_code == 202
