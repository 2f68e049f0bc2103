"""The server's own files are never indexed, even from inside MCP_INDEX_ROOTS.

The attack: with the README's own example (MCP_INDEX_ROOTS=$HOME/src, the checkout under
~/src), a developer registered the data directory and a viewer read `secret_key` and
`jwt_key_encryption_key` through GET /api/repositories/{id}/file. A repository path that
is, contains or lies inside the data directory, the installation, the SQLite database, the
.env file or a path of MCP_INDEX_EXCLUDED_PATHS is refused with a 400 that says why, and
checked again at every job.
"""

import io
import os

import pytest
from django.core.management import CommandError, call_command
from rest_framework.exceptions import ValidationError

from indexing import services
from indexing.models import IndexedFile, IndexJob, Repository
from tests.conftest import bearer
from tests.factories import login_tokens
from tests.indexing.conftest import run_queued_jobs, write_repo

pytestmark = pytest.mark.django_db

DATA_DIR = "is the server's data directory"


def auth(user):
    return bearer(login_tokens(user)["access_token"])


def register(client, user, path):
    return client.post("/api/index", {"repo_path": str(path)}, **auth(user))


@pytest.fixture
def install(roots, settings):
    """The server checked out under the index root, its data directory inside the checkout
    holding the generated secrets, as the README's quick start leaves it."""
    base = write_repo(
        roots / "mcp-code-server",
        {
            "manage.py": "# manage\n",
            "mcpserver/settings.py": "# settings\n",
            ".env": "DJANGO_SECRET_KEY=from-the-env-file\n",
            "data/secret_key": "the-django-secret\n",
            "data/jwt_key_encryption_key": "the-key-encryption-key\n",
            "data/static/app.css": "body {}\n",
        },
    )
    settings.BASE_DIR = base
    settings.MCP_DATA_DIR = base / "data"
    return base


@pytest.mark.parametrize(
    ("relative", "message"),
    [
        ("mcp-code-server/data", "This folder is the server's data directory (MCP_DATA_DIR)"),
        ("mcp-code-server/data/static", "lies inside the server's data directory"),
        ("mcp-code-server", "This folder is the server's own installation"),
        (".", "contains the server's data directory"),  # the index root itself
        ("mcp-code-server/mcpserver", "lies inside the server's own installation"),
        ("alias-to-data", "This folder is the server's data directory"),  # through a symlink
    ],
    ids=["is-data", "inside-data", "is-install", "root-contains-data", "inside-install", "link"],
)
def test_the_servers_own_folders_cannot_be_registered(
    api_client, developer, viewer, roots, install, relative, message
):
    os.symlink(install / "data", roots / "alias-to-data")
    response = register(api_client, developer, (roots / relative))
    assert response.status_code == 400, response.content
    (text,) = response.json()["repo_path"]
    assert message in text
    assert "cannot be indexed" in text
    assert str(install) not in text  # says what, not where
    assert not Repository.objects.exists()
    # Nothing a viewer could read the keys through.
    assert api_client.get("/api/repositories", **auth(viewer)).json() == []


def test_a_neighbour_whose_name_only_starts_like_a_protected_folder_is_allowed(
    api_client, developer, roots, install
):
    write_repo(roots / "mcp-code-server-fork", {"a.py": "x = 1\n"})  # compared by components
    write_repo(install.parent / "mcp-code-server" / "data-tools", {"b.py": "x = 1\n"})
    assert register(api_client, developer, roots / "mcp-code-server-fork").status_code == 202
    response = register(api_client, developer, install / "data-tools")
    assert response.status_code == 400  # inside the installation, but not for a prefix match
    assert "lies inside the server's own installation" in response.json()["repo_path"][0]


def test_the_installation_is_refused_when_the_data_directory_lives_elsewhere(
    api_client, developer, install, settings, tmp_path
):
    settings.MCP_DATA_DIR = tmp_path / "elsewhere"
    response = register(api_client, developer, install)
    assert response.status_code == 400
    assert "This folder is the server's own installation" in response.json()["repo_path"][0]


def test_the_env_file_is_protected_where_its_link_leads(
    api_client, developer, roots, settings, tmp_path
):
    settings.BASE_DIR = write_repo(tmp_path / "install", {"manage.py": "# manage\n"})
    vault = write_repo(roots / "vault", {"server.env": "JWT_KEY_ENCRYPTION_KEY=abc\n"})
    os.symlink(vault / "server.env", settings.BASE_DIR / ".env")
    response = register(api_client, developer, vault)
    assert response.status_code == 400
    assert "contains the server's .env file" in response.json()["repo_path"][0]


def test_a_sqlite_database_anywhere_is_protected(monkeypatch, roots, settings):
    # DATABASE_URL=sqlite:///... may put the database under an index root.
    dbs = write_repo(roots / "dbs", {"mcp.sqlite3": "", "notes.txt": "x\n"})
    # Another alias, so that the live connection's settings stay as they are (and the
    # test means the same on the PostgreSQL run).
    sqlite = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(dbs / "mcp.sqlite3")}
    monkeypatch.setitem(settings.DATABASES, "other", sqlite)
    with pytest.raises(ValidationError) as refused:
        services.repository_path_resolve(str(dbs))
    assert "contains the server's database" in str(refused.value.detail["repo_path"][0])


def test_operators_protect_their_own_secret_files(api_client, developer, roots, settings):
    certs = write_repo(roots / "certs", {"server.key": "-----BEGIN PRIVATE KEY-----\n"})
    write_repo(roots / "certs-public", {"ca.pem": "x\n"})
    write_repo(roots / "projects" / "app", {"a.py": "x = 1\n"})
    settings.MCP_INDEX_EXCLUDED_PATHS = [str(certs / "server.key"), str(roots / "projects")]
    for path, message in [
        (certs, "contains a path listed in MCP_INDEX_EXCLUDED_PATHS"),
        (roots, "contains a path listed in MCP_INDEX_EXCLUDED_PATHS"),
        (roots / "projects" / "app", "lies inside a path listed in MCP_INDEX_EXCLUDED_PATHS"),
    ]:
        response = register(api_client, developer, path)
        assert response.status_code == 400, path
        assert message in response.json()["repo_path"][0]
    assert register(api_client, developer, roots / "certs-public").status_code == 202


def test_the_protected_paths_are_real_paths_read_from_the_settings_when_used(
    install, settings, tmp_path
):
    os.symlink(install / "data", tmp_path / "data-link")
    settings.MCP_DATA_DIR = tmp_path / "data-link"
    settings.MCP_INDEX_EXCLUDED_PATHS = [str(tmp_path / "tls" / ".." / "tls" / "key.pem")]
    paths = {item.kind: item.path for item in services.protected_paths()}
    assert paths["data"] == str(install / "data")
    assert paths["installation"] == str(install)
    assert paths["env"] == str(install / ".env")
    assert paths["excluded"] == str(tmp_path / "tls" / "key.pem")
    sqlite = [
        os.path.realpath(db["NAME"])
        for db in settings.DATABASES.values()
        if db["ENGINE"].endswith("sqlite3")
    ]
    assert set(sqlite) <= {
        item.path for item in services.protected_paths() if item.kind == "database"
    }


# --- every job checks again ------------------------------------------------------------


def test_a_repository_registered_before_the_fix_fails_its_job_and_indexes_nothing(
    api_client, developer, viewer, install
):
    repository = Repository.objects.create(name="data", path=str(install / "data"))
    response = api_client.post(f"/api/repositories/{repository.pk}/reindex", **auth(developer))
    assert response.status_code == 202, response.content
    run_queued_jobs()
    job = IndexJob.objects.get(repository=repository)
    assert job.state == "failed"
    assert "data directory" in job.error and "cannot be indexed" in job.error
    assert not IndexedFile.objects.exists()
    body = api_client.get(f"/api/jobs/{job.pk}", **auth(viewer)).json()
    assert body["state"] == "failed" and "data directory" in body["error"]
    read = api_client.get(
        f"/api/repositories/{repository.pk}/file", {"path": "secret_key"}, **auth(viewer)
    )
    assert read.status_code == 404
    assert "the-django-secret" not in read.content.decode()


def test_secrets_indexed_before_the_fix_are_withdrawn_by_the_next_job(
    api_client, developer, viewer, install, settings
):
    """A server upgraded with such a repository: what it indexed must stop being readable,
    not only stop growing."""
    from indexing.indexer import index_repository

    repository = Repository.objects.create(name="data", path=str(install / "data"))
    settings.MCP_DATA_DIR = install.parent / "elsewhere"  # as before the check existed
    settings.BASE_DIR = install.parent / "elsewhere"
    index_repository(repository)
    read = lambda: api_client.get(  # noqa: E731
        f"/api/repositories/{repository.pk}/file", {"path": "secret_key"}, **auth(viewer)
    )
    assert "the-django-secret" in read().json()["content"]
    settings.MCP_DATA_DIR = install / "data"  # the upgrade
    settings.BASE_DIR = install
    api_client.post(f"/api/repositories/{repository.pk}/reindex", **auth(developer))
    run_queued_jobs()
    assert read().status_code == 404
    hits = api_client.get("/api/search", {"q": "the-django-secret"}, **auth(viewer)).json()
    assert hits["hits"] == []
    assert not IndexedFile.objects.filter(repository=repository).exists()
    listed = api_client.get(f"/api/repositories/{repository.pk}", **auth(viewer)).json()
    assert listed["state"] == "failed" and listed["counts"]["files"] == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="bind mounts need root")
def test_a_second_name_for_the_data_directory_is_refused_too(
    api_client, developer, roots, install
):
    """realpath does not see through a bind mount (nor through another letter case on a
    case-insensitive file system): the folder is recognised by its device and inode."""
    import subprocess

    mount_point = roots / "mounted"
    mount_point.mkdir()
    if subprocess.run(["mount", "--bind", str(install / "data"), str(mount_point)],
                      capture_output=True, check=False).returncode != 0:  # fmt: skip
        pytest.skip("this machine does not allow bind mounts")
    try:
        response = register(api_client, developer, mount_point)
        assert response.status_code == 400, response.content
        assert "This folder is the server's data directory" in response.json()["repo_path"][0]
        holder = register(api_client, developer, roots)
        assert "contains the server's data directory" in holder.json()["repo_path"][0]
    finally:
        subprocess.run(["umount", str(mount_point)], check=False)


def test_a_repository_whose_folder_now_holds_the_data_directory_is_not_reindexed(
    api_client, developer, roots, settings
):
    project = write_repo(roots / "project", {"app.py": "x = 1\n"})
    registered = register(api_client, developer, project)
    assert registered.status_code == 202
    run_queued_jobs()
    assert IndexedFile.objects.count() == 1
    # The operator moves the data directory into the project.
    write_repo(project / "data", {"secret_key": "the-django-secret\n"})
    settings.MCP_DATA_DIR = project / "data"
    repository_id = registered.json()["repository"]["id"]
    api_client.post(f"/api/repositories/{repository_id}/reindex", **auth(developer))
    run_queued_jobs()
    job = IndexJob.objects.filter(repository_id=repository_id).latest("pk")
    assert job.state == "failed"
    assert "contains the server's data directory" in job.error
    assert not IndexedFile.objects.filter(path__startswith="data/").exists()


def test_the_index_repository_command_says_why(install, roots):
    with pytest.raises(CommandError, match="contains the server's data directory"):
        call_command("index_repository", str(roots), stdout=io.StringIO())
    Repository.objects.create(name="old", path=str(install / "data"))
    with pytest.raises(CommandError, match="This folder is the server's data directory"):
        call_command(
            "index_repository", str(install / "data"), stdout=io.StringIO(), stderr=io.StringIO()
        )
    assert not IndexedFile.objects.exists()
