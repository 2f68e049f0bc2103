"""The indexing endpoints: scopes, bad input, and the success paths."""

import os

import pytest

from indexing.models import Chunk, IndexedFile, IndexJob, Repository, Symbol
from tests.conftest import bearer
from tests.factories import api_key_for, login_tokens
from tests.indexing.conftest import run_queued_jobs, touch_later, write_repo

pytestmark = pytest.mark.django_db


def auth(user, scopes=None):
    return bearer(login_tokens(user, scopes=scopes)["access_token"])


def register(client, user, path, **extra):
    return client.post("/api/index", {"repo_path": str(path), **extra}, **auth(user))


# --- POST /api/index ---------------------------------------------------------------


def test_index_answers_202_at_once_and_a_worker_does_the_job(api_client, developer, sample_repo):
    response = register(api_client, developer, sample_repo, name="sample")
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["repository"]["name"] == "sample"
    assert body["repository"]["state"] == "new"
    job = IndexJob.objects.get(pk=body["job_id"])
    assert job.state == "queued"  # the request did not do the work

    run_queued_jobs()

    job.refresh_from_db()
    assert job.state == "succeeded", job.error
    detail = api_client.get(f"/api/repositories/{body['repository']['id']}", **auth(developer))
    repo = detail.json()
    assert repo["state"] == "ready"
    assert repo["counts"]["files"] == 10
    assert repo["counts"]["symbols"]["Python"] == 3
    assert set(repo["counts"]["symbols"]) == {
        "Python", "JavaScript", "TypeScript", "Go", "Rust", "Java", "C", "C++"
    }  # fmt: skip
    assert repo["last_job"]["state"] == "succeeded"
    assert repo["last_job"]["progress"] == {"done": 10, "total": 10}
    assert repo["last_indexed_at"]


def test_index_needs_the_create_scope(api_client, viewer, sample_repo):
    response = register(api_client, viewer, sample_repo)
    assert response.status_code == 403
    assert response.json() == {"detail": "Permission required: mcp:index:create"}


def test_index_needs_credentials(api_client, sample_repo):
    response = api_client.post("/api/index", {"repo_path": str(sample_repo)})
    assert response.status_code == 401


def test_index_accepts_a_developers_api_key(api_client, developer, sample_repo):
    secret = api_key_for(developer, scopes=["mcp:index:create"])
    response = api_client.post("/api/index", {"repo_path": str(sample_repo)}, HTTP_X_API_KEY=secret)
    assert response.status_code == 202


def test_the_same_path_again_is_409_with_the_existing_id(api_client, developer, sample_repo):
    first = register(api_client, developer, sample_repo).json()
    again = register(api_client, developer, str(sample_repo) + "/./")
    assert again.status_code == 409
    assert again.json()["repository_id"] == first["repository"]["id"]


def test_names_are_unique(api_client, developer, roots, sample_repo):
    register(api_client, developer, sample_repo, name="taken")
    other = write_repo(roots / "other", {"a.py": "x = 1\n"})
    response = register(api_client, developer, other, name="taken")
    assert response.status_code == 400
    assert not Repository.objects.filter(path=str(other)).exists()
    assert "taken" in str(response.json()["name"])
    # Without a name, a free one is derived from the folder.
    write_repo(roots / "nested" / "other", {"b.py": "y = 2\n"})
    assert register(api_client, developer, other).json()["repository"]["name"] == "other"
    response = register(api_client, developer, roots / "nested" / "other")
    assert response.json()["repository"]["name"] == "other-2"


@pytest.mark.parametrize("name", ["../etc", "a b", "x" * 101, ""])
def test_bad_names_are_400(api_client, developer, sample_repo, name):
    assert register(api_client, developer, sample_repo, name=name).status_code == 400


# --- Reading --------------------------------------------------------------------------


@pytest.fixture
def indexed(api_client, developer, sample_repo):
    body = register(api_client, developer, sample_repo, name="sample").json()
    run_queued_jobs()
    return Repository.objects.get(pk=body["repository"]["id"])


@pytest.mark.parametrize(
    ("scopes", "status"),
    [
        ({"mcp:search:code"}, 200),
        ({"mcp:index:update"}, 200),
        ({"mcp:index:delete"}, 200),
        ({"mcp:search:semantic"}, 403),
    ],
)
def test_reading_repositories_needs_search_or_an_index_scope(
    api_client, admin_user, indexed, scopes, status
):
    headers = auth(admin_user, scopes=frozenset(scopes))
    assert api_client.get("/api/repositories", **headers).status_code == status
    assert api_client.get(f"/api/repositories/{indexed.pk}", **headers).status_code == status
    job_id = indexed.jobs.get().pk
    assert api_client.get(f"/api/jobs/{job_id}", **headers).status_code == status


def test_list_and_unknown_ids(api_client, viewer, indexed):
    listed = api_client.get("/api/repositories", **auth(viewer)).json()
    assert [repo["name"] for repo in listed] == ["sample"]
    assert listed[0]["path"] == indexed.path
    assert api_client.get("/api/repositories/999999", **auth(viewer)).status_code == 404
    assert api_client.get("/api/jobs/999999", **auth(viewer)).status_code == 404


def test_job_detail_reports_progress_timings_and_stats(api_client, viewer, indexed):
    job = api_client.get(f"/api/jobs/{indexed.jobs.get().pk}", **auth(viewer)).json()
    assert job["state"] == "succeeded"
    assert job["progress"] == {"done": 10, "total": 10}
    assert job["duration_seconds"] >= 0 and job["finished_at"] and job["started_at"]
    assert job["stats"]["added"] == 10 and job["error"] == ""


# --- Re-indexing and deleting ---------------------------------------------------------------


def test_reindex_reads_only_what_changed_and_drops_what_is_gone(
    api_client, developer, indexed, sample_repo
):
    touch_later(sample_repo / "app" / "models.py", "def renamed():\n    return 1\n")
    os.remove(sample_repo / "docs" / "notes.txt")
    write_repo(sample_repo, {"new.py": "class Fresh:\n    pass\n"})
    response = api_client.post(f"/api/repositories/{indexed.pk}/reindex", **auth(developer))
    assert response.status_code == 202
    run_queued_jobs()
    job = IndexJob.objects.get(pk=response.json()["job_id"])
    assert job.state == "succeeded"
    assert (job.stats["added"], job.stats["changed"], job.stats["removed"]) == (1, 1, 1)
    assert job.stats["unchanged"] == 8
    indexed.refresh_from_db()
    names = set(
        Symbol.objects.filter(file__repository=indexed, file__removed_in__isnull=True).values_list(
            "name", flat=True
        )
    )
    assert {"renamed", "Fresh"} <= names and "Invoice" not in names
    assert not IndexedFile.objects.filter(repository=indexed, path="docs/notes.txt").exists()


def test_reindex_with_nothing_changed_writes_nothing_new(api_client, developer, indexed):
    generation = indexed.generation
    api_client.post(f"/api/repositories/{indexed.pk}/reindex", **auth(developer))
    run_queued_jobs()
    indexed.refresh_from_db()
    assert indexed.generation == generation
    assert indexed.jobs.first().stats["unchanged"] == 10


def test_reindex_while_a_job_is_queued_is_409(api_client, developer, indexed):
    first = api_client.post(f"/api/repositories/{indexed.pk}/reindex", **auth(developer))
    second = api_client.post(f"/api/repositories/{indexed.pk}/reindex", **auth(developer))
    assert second.status_code == 409
    assert second.json()["job_id"] == first.json()["job_id"]


def test_reindex_needs_the_update_scope(api_client, viewer, indexed):
    response = api_client.post(f"/api/repositories/{indexed.pk}/reindex", **auth(viewer))
    assert response.status_code == 403
    assert api_client.post("/api/repositories/999999/reindex", **auth(viewer)).status_code == 403


def test_delete_removes_everything_indexed(api_client, developer, viewer, indexed):
    assert api_client.delete(f"/api/repositories/{indexed.pk}", **auth(viewer)).status_code == 403
    assert (
        api_client.delete(f"/api/repositories/{indexed.pk}", **auth(developer)).status_code == 204
    )
    assert not Repository.objects.exists()
    assert not IndexedFile.objects.exists() and not Chunk.objects.exists()
    assert not Symbol.objects.exists() and not IndexJob.objects.exists()
    assert (
        api_client.delete(f"/api/repositories/{indexed.pk}", **auth(developer)).status_code == 404
    )


# --- Plugins ---------------------------------------------------------------------------


def test_plugins_are_listed_to_any_authenticated_caller(api_client, viewer):
    plugins = api_client.get("/api/plugins", **auth(viewer)).json()
    by_name = {plugin["name"]: plugin for plugin in plugins}
    assert set(by_name) >= {"python", "javascript", "typescript", "go", "rust", "java", "c", "cpp"}
    assert ".py" in by_name["python"]["extensions"] and by_name["python"]["enabled"]
    assert api_client.get("/api/plugins").status_code == 401


def test_disabling_a_plugin_is_seen_by_the_next_job(api_client, admin_user, developer, roots):
    response = api_client.patch("/api/plugins/python", {"enabled": False}, **auth(admin_user))
    assert response.status_code == 200 and response.json()["enabled"] is False
    repo = write_repo(roots / "py", {"a.py": "class Hidden:\n    pass\n"})
    register(api_client, developer, repo)
    run_queued_jobs()
    assert IndexedFile.objects.get(path="a.py").language == ""  # still text-searchable
    assert not Symbol.objects.exists()
    api_client.patch("/api/plugins/python", {"enabled": True}, **auth(admin_user))
    assert all(p["enabled"] for p in api_client.get("/api/plugins", **auth(developer)).json())


def test_plugin_changes_need_plugin_manage_and_good_input(api_client, admin_user, developer):
    assert (
        api_client.patch("/api/plugins/python", {"enabled": False}, **auth(developer)).status_code
        == 403
    )
    assert (
        api_client.patch("/api/plugins/cobol", {"enabled": False}, **auth(admin_user)).status_code
        == 404
    )
    bad = api_client.patch("/api/plugins/python", {"enabled": "perhaps"}, **auth(admin_user))
    assert bad.status_code == 400 and "enabled" in bad.json()
    assert api_client.patch("/api/plugins/python", {}, **auth(admin_user)).status_code == 400
