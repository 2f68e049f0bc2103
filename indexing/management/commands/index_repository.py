"""manage.py index_repository PATH [--name N]: index in the foreground, with progress."""

from __future__ import annotations

import os
import time

from django.core.management.base import BaseCommand, CommandError
from rest_framework.exceptions import ValidationError

from indexing import services
from indexing.models import Repository


class Command(BaseCommand):
    help = "Index (or re-index) a repository now, in this process."

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument("--name", default=None)

    def handle(self, *args, path: str, name: str | None, **options):
        try:
            resolved = services.repository_path_resolve(os.path.abspath(path))
        except ValidationError as exc:
            raise CommandError(" ".join(str(m) for m in exc.detail.get("repo_path", []))) from None
        repository, created = Repository.objects.get_or_create(
            path=resolved,
            defaults={"name": name or services.repository_free_name(os.path.basename(resolved))},
        )
        started = time.monotonic()
        services.jobs_reap_stale(repository_id=repository.pk)
        try:
            job = services.job_enqueue(repository=repository, run_in_background=False)
            job = services.job_run(job_id=job.pk, progress=self._bar, requeue=False)
        except services.Conflict as exc:
            raise CommandError(str(exc.detail)) from None
        self.stderr.write("")
        if job.state == job.State.FAILED:
            raise CommandError(f"Indexing failed: {job.error}")
        stats = job.stats
        self.stdout.write(
            self.style.SUCCESS(
                f"{'Indexed' if created else 'Re-indexed'} {repository.name}: "
                f"{stats['files_seen']} files, {stats['added']} added, {stats['changed']} changed, "
                f"{stats['unchanged']} unchanged, {stats['binary']} binary, "
                f"{stats['skipped']} skipped; {stats['removed']} removed; "
                f"in {time.monotonic() - started:.2f}s"
            )
        )
        for problem in stats["problems"][:20]:
            self.stdout.write(f"  skipped {problem['path']}: {problem['reason']}")

    def _bar(self, done: int, total: int) -> None:
        width = 30
        filled = width * done // total if total else width
        self.stderr.write(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} files", ending=""
        )
        self.stderr.flush()
