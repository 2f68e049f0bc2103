"""Background work, through Django's tasks interface (django-tasks, database backend)."""

from django_tasks import task


@task()
def run_index_job(job_id: int) -> None:
    from indexing import services

    services.job_run(job_id=job_id)
