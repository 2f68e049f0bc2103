"""Repositories on disk and what was indexed from them.

Consistency under crashes comes from generations. A repository's live
`generation` decides what is visible: a file row is visible while
added_in <= generation and (removed_in is null or removed_in > generation).
A job builds generation G+1 beside the live one (new rows added_in=G+1, old
rows marked removed_in=G+1) and flips `generation` in one short transaction
at the end. A worker killed half-way leaves rows nobody sees; the next job
clears them first.
"""

from __future__ import annotations

import math
from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from indexing.fields import EmbeddingField


class Repository(models.Model):
    class State(models.TextChoices):
        NEW = "new", "Not indexed yet"
        READY = "ready", "Indexed"
        FAILED = "failed", "Indexing failed"

    name = models.CharField(max_length=200, unique=True)
    path = models.CharField(max_length=1024, unique=True, help_text="Resolved absolute path.")
    state = models.CharField(max_length=10, choices=State.choices, default=State.NEW)
    generation = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    last_indexed_at = models.DateTimeField(null=True, blank=True)
    file_count = models.PositiveIntegerField(default=0)
    byte_count = models.PositiveBigIntegerField(default=0)
    symbol_counts = models.JSONField(default=dict, blank=True, help_text="Symbols per language.")
    last_job = models.ForeignKey(
        "IndexJob", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    semantic_enabled = models.BooleanField(
        "semantic search",
        default=True,
        help_text="Embed this repository's code for semantic search while indexing.",
    )
    # The lease: which job may write, and until when (renewed as it works).
    lease_job = models.BigIntegerField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "repositories"

    def __str__(self) -> str:
        return self.name


def seconds_left(done: int, total: int, spent: float) -> float | None:
    """The time the rest of a phase will take at the rate so far (`done` items in `spent`
    seconds); None until there is a rate."""
    if done <= 0 or spent <= 0 or total <= 0:
        return None
    return max(total - done, 0) * spent / done


def progress_text(phase: str, done: int, total: int, eta: float | None = None) -> str:
    """A phase's progress for people: "embedding 120/900 chunks, ~42 s left"."""
    if not phase:
        return ""
    if not total and not done:
        return f"{phase}: {IndexJob.PHASE_STARTING.get(phase, 'starting')}"
    text = f"{phase} {done}/{total} {IndexJob.PHASE_UNITS.get(phase, '')}".rstrip()
    if eta is not None and done < total:
        text += f", ~{math.ceil(eta)} s left" if eta < 90 else f", ~{round(eta / 60)} min left"
    return text


class IndexJob(models.Model):
    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    class Phase(models.TextChoices):
        """The step a running job is in (a finished one keeps the step it ended in)."""

        NONE = "", "Not started"
        TEXT = "text", "Text index"  # walk, read, parse, write, publish: files
        EMBEDDING = "embedding", "Embeddings"  # semantic chunks through the model: chunks

    PHASE_UNITS = {Phase.TEXT: "files", Phase.EMBEDDING: "chunks"}
    # What a phase does before its total is known (phase_total 0).
    PHASE_STARTING = {
        Phase.TEXT: "looking for files",
        Phase.EMBEDDING: "loading the model and counting chunks",
    }

    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="jobs")
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    # The text phase's progress (kept as it was before there were phases).
    files_total = models.PositiveIntegerField(default=0)
    files_done = models.PositiveIntegerField(default=0)
    phase = models.CharField(max_length=10, choices=Phase.choices, blank=True, default="")
    phase_done = models.PositiveIntegerField(default=0)
    phase_total = models.PositiveIntegerField(default=0, help_text="0 while still counting.")
    phase_started_at = models.DateTimeField(
        null=True, blank=True, help_text="When the phase's total was known and its work began."
    )
    progress_at = models.DateTimeField(
        null=True, blank=True, help_text="When the progress was last written."
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    stats = models.JSONField(default=dict, blank=True)
    task_id = models.CharField(max_length=64, blank=True, help_text="The django-tasks result.")

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["repository", "state"])]

    def __str__(self) -> str:
        return f"job {self.pk} ({self.repository}, {self.state})"

    def duration_seconds(self, now: datetime | None = None) -> float | None:
        """How long it ran, or has been running so far."""
        if self.started_at is None:
            return None
        end = self.finished_at or (now or timezone.now())
        return max((end - self.started_at).total_seconds(), 0.0)

    def eta_seconds(self, now: datetime | None = None) -> int | None:
        """Seconds the current phase still needs, at its rate so far: from the last
        progress written, less the time since. None unless running with a rate."""
        if self.state != self.State.RUNNING or not self.phase_started_at or not self.progress_at:
            return None
        spent = (self.progress_at - self.phase_started_at).total_seconds()
        left = seconds_left(self.phase_done, self.phase_total, spent)
        if left is None:
            return None
        since = ((now or timezone.now()) - self.progress_at).total_seconds()
        return max(math.ceil(left - max(since, 0.0)), 0)

    def progress_text(self, now: datetime | None = None) -> str:
        return progress_text(self.phase, self.phase_done, self.phase_total, self.eta_seconds(now))


class IndexedFile(models.Model):
    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="files")
    path = models.CharField(max_length=1024, help_text="Relative to the repository, with /.")
    language = models.CharField(max_length=40, blank=True)
    size = models.PositiveBigIntegerField()
    mtime_ns = models.BigIntegerField()
    # With the size and mtime, these catch rewrites that keep the mtime (cp -p, rsync -t).
    ctime_ns = models.BigIntegerField(default=0)
    inode = models.BigIntegerField(default=0)
    content_hash = models.CharField(max_length=64)
    line_count = models.PositiveIntegerField(default=0)
    # The embedding model this file's semantic chunks were made with ("" = none yet).
    embedded_with = models.CharField(max_length=64, blank=True, default="")
    added_in = models.PositiveIntegerField()
    removed_in = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["repository", "path"]),
            models.Index(fields=["repository", "added_in"]),
            models.Index(fields=["repository", "removed_in"]),
        ]

    def __str__(self) -> str:
        return self.path


def visible_at(generation: int, prefix: str = "") -> Q:
    """The rows of a generation; `prefix` reaches IndexedFile through a relation."""
    return Q(**{f"{prefix}added_in__lte": generation}) & (
        Q(**{f"{prefix}removed_in__isnull": True}) | Q(**{f"{prefix}removed_in__gt": generation})
    )


def visible_at_sql(file: str, repository: str) -> str:
    """visible_at as SQL, for queries written by hand: `file` and `repository` are the
    aliases of indexing_indexedfile and of its indexing_repository row."""
    return (
        f"{file}.added_in <= {repository}.generation AND "
        f"({file}.removed_in IS NULL OR {file}.removed_in > {repository}.generation)"
    )


class Chunk(models.Model):
    """About 50 lines of a file: the unit text search works on."""

    file = models.ForeignKey(IndexedFile, on_delete=models.CASCADE, related_name="chunks")
    start_line = models.PositiveIntegerField()
    end_line = models.PositiveIntegerField()
    text = models.TextField()

    def __str__(self) -> str:
        return f"{self.file_id}:{self.start_line}-{self.end_line}"


class Symbol(models.Model):
    file = models.ForeignKey(IndexedFile, on_delete=models.CASCADE, related_name="symbols")
    name = models.CharField(max_length=255, db_index=True)
    # The name lower-cased without "_": "get_user" and "getUser" both become "getuser".
    search_name = models.CharField(max_length=255, db_index=True, default="")
    kind = models.CharField(max_length=20)
    start_line = models.PositiveIntegerField()
    end_line = models.PositiveIntegerField()
    signature = models.CharField(max_length=300, blank=True)
    parent = models.CharField(max_length=255, blank=True)

    def __str__(self) -> str:
        return f"{self.kind} {self.name}"


class PluginSetting(models.Model):
    """A language plugin switched on or off, for every process."""

    name = models.CharField(max_length=40, primary_key=True)
    enabled = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name} ({'on' if self.enabled else 'off'})"


class SemanticChunk(models.Model):
    """A function, a class, or a window of lines of a file, with its embedding."""

    file = models.ForeignKey(IndexedFile, on_delete=models.CASCADE, related_name="semantic_chunks")
    start_line = models.PositiveIntegerField()
    end_line = models.PositiveIntegerField()
    symbol = models.CharField(max_length=255, blank=True)
    kind = models.CharField(max_length=20, blank=True)
    text = models.TextField(help_text="What was embedded.")
    # Unit-length float32 vector, little-endian: numpy.frombuffer reads it without a copy.
    vector = EmbeddingField()

    class Meta:
        indexes = [models.Index(fields=["file", "start_line"])]

    def __str__(self) -> str:
        return f"{self.file.path}:{self.start_line}-{self.end_line}"
