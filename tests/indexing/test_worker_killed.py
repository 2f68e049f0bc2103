"""A worker killed in the middle of a job: the previous index stays searchable, the
job is marked failed once its lease runs out, and a retry completes."""

import shutil
import signal
import subprocess
import sys
import time

import django
import pytest

from indexing import services
from indexing.indexer import index_repository
from indexing.models import IndexedFile, IndexJob, Repository, visible_at
from tests.processes import ROOT, process_env

LEASE_SECONDS = 3


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


def visible_files(repository):
    repository.refresh_from_db()
    return set(
        IndexedFile.objects.filter(
            visible_at(repository.generation), repository=repository
        ).values_list("path", "content_hash")
    )


def start_worker(roots):
    return subprocess.Popen(
        [sys.executable, "manage.py", "db_worker", "--no-startup-delay", "--interval", "0.1"],
        cwd=ROOT,
        env=process_env(MCP_INDEX_ROOTS=str(roots), MCP_INDEX_LEASE_SECONDS=str(LEASE_SECONDS)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.mark.django_db(transaction=True)
def test_killed_worker_leaves_the_index_consistent_and_the_job_retryable(roots, settings):
    settings.MCP_INDEX_LEASE_SECONDS = LEASE_SECONDS
    tree = roots / "django"
    shutil.copytree(
        django.__path__[0], tree, ignore=shutil.ignore_patterns("__pycache__", "locale")
    )
    repository = Repository.objects.create(name="django", path=str(tree))
    index_repository(repository)
    before = visible_files(repository)
    generation = repository.generation

    for path in sorted(tree.rglob("*.py")):  # every Python file changes: a long job
        path.write_text(path.read_text() + "\n# changed\n")
    job = services.job_enqueue(repository=repository)

    worker = start_worker(roots)
    try:
        wait_for(
            lambda: IndexJob.objects.filter(pk=job.pk, files_done__gt=0, state="running").exists(),
            60,
            "the job to start",
        )
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()

    # Killed half-way: the previous index is what everyone sees.
    assert visible_files(repository) == before
    assert Repository.objects.get(pk=repository.pk).generation == generation

    # Once the lease has run out, the job is reported failed ...
    time.sleep(LEASE_SECONDS + 0.5)
    services.jobs_reap_stale(repository_id=repository.pk)
    job.refresh_from_db()
    assert job.state == "failed" and "worker stopped" in job.error

    # ... and a retry on a fresh worker finishes the work.
    retry = services.job_enqueue(repository=repository)
    worker = start_worker(roots)
    try:
        wait_for(
            lambda: IndexJob.objects.filter(pk=retry.pk, state__in=["succeeded", "failed"]).first(),
            120,
            "the retry to finish",
        )
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    retry.refresh_from_db()
    assert retry.state == "succeeded", retry.error
    after = visible_files(repository)
    assert {path for path, _ in after} == {path for path, _ in before}
    assert after != before  # the changed content is what is searchable now
    assert IndexedFile.objects.filter(repository=repository).count() == len(after)
