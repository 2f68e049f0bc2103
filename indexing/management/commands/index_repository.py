"""manage.py index_repository PATH [--name N] [--no-semantic]: index in the foreground,
with a progress bar per phase."""

from __future__ import annotations

import logging
import os
import time
import warnings
from contextlib import contextmanager

from django.core.management.base import BaseCommand, CommandError
from rest_framework.exceptions import ValidationError

from indexing import services
from indexing.models import IndexJob, Repository, progress_text, seconds_left

# What the model's libraries log below WARNING while it loads ("Loading SentenceTransformer
# model from ..."): left out while the bar is drawn. Their loggers' levels are left alone
# (torch sets its own on import, and its exit-time reports depend on them).
CHATTY_LIBRARIES = ("sentence_transformers", "transformers", "huggingface_hub", "torch")
BAR_WIDTH = 30


def plain(text: str) -> str:
    return text


class ProgressBar:
    """One line per phase on stderr, redrawn in place: "text [####....] 120/187 files",
    then "embedding [##......] 300/900 chunks, ~40 s left". Never styled (BaseCommand's
    stderr style is the error style). A log record printed meanwhile first ends the bar's
    line, and the bar goes on below it."""

    def __init__(self, out):
        self.out = out
        self.phase = ""
        self.started = 0.0
        self.open = False  # a bar is on the current line, with no newline after it
        self.drawn = 0

    def __call__(self, phase: str, done: int, total: int) -> None:
        now = time.monotonic()
        if phase != self.phase:
            self.end_line()
            self.phase = phase
        if done == 0:
            self.started = now  # as the job's own clock: the phase's work begins at 0
        eta = seconds_left(done, total, now - self.started)
        text = progress_text(phase, done, total, eta)
        if total:
            filled = BAR_WIDTH * min(done, total) // total
            bar = "#" * filled + "." * (BAR_WIDTH - filled)
            text = text.replace(f"{phase} ", f"{phase} [{bar}] ", 1)
        self._draw(text)

    def _draw(self, text: str) -> None:
        padding = " " * max(self.drawn - len(text), 0)  # wipe what a longer line left
        self.out.write(("\r" if self.open else "") + text + padding, style_func=plain, ending="")
        self.out.flush()
        self.open, self.drawn = True, len(text)

    def end_line(self) -> None:
        if self.open:
            self.out.write("", style_func=plain)
            self.out.flush()
            self.open, self.drawn = False, 0

    def filter(self, record: logging.LogRecord) -> bool:
        """A logging filter on every handler: the model libraries' chatter is dropped, and
        the bar's line ends before any other record prints."""
        if record.levelno < logging.WARNING and record.name.partition(".")[0] in CHATTY_LIBRARIES:
            return False
        self.end_line()
        return True


@contextmanager
def bar_beside_logging(bar: ProgressBar):
    """While the bar is drawn: log records and warnings start on a line of their own, and
    the model's libraries keep to warnings."""
    handlers = {
        handler
        for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
        for handler in getattr(logger, "handlers", ())
    }
    for handler in handlers:
        handler.addFilter(bar)
    try:
        with warnings.catch_warnings():  # restores showwarning on the way out
            show = warnings.showwarning

            def showwarning(*args, **kwargs):
                bar.end_line()
                show(*args, **kwargs)

            warnings.showwarning = showwarning
            yield
    finally:
        for handler in handlers:
            handler.removeFilter(bar)
        bar.end_line()


class Command(BaseCommand):
    help = (
        "Index (or re-index) a repository now, in this process, with a progress bar per "
        "phase: text (files walked, read and parsed) and embedding (chunks through the "
        "semantic model, when semantic search is on). Re-indexing is incremental. Prints a "
        "summary that counts every file the walk met."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "path",
            help="The folder to index. It must lie under one of MCP_INDEX_ROOTS (after "
            "symlinks are resolved). A folder indexed before is re-indexed.",
        )
        parser.add_argument(
            "--name",
            default=None,
            help="The repository's name in search results and filters, when it is first "
            "registered (default: the folder's name, made unique). Ignored on a re-index.",
        )
        parser.add_argument(
            "--no-semantic",
            action="store_true",
            help="Skip embedding for this run only: text and symbol search are updated, "
            "semantic search is not. The repository's semantic setting is unchanged (switch "
            "it off for good with PATCH /api/repositories/{id} or the admin); the next run "
            "without this flag embeds what this one left out.",
        )

    def handle(
        self, *args, path: str, name: str | None, no_semantic: bool = False, **options
    ) -> None:
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
        bar = ProgressBar(self.stderr)
        try:
            job = services.job_enqueue(repository=repository, run_in_background=False)
            with bar_beside_logging(bar):
                job = services.job_run(
                    job_id=job.pk, progress=bar, requeue=False, semantic=not no_semantic
                )
        except services.Conflict as exc:
            raise CommandError(str(exc.detail)) from None
        if job.state == IndexJob.State.FAILED:
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
        semantic = stats["semantic"]
        if semantic.get("note"):
            self.stdout.write(f"  semantic: {semantic['note']}")
        elif semantic["chunks"]:
            self.stdout.write(
                f"  semantic: {semantic['chunks']} chunks of {semantic['files']} files "
                f"embedded in {semantic['seconds']:.1f}s"
            )
        for problem in stats["problems"][:20]:
            self.stdout.write(f"  {problem['path']}: {problem['reason']}")
