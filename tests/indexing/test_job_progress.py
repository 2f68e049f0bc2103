"""A job's progress: its phase (text, then embedding), the phase's own done/total, an
estimate of the time left, and how long it has run, in the REST API and the admin."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from indexing import indexer, services
from indexing.models import IndexJob, Repository, SemanticChunk
from tests.conftest import bearer
from tests.factories import login_tokens
from tests.indexing.conftest import SAMPLES

pytestmark = pytest.mark.django_db


@pytest.fixture
def repository(sample_repo):
    return Repository.objects.create(name="sample", path=str(sample_repo))


@pytest.fixture
def auth(viewer):
    return bearer(login_tokens(viewer)["access_token"])


@pytest.fixture
def often(settings, monkeypatch):
    """Progress at every step: the model takes 8 chunks at a time, and every report is
    written (instead of one every half second), so a small repository shows its phases."""
    settings.MCP_SEMANTIC_BATCH_SIZE = 2
    monkeypatch.setattr(indexer, "PROGRESS_SECONDS", 0)


def running_job(repository, **fields) -> IndexJob:
    """A job a live worker is running: it holds the repository's lease (the API marks a
    running job without one failed)."""
    now = timezone.now()
    job = IndexJob.objects.create(
        repository=repository,
        state=IndexJob.State.RUNNING,
        started_at=now - timedelta(seconds=75),
        **fields,
    )
    Repository.objects.filter(pk=repository.pk).update(
        lease_job=job.pk, lease_until=now + timedelta(minutes=1)
    )
    return job


def test_the_api_shows_each_phase_while_it_runs(api_client, repository, auth, semantic_on, often):
    """Embedding is most of a job; /api/jobs/{id} sat at "done 187/187" with a duration
    of 0.0 for a minute while the model worked."""
    job = services.job_enqueue(repository=repository, run_in_background=False)
    seen = []

    def look(phase, done, total):
        seen.append(api_client.get(f"/api/jobs/{job.pk}", **auth).json())

    services.job_run(job_id=job.pk, progress=look, requeue=False)

    assert all(body["state"] == "running" for body in seen)
    text = [body for body in seen if body["phase"] == "text"]
    assert {body["phase_unit"] for body in text} == {"files"}
    assert text[-1]["phase_done"] == text[-1]["phase_total"] == len(SAMPLES)
    assert text[-1]["progress"] == {"done": len(SAMPLES), "total": len(SAMPLES)}
    embedding = [body for body in seen if body["phase"] == "embedding"]
    assert embedding[0]["phase_total"] == 0 and embedding[0]["eta_seconds"] is None  # counting
    assert {body["phase_unit"] for body in embedding} == {"chunks"}
    assert embedding[0]["progress"] == {"done": len(SAMPLES), "total": len(SAMPLES)}
    underway = [body for body in embedding if 0 < body["phase_done"] < body["phase_total"]]
    assert len(underway) >= 2, [(b["phase_done"], b["phase_total"]) for b in embedding]
    assert all(isinstance(body["eta_seconds"], int) for body in underway)
    assert all(body["eta_seconds"] >= 0 for body in underway)
    assert embedding[-1]["phase_done"] == embedding[-1]["phase_total"] > 0
    assert seen[-1]["duration_seconds"] > 0  # the time so far, not 0.0
    assert seen[-1]["finished_at"] is None

    body = api_client.get(f"/api/jobs/{job.pk}", **auth).json()
    assert body["state"] == "succeeded"
    chunks = SemanticChunk.objects.count()
    assert (body["phase"], body["phase_done"], body["phase_total"]) == ("embedding", chunks, chunks)
    assert body["stats"]["semantic"]["chunks"] == chunks
    assert body["eta_seconds"] is None and body["duration_seconds"] > 0


def test_without_embedding_the_text_phase_is_the_last(api_client, repository, auth):
    job = services.job_enqueue(repository=repository, run_in_background=False)
    services.job_run(job_id=job.pk, requeue=False)
    body = api_client.get(f"/api/jobs/{job.pk}", **auth).json()
    assert (body["phase"], body["phase_unit"]) == ("text", "files")
    assert body["phase_done"] == body["phase_total"] == len(SAMPLES)


def test_a_queued_job_has_no_phase(api_client, repository, auth):
    job = services.job_enqueue(repository=repository, run_in_background=False)
    body = api_client.get(f"/api/jobs/{job.pk}", **auth).json()
    assert (body["phase"], body["phase_unit"], body["eta_seconds"]) == (None, None, None)
    assert (body["phase_done"], body["phase_total"], body["duration_seconds"]) == (0, 0, None)


def test_the_estimate_comes_from_the_phase_rate_so_far(api_client, repository, auth):
    now = timezone.now()
    job = running_job(
        repository,
        phase=IndexJob.Phase.EMBEDDING,
        phase_done=100,
        phase_total=400,
        phase_started_at=now - timedelta(seconds=10),
        progress_at=now,
    )
    # 100 chunks in 10 s: 300 more take 30 s, less the time since the last report.
    assert job.eta_seconds(now) == 30
    assert job.eta_seconds(now + timedelta(seconds=12)) == 18
    assert job.eta_seconds(now + timedelta(seconds=60)) == 0  # late, not negative
    body = api_client.get(f"/api/jobs/{job.pk}", **auth).json()
    assert 28 <= body["eta_seconds"] <= 30
    assert body["duration_seconds"] >= 75  # running: the time so far

    job.phase_done = 0  # no rate yet
    assert job.eta_seconds(now) is None
    job.phase_done, job.phase_total = 5, 0  # still counting
    assert job.eta_seconds(now) is None
    job.phase_total, job.state = 400, IndexJob.State.SUCCEEDED
    assert job.eta_seconds(now) is None


def test_progress_writes_start_the_phase_clock_at_zero_and_spare_a_reaped_job(repository):
    job = running_job(repository)
    services.job_progress_save(job_id=job.pk, phase="text", done=0, total=50)
    job.refresh_from_db()
    started = job.phase_started_at
    assert (job.phase, job.files_done, job.files_total) == ("text", 0, 50)
    services.job_progress_save(job_id=job.pk, phase="text", done=20, total=50)
    job.refresh_from_db()
    assert job.phase_started_at == started and job.files_done == 20
    services.job_progress_save(job_id=job.pk, phase="embedding", done=0, total=300)
    job.refresh_from_db()
    assert job.phase_started_at > started and job.files_done == 20  # files: the text phase's

    IndexJob.objects.filter(pk=job.pk).update(state=IndexJob.State.FAILED)
    services.job_progress_save(job_id=job.pk, phase="embedding", done=10, total=300)
    job.refresh_from_db()
    assert job.phase_done == 0


def test_the_admin_shows_phase_and_progress(client, admin_user, repository):
    now = timezone.now()
    job = running_job(
        repository,
        phase=IndexJob.Phase.EMBEDDING,
        phase_done=120,
        phase_total=900,
        phase_started_at=now - timedelta(seconds=6),
        progress_at=now,
    )
    client.force_login(admin_user)
    listing = client.get(reverse("admin:indexing_indexjob_changelist")).content.decode()
    assert "embedding 120/900 chunks, ~" in listing and " s left" in listing
    detail = client.get(reverse("admin:indexing_indexjob_change", args=[job.pk])).content.decode()
    assert "embedding 120/900 chunks, ~" in detail
    page = client.get(reverse("admin:indexing_repository_change", args=[repository.pk]))
    assert "embedding 120/900 chunks" in page.content.decode()
    filtered = client.get(reverse("admin:indexing_indexjob_changelist"), {"phase": "text"})
    assert "120/900" not in filtered.content.decode()
