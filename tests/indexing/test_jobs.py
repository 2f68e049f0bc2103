"""Jobs: one at a time per repository, failures, stale workers, the command, the admin."""

import io
from datetime import timedelta

import pytest
from django.contrib.admin.models import DELETION, LogEntry
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from indexing import services
from indexing.models import IndexJob, Repository
from tests.indexing.conftest import run_queued_jobs

pytestmark = pytest.mark.django_db


@pytest.fixture
def repository(sample_repo):
    return Repository.objects.create(name="sample", path=str(sample_repo))


def test_a_job_that_finds_the_repository_busy_waits_its_turn(repository):
    job = services.job_enqueue(repository=repository)
    Repository.objects.filter(pk=repository.pk).update(
        lease_job=-1, lease_until=timezone.now() + timedelta(minutes=1)
    )
    DBTaskResult.objects.all().delete()
    assert services.job_run(job_id=job.pk) is None
    job.refresh_from_db()
    assert job.state == "queued"
    requeued = DBTaskResult.objects.get()
    assert requeued.run_after is not None and requeued.run_after > timezone.now()


def test_a_job_takes_over_an_expired_lease(repository):
    job = services.job_enqueue(repository=repository)
    Repository.objects.filter(pk=repository.pk).update(
        lease_job=-1, lease_until=timezone.now() - timedelta(seconds=1)
    )
    assert services.job_run(job_id=job.pk).state == "succeeded"
    repository.refresh_from_db()
    assert repository.lease_job is None


def test_a_running_job_whose_worker_died_is_marked_failed(api_client, repository, viewer):
    from tests.conftest import bearer
    from tests.factories import login_tokens

    job = services.job_enqueue(repository=repository)
    IndexJob.objects.filter(pk=job.pk).update(state="running", started_at=timezone.now())
    Repository.objects.filter(pk=repository.pk).update(
        lease_job=job.pk, lease_until=timezone.now() - timedelta(seconds=1)
    )
    body = api_client.get(
        f"/api/jobs/{job.pk}", **bearer(login_tokens(viewer)["access_token"])
    ).json()
    assert body["state"] == "failed"
    assert "worker stopped" in body["error"]
    # ... and it can be retried.
    retry = services.job_enqueue(repository=repository)
    run_queued_jobs()
    retry.refresh_from_db()
    assert retry.state == "succeeded"


def test_a_failing_job_is_recorded_and_the_repository_kept(repository, sample_repo, settings):
    services.job_enqueue(repository=repository)
    run_queued_jobs()
    generation = Repository.objects.get().generation
    (sample_repo / "new.py").write_text("x = 1\n")
    settings.MCP_INDEX_MAX_FILE_BYTES = "not a number"  # the job crashes part-way
    job = services.job_enqueue(repository=repository)
    run_queued_jobs()
    job.refresh_from_db()
    assert job.state == "failed" and "TypeError" in job.error
    repository.refresh_from_db()
    assert repository.state == "ready" and repository.generation == generation
    assert repository.lease_job is None


def test_a_job_for_a_deleted_repository_does_nothing(repository):
    job = services.job_enqueue(repository=repository)
    repository.delete()
    assert services.job_run(job_id=job.pk) is None
    assert run_queued_jobs() == 1  # the task ran and found nothing to do


def test_index_repository_command(sample_repo, roots):
    out, err = io.StringIO(), io.StringIO()
    call_command("index_repository", str(sample_repo), "--name", "cli", stdout=out, stderr=err)
    assert "Indexed cli: 10 files, 10 added" in out.getvalue()
    assert "10/10 files" in err.getvalue()
    out = io.StringIO()
    call_command("index_repository", str(sample_repo), stdout=out, stderr=io.StringIO())
    assert "Re-indexed cli: 10 files, 0 added, 0 changed" in out.getvalue()
    assert IndexJob.objects.filter(state="succeeded").count() == 2


def test_index_repository_command_refuses_paths_outside_the_roots(tmp_path, roots):
    with pytest.raises(CommandError, match="outside the index roots"):
        call_command("index_repository", str(tmp_path), stdout=io.StringIO())


def test_index_repository_command_refuses_a_busy_repository(repository):
    Repository.objects.filter(pk=repository.pk).update(
        lease_job=-1, lease_until=timezone.now() + timedelta(minutes=1)
    )
    with pytest.raises(CommandError, match="Another job"):
        call_command(
            "index_repository", repository.path, stdout=io.StringIO(), stderr=io.StringIO()
        )
    # The refused job is not left queued (which would block re-indexing with a 409).
    assert not repository.jobs.filter(state="queued").exists()


def test_admin_lists_repositories_and_jobs_and_reindexes(client, admin_user, repository):
    client.force_login(admin_user)
    services.job_enqueue(repository=repository)
    run_queued_jobs()
    page = client.get(reverse("admin:indexing_repository_changelist"))
    assert page.status_code == 200 and "sample" in page.content.decode()
    assert client.get(reverse("admin:indexing_indexjob_changelist")).status_code == 200
    assert (
        client.get(reverse("admin:indexing_repository_change", args=[repository.pk])).status_code
        == 200
    )
    client.post(
        reverse("admin:indexing_repository_changelist"),
        {"action": "reindex", "_selected_action": [repository.pk]},
    )
    assert repository.jobs.filter(state="queued").count() == 1


def test_admin_delete_refused_while_busy_says_so_and_not_deleted(client, admin_user, repository):
    client.force_login(admin_user)
    Repository.objects.filter(pk=repository.pk).update(
        lease_job=-1, lease_until=timezone.now() + timedelta(minutes=1)
    )
    page = client.post(
        reverse("admin:indexing_repository_delete", args=[repository.pk]),
        {"post": "yes"},
        follow=True,
    )
    shown = [str(message) for message in page.context["messages"]]
    assert Repository.objects.filter(pk=repository.pk).exists()
    assert any("job" in message.lower() for message in shown), shown
    assert not any("deleted successfully" in message for message in shown), shown
    page = client.post(
        reverse("admin:indexing_repository_changelist"),
        {"action": "delete_selected", "_selected_action": [repository.pk], "post": "yes"},
        follow=True,
    )
    shown = [str(message) for message in page.context["messages"]]
    assert "Deleted 0 of 1." in shown and not any("Successfully" in m for m in shown), shown
    assert Repository.objects.filter(pk=repository.pk).exists()
    assert not LogEntry.objects.filter(action_flag=DELETION).exists()
    # Once the job is done, the delete goes through, and the history says so.
    Repository.objects.filter(pk=repository.pk).update(lease_job=None, lease_until=None)
    client.post(reverse("admin:indexing_repository_delete", args=[repository.pk]), {"post": "yes"})
    assert not Repository.objects.filter(pk=repository.pk).exists()
    assert LogEntry.objects.get(action_flag=DELETION).object_id == str(repository.pk)


def test_a_repository_folder_replaced_by_a_symlink_is_not_walked(repository, sample_repo, tmp_path):
    services.job_enqueue(repository=repository)
    run_queued_jobs()
    before = repository.files.count()
    moved = tmp_path / "moved-away"
    sample_repo.rename(moved)
    sample_repo.symlink_to("/")  # the registered path now leads to the whole disk
    job = services.job_enqueue(repository=repository)
    run_queued_jobs()
    job.refresh_from_db()
    assert job.state == "failed" and "outside the index roots" in job.error
    assert repository.files.count() == before


def test_a_missing_repository_folder_fails_the_job_and_keeps_the_index(
    repository, sample_repo, tmp_path
):
    services.job_enqueue(repository=repository)
    run_queued_jobs()
    before = repository.files.count()
    sample_repo.rename(tmp_path / "unmounted")
    job = services.job_enqueue(repository=repository)
    run_queued_jobs()
    job.refresh_from_db()
    assert job.state == "failed" and "Nothing exists" in job.error
    assert repository.files.count() == before


def test_a_repository_whose_root_left_the_roots_is_not_reindexed(repository, settings):
    settings.MCP_INDEX_ROOTS = ["/nonexistent-root"]
    job = services.job_enqueue(repository=repository)
    run_queued_jobs()
    job.refresh_from_db()
    assert job.state == "failed" and "outside the index roots" in job.error


def test_deleting_while_a_job_runs_is_refused(api_client, repository, developer):
    from tests.conftest import bearer
    from tests.factories import login_tokens

    Repository.objects.filter(pk=repository.pk).update(
        lease_job=7, lease_until=timezone.now() + timedelta(minutes=1)
    )
    response = api_client.delete(
        f"/api/repositories/{repository.pk}", **bearer(login_tokens(developer)["access_token"])
    )
    assert response.status_code == 409
    assert Repository.objects.filter(pk=repository.pk).exists()


def test_too_many_files_fails_with_a_clear_message(repository, settings):
    settings.MCP_INDEX_MAX_FILES = 3
    job = services.job_enqueue(repository=repository)
    run_queued_jobs()
    job.refresh_from_db()
    assert job.state == "failed" and "MCP_INDEX_MAX_FILES" in job.error


def test_a_queued_job_whose_worker_died_before_starting_it_is_marked_failed(repository, settings):
    from django_tasks_db.models import DBTaskResult

    settings.MCP_INDEX_LEASE_SECONDS = 2
    job = services.job_enqueue(repository=repository)
    job.refresh_from_db()
    assert job.task_id
    # A worker claimed the task, then died before the job started.
    long_ago = timezone.now() - timedelta(minutes=5)
    DBTaskResult.objects.filter(pk=job.task_id).update(status="RUNNING", started_at=long_ago)
    IndexJob.objects.filter(pk=job.pk).update(created_at=long_ago)
    services.jobs_reap_stale(repository_id=repository.pk)
    job.refresh_from_db()
    assert job.state == "failed" and "before the job began" in job.error
    # ... and re-indexing is possible again (no 409).
    assert services.job_enqueue(repository=repository).state == "queued"


def test_a_fresh_queued_job_is_left_alone(repository):
    job = services.job_enqueue(repository=repository)
    services.jobs_reap_stale(repository_id=repository.pk)
    job.refresh_from_db()
    assert job.state == "queued"


def test_a_folder_swapped_for_a_symlink_during_a_job_leaks_no_outside_name(
    api_client, roots, viewer, tmp_path, monkeypatch, settings, outside, swap_when_entered
):
    """Viewers read a job's problems: a swapped folder must not list ~/.ssh in them."""
    from tests.conftest import bearer
    from tests.factories import login_tokens
    from tests.indexing.conftest import OUTSIDE_NAMES, write_repo

    repo = write_repo(roots / "project", {"app.py": "x = 1\n", "keys/readme.md": "keys\n"})
    repository = Repository.objects.create(name="project", path=str(repo))
    settings.MCP_INDEX_MAX_FILE_BYTES = 1000
    folder = repo / "keys"
    swap_when_entered(folder, outside, moved_to=tmp_path / "keys-moved-away")
    job = services.job_enqueue(repository=repository)
    run_queued_jobs()
    monkeypatch.undo()
    assert folder.is_symlink(), "the job never entered the folder"
    body = api_client.get(
        f"/api/jobs/{job.pk}", **bearer(login_tokens(viewer)["access_token"])
    ).content.decode()
    assert '"state":"succeeded"' in body
    assert [name for name in OUTSIDE_NAMES if name in body] == []
    assert "huge.bin" not in body
    assert set(repository.files.values_list("path", flat=True)) == {"app.py"}
